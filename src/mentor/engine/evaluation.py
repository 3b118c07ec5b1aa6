"""Prompt evaluation: an app's cases run against one or more prompt versions or models, as a matrix, so a
prompt change is measured before it goes live.

A case file is JSONL, one row a case: ``{"q": message, "reference": text, "contains": [...], "regex": pattern,
"route": expected route}`` (only ``q`` is required). Each column (version x model) is scored with the
evaluation metrics (ROUGE, BLEU, F1... against ``reference``), the checks (every ``contains`` string
present, case-insensitive; ``regex`` found; the expected route taken; ``json_schema`` when a schema is given)
and, with a judge, a 1-10 judge score.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from mentor.data.conversation import Message
from mentor.errors import DataError

CASE_KEYS = {"q", "reference", "contains", "regex", "route"}


@dataclass
class Column:
    label: str  # "v3" or "v3 · model"
    answers: list[str] = field(default_factory=list)
    routes: list[str | None] = field(default_factory=list)
    checks: list[bool | None] = field(default_factory=list)  # None: the case has no check
    metrics: dict[str, float] = field(default_factory=dict)
    judge: float | None = None
    seconds: float = 0.0
    score: float | None = None  # the headline: the app's scorer, else its metric, else the checks passed (%)

    @property
    def passed(self) -> float | None:
        scored = [c for c in self.checks if c is not None]
        return 100.0 * sum(scored) / len(scored) if scored else None

    def to_json(self) -> dict:
        return {"label": self.label, "score": self.score, "passed": self.passed, "metrics": self.metrics, "judge": self.judge,
                "seconds": round(self.seconds, 2), "answers": self.answers, "routes": self.routes, "checks": self.checks}


def read_cases(path: str | Path) -> list[dict]:
    from mentor.files import read_jsonl

    cases = []
    for n, row in read_jsonl(Path(path), "--data"):
        if not isinstance(row.get("q"), str) or not row["q"].strip():
            raise DataError(f"{path}:{n}: q: each case needs the message as a non-empty string.")
        unknown = sorted(set(row) - CASE_KEYS)
        if unknown:
            raise DataError(f"{path}:{n}: {unknown[0]}: unknown key (known: {', '.join(sorted(CASE_KEYS))}).")
        if isinstance(row.get("contains"), str):
            row["contains"] = [row["contains"]]
        if row.get("regex") is not None:
            try:
                re.compile(row["regex"])
            except re.error as e:
                raise DataError(f"{path}:{n}: regex: {e}.") from None
        cases.append(row)
    return cases


def check(case: dict, answer: str, route: str | None, schema: dict | None, section=None) -> bool | None:
    """Every check the case names passes, and the app's own ``evaluation`` checks (None: there are none)."""
    results = []
    if section is not None and (section.regex or section.json_schema is not None):
        results.append(not failed_checks(section, answer))
    if case.get("contains"):
        results.append(all(c.lower() in answer.lower() for c in case["contains"]))
    if case.get("regex"):
        results.append(bool(re.search(case["regex"], answer)))
    if case.get("route"):
        results.append(route == case["route"])
    if schema is not None:
        from mentor.evaluate.scores import score

        results.append(score([answer], [None], ["json_schema"], schema=schema)["json_schema"].value == 100.0)
    return all(results) if results else None


def failed_checks(section, answer: str) -> list[str]:
    """What the app's ``evaluation`` checks (regex, json_schema) find wrong with ``answer`` (empty: passes)."""
    problems = []
    if section.regex and not re.search(section.regex, answer):
        problems.append(f"does not match regex {section.regex!r}")
    if section.json_schema is not None:
        from mentor.evaluate.scores import score

        if score([answer], [None], ["json_schema"], schema=section.json_schema)["json_schema"].value != 100.0:
            problems.append("is not JSON fitting the app's json_schema")
    return problems


def run_matrix(name: str, cases: list[dict], apps, versions: list[int | None] = (None,), models: list[str | None] = (None,),
               metrics: list[str] = ("rougeL", "f1"), schema: dict | None = None, judge=None, progress=None) -> list[Column]:
    """One column per (version, model): every case answered by that variant of the app and scored."""
    from mentor.evaluate.scores import score

    columns = []
    for version in versions:
        for model in models:
            runtime = apps.variant(name, version, model)
            section = runtime.config.evaluation
            column = Column(f"v{runtime.version}" + (f" · {model}" if model else ""))
            start = time.perf_counter()
            for case in cases:
                reply = runtime.respond([Message("user", case["q"])])
                answer = reply.read()
                column.answers.append(answer)
                column.routes.append(reply.trace.route)
                column.checks.append(check(case, answer, reply.trace.route, schema, section))
                if progress:
                    progress()
            column.seconds = time.perf_counter() - start
            references = [c.get("reference") for c in cases]
            if any(r is not None for r in references):
                names = [*metrics, *([section.metric] if section.metric not in (*metrics, "judge") else [])]
                found = score(column.answers, references, names, scorer=section.scorer)
                column.metrics = {k: round(v.value, 2) for k, v in found.items()}
                column.score = column.metrics.get("scorer" if section.scorer else section.metric)
            if column.score is None:
                column.score = column.passed
            if judge is None and section.metric == "judge":  # one judge for every column: the app's stored model
                from mentor.engine import store
                from mentor.evaluate.judge import Judge

                judge = Judge(section.judge or store.get(name, apps.ws, version).config.model)
            asked = judge
            if asked is not None:
                from mentor.evaluate.judge import score_samples

                judged = score_samples(asked, [{"prompt": c["q"], "prediction": a, "reference": c.get("reference")}
                                               for c, a in zip(cases, column.answers)])
                column.judge = judged.get("mean")
                if section.metric == "judge" and not section.scorer and column.judge is not None:
                    column.score = round(10.0 * column.judge, 2)  # 1-10 -> the 0-100 scale of the other scores
            columns.append(column)
    return columns


def html_report(name: str, cases: list[dict], columns: list[Column]) -> str:
    from mentor.evaluate.html import page

    return page(f"App evaluation: {name}", f"{len(cases)} cases x {len(columns)} variants", report_sections(cases, columns))


def report_sections(cases: list[dict], columns: list[Column], title: str = "") -> list[str]:
    """The summary and the side-by-side answers (``title`` prefixes the headings)."""
    from mentor.evaluate.html import cell, esc, num, section, table

    metric_names = sorted({m for c in columns for m in c.metrics})
    summary = [[cell(c.label), num(c.score), num(c.passed, 1), *(num(c.metrics.get(m)) for m in metric_names), num(c.judge),
                num(c.seconds / max(1, len(cases)), 2)] for c in columns]
    rows = []
    for i, case in enumerate(cases):
        wanted = "; ".join(filter(None, [", ".join(case.get("contains") or []), case.get("regex"),
                                         case.get("route") and f"route {case['route']}"]))
        rows.append([cell(case["q"]), cell(wanted or "-")] +
                    [f'<td class="answer">{"✓ " if c.checks[i] else "✗ " if c.checks[i] is False else ""}'
                     f'{esc(c.answers[i])}</td>' for c in columns])
    return [section(f"{title}Summary", table(["variant", "score", "checks passed %", *metric_names, "judge (1-10)",
                                               "s / case"], summary)),
            section(f"{title}Cases", table(["message", "checks", *(c.label for c in columns)], rows))]
