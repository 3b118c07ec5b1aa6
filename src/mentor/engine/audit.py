"""The audit log: every app request in the workspace registry (app and prompt version, route, tool calls with
arguments and results, guard findings, the answer, latency and tokens). Texts are stored with PII redacted."""

from __future__ import annotations

import json
import time
from contextlib import closing

from mentor.workspace import Workspace


def write(ws: Workspace, app: str, version: int, trace, request: list[dict], answer: str, latency: float) -> int:
    """Store one request; its id."""
    from mentor.engine.guard import redact

    clean = [{**m, "content": redact(m["content"]).text} for m in request]
    with closing(ws.connect()) as con, con:
        cur = con.execute(
            "INSERT INTO app_logs (app, version, created, route, routed_by, flow, request, answer, blocked, findings,"
            " tool_calls, citations, error, latency, prompt_tokens, completion_tokens, response_id, conversation,"
            " route_score)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (app, version, time.time(), trace.route, trace.by, trace.flow, _json(clean), redact(answer).text,
             int(trace.blocked), _json(trace.findings), _json(_redacted_calls(trace.tool_calls)),
             _json([{k: v for k, v in c.items() if k != "text"} for c in trace.citations]), trace.error,
             latency, trace.usage.prompt_tokens, trace.usage.completion_tokens, trace.response_id, trace.conversation,
             trace.score))
        return cur.lastrowid


def read(ws: Workspace, app: str, since: float | None = None, limit: int = 100) -> list[dict]:
    """The app's requests, newest first."""
    with closing(ws.connect()) as con:
        rows = con.execute("SELECT * FROM app_logs WHERE app = ? AND created >= ? ORDER BY id DESC LIMIT ?",
                           (app, since or 0, limit)).fetchall()
    return [row(r) for r in rows]


def find(ws: Workspace, response_id: str) -> dict | None:
    """One request by its response id (or its log id as digits)."""
    with closing(ws.connect()) as con:
        if response_id.isdigit():
            r = con.execute("SELECT * FROM app_logs WHERE id = ?", (int(response_id),)).fetchone()
        else:
            r = con.execute("SELECT * FROM app_logs WHERE response_id = ?", (response_id,)).fetchone()
    return row(r) if r else None


def row(r) -> dict:
    """An app_logs row with its JSON columns read."""
    item = dict(r)
    for key in ("request", "findings", "tool_calls", "citations"):
        item[key] = json.loads(item[key])
    item["blocked"] = bool(item["blocked"])
    return item


def _redacted_calls(calls: list[dict]) -> list[dict]:
    from mentor.engine.guard import redact

    return json.loads(redact(_json(calls)).text) if calls else []


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
