"""One round of the loop (``mentor iterate APP``): mine -> next dataset -> train from the current model ->
compare -> promote. Every round is recorded (``app_iterations``) with its files, counts and verdict."""

from __future__ import annotations

import json
import time
from contextlib import closing
from pathlib import Path

from mentor.engine import store
from mentor.errors import MentorError
from mentor.workspace import Workspace


def run_round(ws: Workspace, app: str, teacher=None, judge=None, accept_unreviewed: bool = False,
              force: bool = False, promote_winner: bool = True, train_overrides: dict | None = None,
              log=print) -> dict:
    """Run one iteration round; its record. Stops before training when fewer than ``iterate.min_cases``
    reviewed rows exist (status ``stopped``), promotes only a winner (``refused`` otherwise)."""
    from mentor.apps.cases import build_dataset, held_path, mine, write_cases
    from mentor.apps.compare import compare, promote

    stored = store.get(app, ws)
    config = stored.config
    number = _start(ws, app)
    folder = ws.home / "iterations" / app / f"round-{number}"
    folder.mkdir(parents=True, exist_ok=True)
    detail: dict = {"round": number, "folder": str(folder), "model": config.model, "version": stored.version}
    try:
        cases = mine(ws, app)
        write_cases(cases, folder / "cases.jsonl")
        detail["mined"] = len(cases)
        log(f"mined {len(cases)} cases -> {folder / 'cases.jsonl'}")
        stats = build_dataset(ws, app, cases, folder / "next.jsonl", teacher=teacher, judge=judge,
                              accept_unreviewed=accept_unreviewed)
        detail["dataset"] = stats
        log(f"next dataset: {stats['new_rows']} new rows + {stats['replay']} replayed, {stats['held_out']} held out "
            f"({stats['unreviewed_skipped']} unreviewed and {stats['flagged_skipped']} flagged skipped)")
        if stats["new_rows"] < config.iterate.min_cases:
            reason = (f"only {stats['new_rows']} reviewed cases to train on (iterate.min_cases is "
                      f"{config.iterate.min_cases}): collect more feedback with corrections")
            return _finish(ws, number, "stopped", {**detail, "reason": reason}, log)
        run = _train(ws, app, config, folder / "next.jsonl", number, train_overrides or {}, log)
        detail["run"] = run
        result = compare(ws, app, run, held=held_path(folder / "next.jsonl"), report=folder / "compare.html")
        detail["compare"] = {k: result[k] for k in ("score", "forgetting", "promote", "reason", "report")}
        log(f"compare: {result['reason']} (report {result['report']})")
        _mark_used(ws, app, stats["trained_ids"], number)
        if not (result["promote"] or force):
            return _finish(ws, number, "refused", {**detail, "reason": f"not promoted: {result['reason']}"}, log)
        if not promote_winner:
            return _finish(ws, number, "candidate", {**detail, "reason": "a winner, left for mentor app promote"}, log)
        saved = promote(ws, app, run, force=True, comparison=result)
        detail["promoted_version"] = saved.version
        return _finish(ws, number, "promoted", {**detail, "reason": saved.note}, log)
    except BaseException as e:
        _finish(ws, number, "failed", {**detail, "reason": f"{type(e).__name__}: {e}"}, lambda _: None)
        raise


def _train(ws: Workspace, app: str, config, data: Path, number: int, overrides: dict, log) -> str:
    """Fine-tune on the round's data: continuing the app's run when it serves one, else from its base model."""
    from mentor.apps.compare import base_of, run_dir
    from mentor.tune import load_config, train

    name = _free_name(ws, f"{app}-r{number}")
    current = config.model
    is_run = run_dir(ws, current) is not None
    settings = check_overrides({**config.iterate.train, **overrides})
    method = settings.pop("method", None)
    cfg = load_config(None, data=str(data), name=name, from_run=current if is_run else None,
                      model=None if is_run else base_of(ws, current), method=method, **settings)
    log(f"training {name} " + (f"from {current}" if is_run else f"on {current}"))
    train(cfg, ws)
    return name


def _free_name(ws: Workspace, name: str) -> str:
    candidate, n = name, 1
    while ws.get_run(candidate) is not None or (ws.runs_dir / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _start(ws: Workspace, app: str) -> int:
    with closing(ws.connect()) as con, con:
        cur = con.execute("INSERT INTO app_iterations (app, created, status, detail) VALUES (?, ?, 'running', '{}')",
                          (app, time.time()))
        return cur.lastrowid


def _finish(ws: Workspace, number: int, status: str, detail: dict, log) -> dict:
    with closing(ws.connect()) as con, con:
        con.execute("UPDATE app_iterations SET status = ?, detail = ? WHERE id = ?",
                    (status, json.dumps(detail, ensure_ascii=False, default=str), number))
    if detail.get("reason"):
        log(f"round {number}: {status}: {detail['reason']}")
    return {"id": number, "status": status, **detail}


def _mark_used(ws: Workspace, app: str, log_ids: list[int], number: int) -> None:
    """Feedback on these requests went into a trained round: the next round mines newer feedback only."""
    with closing(ws.connect()) as con, con:
        con.executemany("UPDATE app_feedback SET iteration = ? WHERE app = ? AND log_id = ? AND iteration IS NULL",
                        [(number, app, i) for i in log_ids])


def iterations(ws: Workspace, app: str) -> list[dict]:
    """The app's rounds, newest first."""
    store.get(app, ws)
    with closing(ws.connect()) as con:
        rows = con.execute("SELECT * FROM app_iterations WHERE app = ? ORDER BY id DESC", (app,)).fetchall()
    return [{"id": r["id"], "app": r["app"], "created": r["created"], "status": r["status"], **json.loads(r["detail"])}
            for r in rows]


def check_overrides(settings: dict) -> dict:
    if "data" in settings or "from_run" in settings:
        raise MentorError("iterate.train: 'data' and 'from_run' are chosen by the round itself.")
    return settings
