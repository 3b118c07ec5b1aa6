"""The built-in flows. Each takes the :class:`~mentor.engine.app.Turn` (the message, the app, the trace) and
yields the answer's text pieces; what it did (citations, tool calls) goes into ``turn.trace``.

- ``chat``: the app's prompt plus the conversation.
- ``rag``: answers from a knowledge base with citations, or says it does not know (``mentor ask``).
- ``calculator``: the model writes one arithmetic expression, constrained to a grammar whose numbers are the
  message's own (and unit constants); a safe evaluator computes it; the answer states the result.
- ``translate``: source and target languages from the message; the model translates.
- ``agent``: function calling step by step over the app's tools (ReAct), up to ``agent.max_steps``.
- ``module:function``: the user's function, called with the message and the turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from mentor.data.conversation import Conversation, Message
from mentor.engine.config import RagFlow
from mentor.engine.prompt import render, system_text
from mentor.engine.tools import CalcError, calculate, number_text


def run(flow, turn) -> Iterator[str]:
    """Dispatch to the flow named by the route (or the app's ``flow``)."""
    if isinstance(flow, RagFlow):
        return rag(turn, flow)
    if flow in BUILT_IN:
        return BUILT_IN[flow](turn)
    return custom(turn, flow)


def chat(turn) -> Iterator[str]:
    yield from turn.generate(render(turn.app.config.prompt, turn.messages, turn.lang))


def rag(turn, flow: RagFlow) -> Iterator[str]:
    from mentor.rag.answer import ask

    role = system_text(turn.app.config.prompt, turn.lang)

    def streamer(conversation: Conversation, _options) -> Iterator[str]:
        messages = list(conversation.messages)
        if role and messages and messages[0].role == "system":  # the app's role, then the sources' rules
            messages[0] = Message("system", f"{role}\n\n{messages[0].content}")
        return turn.generate(Conversation(tuple(messages)))

    answer, pieces = ask(turn.app.knowledge_base(flow.rag), None, turn.text, k=flow.k, streamer=streamer)
    yield from pieces
    turn.trace.citations = [{**s, "cited": s["n"] in answer.cited} for s in answer.sources()]


# -- calculator ----------------------------------------------------------------------------------
CALC_SYSTEM = ("Write one arithmetic expression that computes the answer to the question, using the numbers in "
               "it, + - * / and parentheses. A discount of 25% on x is x * (1 - 25 / 100).")
CALC_SHOTS = (
    ("3 helmets at £45 each with 10% off, what is the total?", "3 * 45 * (1 - 10 / 100)"),
    ("一共 1350 英镑，分 9 期，每期多少？", "1350 / 9"),
    ("How many km is 30 miles?", "30 * 1.609344"),
    ("两副手套每副 18 英镑，再加 4.99 运费，一共多少钱？", "2 * 18 + 4.99"),
    ("一辆 1200 英镑的车打八五折是多少？", "1200 * 0.85"),
)
# Numbers an expression may use beyond the message's own, offered only when the message has the cue (a
# constant the question does not need is one a small model reaches for: "* 0.621371" in a price sum).
CONSTANTS = (
    (r"%|percent|折|off\b|discount|优惠|减", ("100", "1")),
    (r"miles?\b|英里", ("1.609344",)),
    (r"\bin miles|多少英里|to miles", ("0.621371",)),
    (r"inch|英寸", ("2.54",)),
    (r"\b(?:lbs?|pounds? in weight)\b|磅(?!.*英镑)", ("0.453592",)),
    (r"\bkg\b|kilo|公斤|千克", ("2.20462",)),
    (r"hours?|小时", ("60",)),
    (r"\bweeks?|周|星期", ("7",)),
    (r"months?|月", ("12",)),
)
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def numbers(text: str) -> list[str]:
    """The numbers a message states, as an expression would write them: "1,350" -> 1350, "八五折" -> 0.85,
    "两" -> 2."""
    found = [n.replace(",", "") for n in re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text)]
    for digits in re.findall(r"([一二三四五六七八九])([一二三四五六七八九])?折", text):  # 八五折 = 85% of the price
        found.append("0." + "".join(str(_CN_DIGITS[d]) for d in digits if d))
    found += [str(_CN_DIGITS[c]) for c in re.findall(r"([一二两三四五六七八九十])(?=[个副双件辆把台条只位次天周月年期])", text)]
    return list(dict.fromkeys(found))


def expression_grammar(values: list[str]):
    """Arithmetic over exactly ``values`` (a small model then cannot invent or mistype a number)."""
    from mentor.inference.grammar import lark

    literals = " | ".join(f'"{v}"' for v in sorted(set(values), key=lambda v: (-len(v), v)))
    return lark('start: expr\nexpr: term ((" + " | " - ") term)*\nterm: factor ((" * " | " / ") factor)*\n'
                f'factor: NUMBER | "(" expr ")"\nNUMBER: {literals}\n', "expression")


def calculator_prompt(text: str) -> Conversation:
    """What the model reads to write the expression for ``text`` (also the prompt of training rows for it)."""
    shots = []
    for q, a in CALC_SHOTS:
        shots += [Message("user", q), Message("assistant", a)]
    return Conversation((Message("system", CALC_SYSTEM), *shots, Message("user", text)))


def calculator(turn) -> Iterator[str]:
    conversation = calculator_prompt(turn.text)
    values = numbers(turn.text) + [c for cue, values in CONSTANTS if re.search(cue, turn.text, re.I) for c in values]
    expression = turn.complete(conversation, constraint=expression_grammar(values or ["0"]),
                               max_new_tokens=40, temperature=0.0)
    call = {"name": "calculator", "arguments": {"expression": expression}}
    try:
        result = number_text(calculate(expression))
    except CalcError as e:
        call["error"] = str(e)
        turn.trace.tool_calls.append(call)
        yield ("我没能算出这个结果。" if turn.lang == "zh" else "I could not compute that.")
        return
    call["result"] = result
    turn.trace.tool_calls.append(call)
    yield f"{expression} = {result}，答案是 {result}。" if turn.lang == "zh" else f"{expression} = {result}. The answer is {result}."


# -- translate -----------------------------------------------------------------------------------
LANGUAGES = {"zh": ("Chinese", "中文"), "en": ("English", "英文"), "fr": ("French", "法语"), "de": ("German", "德语"),
             "ja": ("Japanese", "日语"), "es": ("Spanish", "西班牙语")}
_TARGET_EN = re.compile(r"\b(?:into|to|in|the)\s+(chinese|mandarin|english|french|german|japanese|spanish)\b", re.I)
_TARGET_ZH = re.compile(r"(中文|汉语|英文|英语|法语|德语|日语|西班牙语)")
_NAMES = {"chinese": "zh", "mandarin": "zh", "english": "en", "french": "fr", "german": "de", "japanese": "ja",
          "spanish": "es", "中文": "zh", "汉语": "zh", "英文": "en", "英语": "en", "法语": "fr", "德语": "de",
          "日语": "ja", "西班牙语": "es"}
_QUOTED = re.compile(r"[\"“「『]([^\"”」』]+)[\"”」』]|(?<!\w)'([^']+)'(?!\w)")


def languages(text: str) -> tuple[str, str, str]:
    """(the text to translate, its language, the target language) as the message says them."""
    from mentor.evaluate.text import has_cjk

    quoted = _QUOTED.search(text)
    if quoted:
        source = quoted.group(1) or quoted.group(2)
    elif re.search(r"[:：]", text):
        source = re.split(r"[:：]", text, maxsplit=1)[1].strip()
    elif has_cjk(text) and re.search(r"[A-Za-z]{3,}", text) and _TARGET_EN.search(text):  # "What does 车把 mean in English?"
        source = "".join(re.findall(r"[\u3400-\u9fff]+", text))
    else:
        source = text
    cue = _TARGET_EN.search(text) or _TARGET_ZH.search(text)
    target = _NAMES[cue.group(1).lower()] if cue else None
    source_lang = "zh" if has_cjk(source) else "en"
    if target is None or target == source_lang:  # "这句英文什么意思：..." names the source: translate the other way
        target = "en" if source_lang == "zh" else "zh"
    return source or text, source_lang, target


def translate(turn) -> Iterator[str]:
    source, source_lang, target = languages(turn.text)
    # the instruction in the user turn: SmolLM2-135M then answered zh->en in English, with it in the system turn not
    ask = f"Translate this {LANGUAGES[source_lang][0]} text into {LANGUAGES[target][0]}:\n{source}"
    turn.trace.tool_calls.append({"name": "translate", "arguments": {"text": source, "from": source_lang, "to": target}})
    yield from turn.generate(Conversation((Message("user", ask),)))


# -- agent ---------------------------------------------------------------------------------------
def agent(turn) -> Iterator[str]:
    from mentor.data.tools import call_text, parse_calls, with_tools
    from mentor.inference.grammar import tool_calls

    tools = turn.app.tools()
    specs = [t.spec for t in tools.values()]
    messages = list(render(turn.app.config.prompt, turn.messages, turn.lang).messages)
    config = turn.app.config.agent
    for step in range(config.max_steps):
        choice = "required" if step == 0 and config.require_tool else "auto"
        constraint = tool_calls(specs, choice) if specs else None
        reply = turn.complete(with_tools(Conversation(tuple(messages)), specs), constraint=constraint)
        content, calls = parse_calls(reply)
        if not calls:
            yield content or reply
            return
        results = []
        for call in calls:
            record = {"name": call.name, "arguments": json.loads(call.arguments)}
            try:
                record["result"] = tools[call.name](record["arguments"])
            except Exception as e:  # a failing tool ends nothing: the model reads the error and goes on
                record["error"] = f"{type(e).__name__}: {e}"
            turn.trace.tool_calls.append(record)
            results.append(f"<tool_response>\n{record.get('result', 'error: ' + record.get('error', ''))}\n</tool_response>")
        messages += [Message("assistant", "\n".join(call_text(c) for c in calls)), Message("user", "\n".join(results))]
    turn.trace.error = f"the agent used all {config.max_steps} steps without a final answer"
    yield ("抱歉，我没能在限定步骤内完成。" if turn.lang == "zh" else
           "Sorry, I could not finish this within the steps I am allowed.")


def custom(turn, spec: str) -> Iterator[str]:
    from mentor.engine.store import resolve_callable

    result = resolve_callable(spec, "flow")(turn.text, turn)
    if isinstance(result, str):
        yield result
    else:
        yield from result


BUILT_IN = {"chat": chat, "calculator": calculator, "translate": translate, "agent": agent}
