"""A generated customer-service tool set for structured-output tests and bench/structured.py: order lookup,
unit conversion, calculator, policy search, create return. Questions in English and Chinese, each with the
call that answers it; ``literal`` names the arguments copied verbatim from the question (ids, numbers).
"""

from __future__ import annotations

import json
import random

TOOLS = [
    {"type": "function", "function": {
        "name": "lookup_order", "description": "Look up an order's status by its id (two letters, six digits).",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{6}$"}},
                       "required": ["order_id"]}}},
    {"type": "function", "function": {
        "name": "convert_units", "description": "Convert a value from one unit to another.",
        "parameters": {"type": "object", "properties": {
            "value": {"type": "number"},
            "from_unit": {"type": "string", "enum": ["km", "mi", "kg", "lb", "celsius", "fahrenheit"]},
            "to_unit": {"type": "string", "enum": ["km", "mi", "kg", "lb", "celsius", "fahrenheit"]}},
            "required": ["value", "from_unit", "to_unit"]}}},
    {"type": "function", "function": {
        "name": "calculate", "description": "Evaluate an arithmetic expression.",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}},
    {"type": "function", "function": {
        "name": "search_policy", "description": "Search the store's policies (shipping, returns, warranty, ...).",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "create_return", "description": "Open a return for an order.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{6}$"},
                                                        "reason": {"type": "string"}},
                       "required": ["order_id", "reason"]}}},
]
NAMES = [t["function"]["name"] for t in TOOLS]
_UNITS = [("km", "mi", "kilometers", "miles", "公里", "英里"), ("mi", "km", "miles", "kilometers", "英里", "公里"),
          ("kg", "lb", "kilograms", "pounds", "千克", "磅"), ("lb", "kg", "pounds", "kilograms", "磅", "千克"),
          ("celsius", "fahrenheit", "degrees Celsius", "Fahrenheit", "摄氏度", "华氏度")]
_TOPICS = [("shipping", "运费"), ("returns", "退货"), ("warranty", "保修"), ("refunds", "退款"), ("exchanges", "换货")]
_REASONS = [("it arrived broken", "收到时已损坏"), ("it is the wrong size", "尺码不对"), ("I changed my mind", "不想要了"),
            ("it stopped working", "用了两天就坏了")]


def _order_id(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2)) + f"{rng.randrange(10**6):06d}"


def question(rng: random.Random) -> dict:
    """One question: {"question", "lang", "name", "arguments", "literal": [argument names copied verbatim]}."""
    tool, zh = rng.choice(NAMES), rng.random() < 0.5
    if tool == "lookup_order":
        oid = _order_id(rng)
        q = rng.choice(["我的订单{}到哪里了？", "帮我查一下订单{}的物流状态。"] if zh else
                       ["Where is my order {}?", "Can you check the status of order {}?", "Has order {} shipped yet?"])
        return _item(q.format(oid), zh, tool, {"order_id": oid}, ["order_id"])
    if tool == "convert_units":
        a, b, en_a, en_b, zh_a, zh_b = rng.choice(_UNITS)
        value = rng.choice([rng.randrange(2, 500), round(rng.uniform(1, 100), 1)])
        q = (rng.choice(["{v}{a}等于多少{b}？", "把{v}{a}换算成{b}。"]).format(v=value, a=zh_a, b=zh_b) if zh else
             rng.choice(["How many {b} is {v} {a}?", "Convert {v} {a} to {b}."]).format(v=value, a=en_a, b=en_b))
        return _item(q, zh, tool, {"value": value, "from_unit": a, "to_unit": b}, ["value"])
    if tool == "calculate":
        x, y, op = rng.randrange(12, 999), rng.randrange(2, 99), rng.choice(["+", "-", "*"])
        word = {"+": ("plus", "加"), "-": ("minus", "减"), "*": ("times", "乘以")}[op]
        q = (f"请计算{x}{word[1]}{y}等于多少。" if zh else
             rng.choice([f"What is {x} {word[0]} {y}?", f"Calculate {x} {op} {y}."]))
        return _item(q, zh, tool, {"expression": f"{x} {op} {y}"}, ["expression"])
    if tool == "search_policy":
        en, cn = rng.choice(_TOPICS)
        q = rng.choice(["你们的{}政策是怎样的？", "关于{}有什么规定？"]).format(cn) if zh else \
            rng.choice(["What is your policy on {}?", "Tell me about your {} policy."]).format(en)
        return _item(q, zh, tool, {"query": cn if zh else en}, [])
    oid, (en, cn) = _order_id(rng), rng.choice(_REASONS)
    q = f"我要退货，订单号{oid}，原因是{cn}。" if zh else \
        rng.choice([f"I want to return order {oid} because {en}.", f"Please start a return for {oid}: {en}."])
    return _item(q, zh, tool, {"order_id": oid, "reason": cn if zh else en}, ["order_id"])


def _item(q: str, zh: bool, name: str, arguments: dict, literal: list[str]) -> dict:
    return {"question": q, "lang": "zh" if zh else "en", "name": name, "arguments": arguments, "literal": literal}


def questions(n: int, seed: int = 0) -> list[dict]:
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < n:
        item = question(rng)
        if item["question"] not in seen:
            seen.add(item["question"])
            out.append(item)
    return out


def literal_right(item: dict, arguments: dict) -> bool:
    """The arguments copied from the question came out right (numbers: equal; expressions: same numbers)."""
    for key in item["literal"]:
        want, got = item["arguments"][key], arguments.get(key)
        if key == "expression":
            if not isinstance(got, str) or sorted(_numbers(got)) != sorted(_numbers(want)):
                return False
        elif isinstance(want, (int, float)) and not isinstance(want, bool):
            if not isinstance(got, (int, float)) or abs(got - want) > 1e-9:
                return False
        elif got != want:
            return False
    return True


def _numbers(text: str) -> list[str]:
    import re

    return re.findall(r"\d+(?:\.\d+)?", text)


def training_row(item: dict, rng: random.Random, result: bool = True) -> dict:
    """An OpenAI chat row with tools: the question, the assistant's call, and (``result``) the tool's
    answer and a final reply, so the model learns both to call and to use the result."""
    call_id = f"call_{rng.randrange(16**8):08x}"
    messages = [{"role": "user", "content": item["question"]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": call_id, "type": "function",
                     "function": {"name": item["name"], "arguments": json.dumps(item["arguments"], ensure_ascii=False)}}]}]
    if result:
        answer = {"lookup_order": "shipped", "convert_units": "done", "calculate": "ok", "search_policy": "30 days",
                  "create_return": "return opened"}[item["name"]]
        messages += [{"role": "tool", "tool_call_id": call_id, "content": json.dumps({"result": answer})},
                     {"role": "assistant", "content": ("结果：" if item["lang"] == "zh" else "Result: ") + answer}]
    return {"tools": TOOLS, "messages": messages}
