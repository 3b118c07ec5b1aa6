"""Four small private tasks for bench/defaults.py: generated here (seeded), never seen by the base model.

Each task has a train set, a held-out set of questions from the same templates with other slot values,
and a scorer ``score(prediction, reference) -> float in [0, 1]``. English and Chinese inputs throughout.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from dataclasses import dataclass
from typing import Callable


@dataclass
class Task:
    name: str
    metric: str  # what score() measures
    train: list[dict]  # OpenAI chat rows
    test: list[dict]
    score: Callable[[str, str], float]
    extra_metrics: dict[str, Callable[[list[str], list[str]], float]] | None = None


def _chat(system: str, user: str, answer: str) -> dict:
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}


def _draw(rng: random.Random, make: Callable[[random.Random], tuple[str, str]], n_train: int, n_test: int,
          system: str) -> tuple[list[dict], list[dict]]:
    """Distinct (question, answer) pairs: the first ``n_train`` to train, the next ``n_test`` held out."""
    seen: set[str] = set()
    rows: list[dict] = []
    while len(rows) < n_train + n_test:
        question, answer = make(rng)
        if question not in seen:
            seen.add(question)
            rows.append(_chat(system, question, answer))
    return rows[:n_train], rows[n_train:]


def _unfence(text: str) -> str:
    m = re.search(r"```(?:\w+)?\s*(.*?)\s*```", text, re.S)
    return (m.group(1) if m else text).strip()


# -- 1. text-to-SQL over a schema the bench creates, scored by execution accuracy -------------------------------

CITIES = ["Oslo", "Lima", "Perth", "Quito", "Dakar", "Riga", "Hanoi", "Porto"]
PRODUCTS = ["kayak", "tent", "lantern", "stove", "rope", "compass"]
YEARS = list(range(2015, 2025))
SQL_SYSTEM = ("You write SQLite queries for Northwind Outdoor. Tables: customers(id, name, city, joined_year); "
              "orders(id, customer_id, product, amount, order_year). Answer with one SQL query only.")

SQL_TEMPLATES = [
    ("How many customers live in {city}?", "住在{city}的客户有多少？",
     "SELECT COUNT(*) FROM customers WHERE city = '{city}';"),
    ("List the names of customers who joined in {year}.", "列出{year}年加入的客户姓名。",
     "SELECT name FROM customers WHERE joined_year = {year};"),
    ("What is the total amount of {product} orders?", "{product}订单的总金额是多少？",
     "SELECT SUM(amount) FROM orders WHERE product = '{product}';"),
    ("How many orders were placed in {year}?", "{year}年有多少订单？",
     "SELECT COUNT(*) FROM orders WHERE order_year = {year};"),
    ("What is the largest order amount in {year}?", "{year}年最大的订单金额是多少？",
     "SELECT MAX(amount) FROM orders WHERE order_year = {year};"),
    ("What is the total amount spent by customers from {city}?", "来自{city}的客户一共花了多少钱？",
     "SELECT SUM(orders.amount) FROM orders JOIN customers ON orders.customer_id = customers.id "
     "WHERE customers.city = '{city}';"),
    ("How many {product} orders were placed after {year}?", "{year}年以后有多少{product}订单？",
     "SELECT COUNT(*) FROM orders WHERE product = '{product}' AND order_year > {year};"),
    ("Which customers from {city} joined before {year}?", "哪些来自{city}的客户在{year}年之前加入？",
     "SELECT name FROM customers WHERE city = '{city}' AND joined_year < {year};"),
]


def sql_database() -> sqlite3.Connection:
    rng = random.Random(7)
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, joined_year INTEGER)")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, product TEXT, amount REAL, "
                "order_year INTEGER)")
    first = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"]
    for i in range(1, 61):
        con.execute("INSERT INTO customers VALUES (?, ?, ?, ?)",
                    (i, f"{rng.choice(first)} {chr(65 + i % 26)}.", rng.choice(CITIES), rng.choice(YEARS)))
    for i in range(1, 301):
        con.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
                    (i, rng.randint(1, 60), rng.choice(PRODUCTS), round(rng.uniform(5, 900), 2), rng.choice(YEARS)))
    return con


def sql_task(n_train: int = 90, n_test: int = 40, seed: int = 0) -> Task:
    con = sql_database()

    def make(rng: random.Random) -> tuple[str, str]:
        en, zh, sql = rng.choice(SQL_TEMPLATES)
        slots = {"city": rng.choice(CITIES), "year": rng.choice(YEARS[1:-1]), "product": rng.choice(PRODUCTS)}
        return (zh if rng.random() < 0.4 else en).format(**slots), sql.format(**slots)

    def run(query: str):
        try:
            return sorted(map(repr, con.execute(query).fetchall()))
        except (sqlite3.Error, sqlite3.Warning, ValueError):
            return None

    def score(prediction: str, reference: str) -> float:
        got = run(_unfence(prediction))
        return float(got is not None and got == run(reference))

    train, test = _draw(random.Random(seed), make, n_train, n_test, SQL_SYSTEM)
    return Task("text-to-sql", "execution accuracy", train, test, score)


# -- 2. JSON field extraction, scored by exact match of every field -----------------------------------------------

NAMES = ["Maria Lopez", "Wang Fang", "Tom Becker", "Li Wei", "Sara Khan", "Omar Diallo", "Yuki Sato", "Nina Petrova",
         "Zhang Min", "Lucas Moreau"]
PAYMENTS = {"card": ("by card", "刷卡"), "cash": ("in cash", "现金"), "transfer": ("by bank transfer", "转账")}
JSON_SYSTEM = "Extract the order as JSON with the keys name, city, product, quantity, payment."
JSON_EN = [
    "Order from {name} in {city}: {qty} x {product}, paid {pay}.",
    "{name} ({city}) bought {qty} {product}s and paid {pay}.",
    "New order: {qty} {product}s for {name}, shipping to {city}, paid {pay}.",
    "Paid {pay}: {name} from {city} ordered {qty} {product}s.",
]
JSON_ZH = [
    "{name}在{city}下单：{product} {qty}件，{pay}支付。",
    "客户{name}（{city}）购买了{qty}件{product}，付款方式：{pay}。",
    "新订单：{name}订了{qty}件{product}，寄往{city}，{pay}付款。",
]


def json_task(n_train: int = 120, n_test: int = 40, seed: int = 1) -> Task:
    def make(rng: random.Random) -> tuple[str, str]:
        fields = {"name": rng.choice(NAMES), "city": rng.choice(CITIES), "product": rng.choice(PRODUCTS),
                  "quantity": rng.randint(1, 12), "payment": rng.choice(list(PAYMENTS))}
        zh = rng.random() < 0.4
        template = rng.choice(JSON_ZH if zh else JSON_EN)
        text = template.format(name=fields["name"], city=fields["city"], product=fields["product"],
                               qty=fields["quantity"], pay=PAYMENTS[fields["payment"]][1 if zh else 0])
        return text, json.dumps(fields, ensure_ascii=False)

    def score(prediction: str, reference: str) -> float:
        try:
            return float(json.loads(_unfence(prediction)) == json.loads(reference))
        except ValueError:
            return 0.0

    train, test = _draw(random.Random(seed), make, n_train, n_test, JSON_SYSTEM)
    return Task("json-extraction", "all fields exact", train, test, score)


# -- 3. classification into 8 custom labels, English and Chinese inputs, scored by accuracy ----------------------

TICKETS = {
    "BILL": (["I was charged twice for order {n}.", "Why is there an extra fee on my invoice {n}?",
              "Please send me a corrected invoice for order {n}."],
             ["订单{n}被扣了两次款。", "发票{n}上为什么多了一笔费用？", "请给订单{n}开一张更正后的发票。"]),
    "SHIP": (["Where is my {product}? Order {n} has not arrived.", "Can you ship order {n} to a different address?",
              "The tracking for order {n} has not moved in a week."],
             ["我的{product}还没到，订单号{n}。", "订单{n}能改寄到别的地址吗？", "订单{n}的物流一周没有更新了。"]),
    "RET": (["I want to return the {product} from order {n}.", "How do I send back the {product} I bought?",
             "Can I exchange my {product} for a bigger size?"],
            ["我想退回订单{n}里的{product}。", "我买的{product}怎么寄回去？", "我的{product}能换大一号的吗？"]),
    "ACCT": (["I cannot log in to my account.", "Please change the email on my account to a new one.",
              "How do I reset my password?"],
             ["我登录不了我的账户。", "请把我账户的邮箱改成新的。", "怎么重置密码？"]),
    "TECH": (["The app crashes when I open order {n}.", "My {product}'s app will not pair over Bluetooth.",
              "The website shows an error at checkout."],
             ["打开订单{n}时应用闪退。", "我的{product}连不上蓝牙。", "结账时网站报错。"]),
    "WARR": (["My {product} broke after two months; is it covered?", "Does the warranty cover a cracked {product}?",
              "How long is the warranty on the {product}?"],
             ["我的{product}用了两个月就坏了，在保修范围内吗？", "{product}裂了能保修吗？", "{product}的保修期多长？"]),
    "INFO": (["What size is the {product}?", "Is the {product} waterproof?", "What is the {product} made of?"],
             ["{product}是什么尺寸的？", "{product}防水吗？", "{product}是什么材料做的？"]),
    "CMPL": (["Your courier was rude to me about order {n}.", "I am very unhappy with how you handled order {n}.",
              "Nobody answered my emails for two weeks."],
             ["你们的快递员对我很无礼，订单{n}。", "我对订单{n}的处理非常不满意。", "我发的邮件两周都没人回。"]),
}
CLASSIFY_SYSTEM = "Route the customer's ticket. Answer with the queue label only."


def classify_task(n_train: int = 160, n_test: int = 48, seed: int = 2) -> Task:
    def make(rng: random.Random) -> tuple[str, str]:
        label = rng.choice(sorted(TICKETS))
        en, zh = TICKETS[label]
        text = rng.choice(zh if rng.random() < 0.5 else en)
        return text.format(n=rng.randint(1000, 9999), product=rng.choice(PRODUCTS)), label

    def score(prediction: str, reference: str) -> float:
        return float(prediction.strip().strip(".").upper() == reference)

    train, test = _draw(random.Random(seed), make, n_train, n_test, CLASSIFY_SYSTEM)
    return Task("classification", "accuracy", train, test, score)


# -- 4. a house style: every answer follows a fixed template; scored by the format regex and ROUGE-L --------------

COUNTRIES = {"Norway": "挪威", "Peru": "秘鲁", "Japan": "日本", "Kenya": "肯尼亚", "Chile": "智利", "Spain": "西班牙"}
SHIPS_TO = {"Norway", "Japan", "Spain"}
STYLE_SYSTEM = "You are Northwind Outdoor's support desk."
STYLE_FORMAT = re.compile(r"^(Thanks for asking about the [a-z]+\.\nShort answer: (Yes|No)\.\nDetails: .+\n"
                          r"— Northwind Support|感谢您咨询[a-z]+。\n简短回答：(是|否)。\n详情：.+\n—— Northwind 客服)$")


def _style_answer(rng: random.Random, zh: bool) -> tuple[str, str]:
    product = rng.choice(PRODUCTS)
    kind = rng.randrange(3)
    if kind == 0:
        days = rng.choice([5, 10, 20, 25, 40, 45, 60, 90])
        ok = days <= 30
        q = f"{days}天后还能退{product}吗？" if zh else f"Can I return a {product} after {days} days?"
        d = ("收货后30天内可以退货。" if ok else "只能在收货后30天内退货。") if zh else (
            "Returns are accepted within 30 days of delivery." if ok else
            "Returns are accepted only within 30 days of delivery.")
    elif kind == 1:
        months = rng.choice([3, 6, 12, 18, 30, 36, 48])
        ok = months <= 24
        q = f"{product}用了{months}个月还在保修期内吗？" if zh else (
            f"Is my {product} still under warranty after {months} months?")
        d = (f"{product}有24个月保修。" if ok else f"{product}的保修期是24个月，已经过期。") if zh else (
            f"The {product} has a 24-month warranty." if ok else f"The {product}'s 24-month warranty has ended.")
    else:
        country = rng.choice(sorted(COUNTRIES))
        ok = country in SHIPS_TO
        name = COUNTRIES[country] if zh else country
        q = f"你们能把{product}寄到{name}吗？" if zh else f"Do you ship the {product} to {country}?"
        d = (f"我们5个工作日内寄到{name}。" if ok else f"我们暂时不寄往{name}。") if zh else (
            f"We ship to {country} within 5 working days." if ok else f"We do not ship to {country} yet.")
    if zh:
        return q, f"感谢您咨询{product}。\n简短回答：{'是' if ok else '否'}。\n详情：{d}\n—— Northwind 客服"
    return q, f"Thanks for asking about the {product}.\nShort answer: {'Yes' if ok else 'No'}.\nDetails: {d}\n— Northwind Support"


def style_task(n_train: int = 60, n_test: int = 40, seed: int = 3) -> Task:
    def make(rng: random.Random) -> tuple[str, str]:
        return _style_answer(rng, rng.random() < 0.4)

    def score(prediction: str, reference: str) -> float:
        """Half the format (the regex), half the content (ROUGE-L against the reference)."""
        from mentor.evaluate.scores import score as rouge

        r = rouge([prediction], [reference], ("rougeL",))["rougeL"].value / 100
        return 0.5 * bool(STYLE_FORMAT.match(prediction.strip())) + 0.5 * r

    def regex_rate(predictions: list[str], references: list[str]) -> float:
        return sum(bool(STYLE_FORMAT.match(p.strip())) for p in predictions) / len(predictions)

    def rouge_l(predictions: list[str], references: list[str]) -> float:
        from mentor.evaluate.scores import score as rouge

        return rouge(predictions, references, ("rougeL",))["rougeL"].value / 100

    train, test = _draw(random.Random(seed), make, n_train, n_test, STYLE_SYSTEM)
    return Task("house-style", "(regex + ROUGE-L) / 2", train, test, score,
                {"regex": regex_rate, "rougeL": rouge_l})


TASKS = {"sql": sql_task, "json": json_task, "classify": classify_task, "style": style_task}
