"""Users' feedback on app responses, and the business metrics of an app (per day).

    record(ws, "chatcmpl-...", -1, comment="wrong table", correction="SELECT ...")
    metrics(ws, "sql-help")   # requests, conversations, turns, thumbs-up rate, blocks, routes, latency, tokens

A correction that fails the app's checks (``evaluation.regex`` / ``json_schema``) is kept but flagged; the
iteration loop trains only on corrections that pass.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from contextlib import closing
from datetime import datetime

from mentor.engine import audit, store
from mentor.errors import MentorError, NotFound
from mentor.workspace import Workspace


def record(ws: Workspace, response_id: str, rating: int, comment: str | None = None,
           correction: str | None = None) -> dict:
    """Store feedback on one response (named by its response id, or its log id); the stored row."""
    if rating not in (1, -1) or isinstance(rating, bool):
        raise MentorError(f"rating: must be 1 (thumbs up) or -1 (thumbs down), not {rating!r}.")
    for key, value in (("comment", comment), ("correction", correction)):
        if value is not None and not isinstance(value, str):
            raise MentorError(f"{key}: must be a string.")
    log = audit.find(ws, str(response_id))
    if log is None:
        raise NotFound(f"No app response with id '{response_id}' (ids come back as the response's `id`).")
    flags = []
    if correction is not None and correction.strip():
        from mentor.engine.evaluation import failed_checks

        try:
            section = store.get(log["app"], ws, log["version"]).config.evaluation
        except MentorError:
            section = None
        flags = [f"correction {p}" for p in failed_checks(section, correction)] if section else []
    else:
        correction = None
    with closing(ws.connect()) as con, con:
        cur = con.execute("INSERT INTO app_feedback (log_id, app, created, rating, comment, correction, flags)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (log["id"], log["app"], time.time(), rating, comment, correction, json.dumps(flags)))
    return {"id": cur.lastrowid, "object": "feedback", "response_id": log["response_id"], "app": log["app"],
            "rating": rating, "comment": comment, "correction": correction, "flags": flags}


def dismiss(ws: Workspace, log_id: int, comment: str = "rejected in review") -> dict:
    """A reviewer decides a mined case is not worth fixing: it is marked as handled (iteration 0, no round) so
    mining skips it, and the decision stays on record."""
    log = audit.find(ws, str(log_id))
    if log is None:
        raise NotFound(f"No app response with id '{log_id}'.")
    vote = latest(ws, log["app"]).get(log["id"])
    with closing(ws.connect()) as con, con:
        con.execute("INSERT INTO app_feedback (log_id, app, created, rating, comment, correction, flags, iteration)"
                    " VALUES (?, ?, ?, ?, ?, NULL, '[]', 0)",
                    (log["id"], log["app"], time.time(), vote["rating"] if vote else -1, comment))
    return {"object": "feedback", "response_id": log["response_id"], "app": log["app"], "dismissed": True}


def latest(ws: Workspace, app: str) -> dict[int, dict]:
    """log id -> the latest feedback on it (a user may change their mind)."""
    with closing(ws.connect()) as con:
        rows = con.execute("SELECT * FROM app_feedback WHERE app = ? ORDER BY id", (app,)).fetchall()
    return {r["log_id"]: {**dict(r), "flags": json.loads(r["flags"])} for r in rows}


def metrics(ws: Workspace, app: str, days: int | None = None) -> list[dict]:
    """Per day (local time), newest first: requests, conversations, average turns per conversation, thumbs-up
    rate and feedback coverage, guard blocks, the route mix, p50/p95 latency and tokens."""
    store.get(app, ws)
    since = time.time() - days * 86400 if days else 0
    logs = audit.read(ws, app, since, limit=10**9)
    votes = latest(ws, app)
    by_day: dict[str, list[dict]] = defaultdict(list)
    for log in logs:
        by_day[datetime.fromtimestamp(log["created"]).strftime("%Y-%m-%d")].append(log)
    out = []
    for day in sorted(by_day, reverse=True):
        rows = by_day[day]
        turns: dict[str, int] = {}
        for r in rows:  # a conversation's turns: the user messages of its longest request
            n = sum(m["role"] == "user" for m in r["request"])
            turns[r["conversation"] or f"log-{r['id']}"] = max(n, turns.get(r["conversation"] or f"log-{r['id']}", 0))
        rated = [votes[r["id"]]["rating"] for r in rows if r["id"] in votes]
        latency = sorted(r["latency"] for r in rows)
        out.append({
            "day": day, "requests": len(rows), "conversations": len(turns),
            "turns_per_conversation": round(sum(turns.values()) / len(turns), 2),
            "thumbs_up_rate": round(100.0 * rated.count(1) / len(rated), 1) if rated else None,
            "feedback_coverage": round(100.0 * len(rated) / len(rows), 1),
            "blocked": sum(r["blocked"] for r in rows), "errors": sum(bool(r["error"]) for r in rows),
            "routes": dict(Counter(r["route"] or r["flow"] for r in rows).most_common()),
            "latency_p50": round(_quantile(latency, 0.5), 3), "latency_p95": round(_quantile(latency, 0.95), 3),
            "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
            "completion_tokens": sum(r["completion_tokens"] for r in rows),
        })
    return out


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0
