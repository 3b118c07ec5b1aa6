"""Generated multi-step price, discount and unit questions (English and Chinese) with exact answers, for the
calculator flow (bench/engine.py and the tests). Templates x random numbers, seeded."""

from __future__ import annotations

import random

# (English, Chinese, answer from the numbers a, b, c)
TEMPLATES = [
    ("I buy {a} helmets at £{b} each and pay £{c} delivery. What is the total?",
     "买 {a} 个头盔，每个 {b} 英镑，运费 {c} 英镑，一共多少钱？", lambda a, b, c: a * b + c),
    ("A bike costs £{b} and is {c}% off. What is the sale price?",
     "一辆自行车 {b} 英镑，打折优惠 {c}%，现价多少？", lambda a, b, c: b * (1 - c / 100)),
    ("{a} pairs of gloves cost £{b} each, with {c}% off the total. How much do I pay?",
     "{a} 副手套每副 {b} 英镑，总价再减 {c}%，要付多少？", lambda a, b, c: a * b * (1 - c / 100)),
    ("I pay £{b} in {a} equal monthly parts. How much is each part?",
     "{b} 英镑分 {a} 个月等额付清，每月付多少？", lambda a, b, c: b / a),
    ("How many kilometres is {b} miles?",
     "{b} 英里是多少公里？", lambda a, b, c: b * 1.609344),
    ("A wheel is {b} inches across. How many centimetres is that?",
     "车轮直径 {b} 英寸，是多少厘米？", lambda a, b, c: b * 2.54),
    ("I have a £{c} voucher for an order of {a} tyres at £{b} each. What do I pay?",
     "我有一张 {c} 英镑的优惠券，买 {a} 条轮胎每条 {b} 英镑，实付多少？", lambda a, b, c: a * b - c),
    ("If I save £{a} a week, how many weeks until I have £{b}?",
     "每周存 {a} 英镑，多少周能存到 {b} 英镑？", lambda a, b, c: b / a),
]


def questions(n: int = 40, seed: int = 7) -> list[dict]:
    """``n`` rows ``{"q", "answer", "lang"}``, half English and half Chinese, alternating templates."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        en, zh, fn = TEMPLATES[i % len(TEMPLATES)]
        a, b, c = rng.randint(2, 9), rng.choice([12, 18, 24, 36, 45, 60, 90, 120, 240, 480, 899]), rng.choice([5, 10, 15, 20, 25])
        lang = "zh" if (i // len(TEMPLATES)) % 2 else "en"
        rows.append({"q": (zh if lang == "zh" else en).format(a=a, b=b, c=c), "answer": round(fn(a, b, c), 4), "lang": lang})
    return rows


def right(answer_text: str, expected: float) -> bool:
    """The answer states the expected number (to the cent)."""
    import re

    found = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", answer_text.replace(",", ""))]
    return any(abs(x - expected) < 0.006 for x in found)


# Training questions: the same kinds of sums, other wordings (the held-out questions above are never trained on).
TRAIN_TEMPLATES = [
    ("{a} water bottles cost £{b} each and shipping is £{c}. Total to pay?",
     "{a} 个水壶单价 {b} 英镑，另加运费 {c} 英镑，总价是多少？", "{a} * {b} + {c}"),
    ("What's the price of a £{b} jacket after a {c}% discount?",
     "{b} 英镑的夹克优惠 {c}% 之后卖多少钱？", "{b} * (1 - {c} / 100)"),
    ("Buying {a} locks at £{b} apiece with {c}% off everything, how much is it?",
     "买 {a} 把锁，每把 {b} 英镑，全部再打 {c}% 的折扣，要花多少？", "{a} * {b} * (1 - {c} / 100)"),
    ("Spread £{b} evenly over {a} months: what is the monthly amount?",
     "把 {b} 英镑平均分成 {a} 期，每期是多少？", "{b} / {a}"),
    ("Convert {b} miles to kilometres.",
     "把 {b} 英里换算成公里。", "{b} * 1.609344"),
    ("How long is {b} inches in centimetres?",
     "{b} 英寸合多少厘米？", "{b} * 2.54"),
    ("Order total for {a} chains at £{b} each, minus a £{c} coupon?",
     "{a} 根链条每根 {b} 英镑，用掉 {c} 英镑的券后总共付多少？", "{a} * {b} - {c}"),
    ("Putting away £{a} every week, how many weeks to reach £{b}?",
     "每个星期攒 {a} 英镑，要多少个星期才能攒够 {b} 英镑？", "{b} / {a}"),
]


def training_rows(n: int = 160, seed: int = 11) -> list[dict]:
    """Chat rows in the calculator flow's own prompt, answered with the expression (for `mentor train`)."""
    from mentor.engine.flows import calculator_prompt

    rng, rows = random.Random(seed), []
    for i in range(n):
        en, zh, expression = TRAIN_TEMPLATES[i % len(TRAIN_TEMPLATES)]
        a, b, c = rng.randint(2, 12), rng.choice([8, 15, 20, 30, 40, 55, 75, 150, 300, 650, 1200]), rng.choice([5, 10, 12, 15, 30, 40])
        q = (zh if (i // len(TRAIN_TEMPLATES)) % 2 else en).format(a=a, b=b, c=c)
        messages = calculator_prompt(q).to_json()["messages"]
        rows.append({"messages": messages + [{"role": "assistant", "content": expression.format(a=a, b=b, c=c)}]})
    return rows


if __name__ == "__main__":
    import json
    import sys

    for row in training_rows(int(sys.argv[1]) if len(sys.argv) > 1 else 160):
        print(json.dumps(row, ensure_ascii=False))
