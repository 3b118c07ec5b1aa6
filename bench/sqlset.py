"""A small private text-to-SQL task (a bike-rental database, English and Chinese questions) for the iteration
loop (bench/iterate.py and the tests): generated questions with reference SQL, the database, and an
execution-accuracy scorer (``bench.sqlset:execution_match``, usable as an app's evaluation.scorer).
Templates x seeded entities; train and held-out questions use different entities."""

from __future__ import annotations

import random
import re
import sqlite3

NAMES_EN = ["Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
            "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara"]
NAMES_ZH = ["李雷", "韩梅梅", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄磊", "周婷", "吴昊", "徐丽"]
CITIES = ["Leeds", "York", "Bath", "Derby", "Hull", "Ely"]
BIKES = ["city", "mountain", "cargo", "tandem", "electric"]
DAYS = [f"2026-06-{d:02d}" for d in range(1, 15)]

SCHEMA = ("riders(id INTEGER, name TEXT, city TEXT); "
          "rentals(id INTEGER, rider_id INTEGER, bike TEXT, hours INTEGER, day TEXT)")
PROMPT = {
    "role": "You write SQLite queries for a bike-rental database.",
    "task": "Answer the question with one SQL query and nothing else.",
    "requirements": f"Tables: {SCHEMA}. rentals.rider_id refers to riders.id.",
}

J = "SELECT {agg} FROM rentals JOIN riders ON rentals.rider_id = riders.id WHERE riders.name = '{name}'"
# (English, Chinese, SQL); slots: name, city, bike, day, n
TEMPLATES = [
    ("How many rentals did {name} make?", "{name}一共租了几次车？", J.replace("{agg}", "COUNT(*)")),
    ("How many hours did {name} ride in total?", "{name}总共骑了多少小时？", J.replace("{agg}", "SUM(hours)")),
    ("Which city does {name} live in?", "{name}住在哪个城市？", "SELECT city FROM riders WHERE name = '{name}'"),
    ("Which riders live in {city}?", "哪些骑手住在{city}？", "SELECT name FROM riders WHERE city = '{city}'"),
    ("How many riders live in {city}?", "{city}有多少骑手？", "SELECT COUNT(*) FROM riders WHERE city = '{city}'"),
    ("Which bikes were rented on {day}?", "{day}租出了哪些车？", "SELECT bike FROM rentals WHERE day = '{day}'"),
    ("What is the longest {bike} bike rental in hours?", "{bike}车最长的一次租了几小时？",
     "SELECT MAX(hours) FROM rentals WHERE bike = '{bike}'"),
    ("How many rentals lasted more than {n} hours?", "有多少次租车超过{n}小时？",
     "SELECT COUNT(*) FROM rentals WHERE hours > {n}"),
]


def database() -> sqlite3.Connection:
    """The rental database (in memory, the same every time)."""
    rng = random.Random(11)
    con = sqlite3.connect(":memory:", check_same_thread=False)
    con.execute("CREATE TABLE riders (id INTEGER, name TEXT, city TEXT)")
    con.execute("CREATE TABLE rentals (id INTEGER, rider_id INTEGER, bike TEXT, hours INTEGER, day TEXT)")
    names = NAMES_EN + NAMES_ZH
    con.executemany("INSERT INTO riders VALUES (?, ?, ?)", [(i + 1, n, rng.choice(CITIES)) for i, n in enumerate(names)])
    con.executemany("INSERT INTO rentals VALUES (?, ?, ?, ?, ?)",
                    [(i + 1, rng.randint(1, len(names)), rng.choice(BIKES), rng.randint(1, 9), rng.choice(DAYS))
                     for i in range(160)])
    return con


def questions(n: int, split: str = "train", seed: int = 3) -> list[dict]:
    """``n`` rows ``{"q", "reference", "lang"}``; ``split`` "train" or "test" draws from disjoint entities
    (every other name, city, bike, day and threshold), so held-out questions are new to a tuned model."""
    rng = random.Random(f"{seed}-{split}")
    part = 0 if split == "train" else 1

    def pool(values):
        return values[part::2]

    rows, seen, i = [], set(), 0
    while len(rows) < n and i < 50 * n:  # distinct questions (a template with few entities repeats less often)
        en, zh, sql = TEMPLATES[i % len(TEMPLATES)]
        lang = "zh" if (i // len(TEMPLATES)) % 2 else "en"
        i += 1
        slots = {"name": rng.choice(pool(NAMES_ZH if lang == "zh" else NAMES_EN)), "city": rng.choice(pool(CITIES)),
                 "bike": rng.choice(pool(BIKES)), "day": rng.choice(pool(DAYS)), "n": rng.choice(pool([2, 3, 4, 5, 6, 7]))}
        q = (zh if lang == "zh" else en).format(**slots)
        if q not in seen:
            seen.add(q)
            rows.append({"q": q, "reference": sql.format(**slots), "lang": lang})
    return rows


_DB = None


def _run(sql: str):
    global _DB
    if _DB is None:
        _DB = database()
    return sorted(map(repr, _DB.execute(sql).fetchall()))


def extract_sql(text: str) -> str:
    """The query in an answer: inside a code fence if there is one, from its first SELECT, up to a semicolon."""
    fence = re.search(r"```(?:sql)?\s*(.*?)```", text, re.S | re.I)
    body = fence.group(1) if fence else text
    start = re.search(r"\bSELECT\b", body, re.I)
    return body[start.start():].split(";")[0].strip() if start else body.strip()


def execution_match(prediction: str, reference: str | None) -> bool:
    """The predicted query returns the same rows as the reference query (order ignored); errors are wrong."""
    if reference is None:
        return False
    try:
        return _run(extract_sql(prediction)) == _run(reference)
    except sqlite3.Error:
        return False
