"""Apps in the workspace registry: every change to an app's YAML is a new version, kept for its history."""

from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from mentor.engine.config import AppConfig, KbTool, PythonTool, RagFlow
from mentor.errors import MentorError
from mentor.workspace import Workspace


@dataclass(frozen=True)
class StoredApp:
    config: AppConfig
    version: int
    created: float
    note: str | None = None  # why this version exists when a command made it (a promotion, a rollback)


def save(config: AppConfig, ws: Workspace, note: str | None = None) -> tuple[StoredApp, bool]:
    """Store ``config`` after checking what it names exists; (the app, whether this made a new version).
    An unchanged config keeps its version. Paths the app names (eval cases, replay data, question files) are
    stored absolute, resolved against the working directory."""
    config = _absolute_paths(config)
    check(config, ws)
    body = config.model_dump_json()
    with closing(ws.connect()) as con, con:
        last = con.execute("SELECT version, config, created, deleted, note FROM apps WHERE name = ? "
                           "ORDER BY version DESC LIMIT 1", (config.name,)).fetchone()
        if last is not None and last["config"] == body and last["deleted"] is None:
            return StoredApp(config, last["version"], last["created"], last["note"]), False
        version, now = (last["version"] + 1 if last else 1), time.time()
        con.execute("INSERT INTO apps (name, version, config, created, note) VALUES (?, ?, ?, ?, ?)",
                    (config.name, version, body, now, note))
    return StoredApp(config, version, now, note), True


def _absolute_paths(config: AppConfig) -> AppConfig:
    def absolute(path: str, where: str) -> str:
        p = Path(path).expanduser()
        if not p.exists():
            raise MentorError(f"{where}: no such file '{path}' (relative paths are read from {Path.cwd()}).")
        return str(p.resolve())

    ev, it = config.evaluation, config.iterate
    if ev.cases:
        ev = ev.model_copy(update={"cases": absolute(ev.cases, "evaluation.cases")})
    it = it.model_copy(update={"replay": [absolute(p, f"iterate.replay[{i}]") for i, p in enumerate(it.replay)],
                               "general": [absolute(p, f"iterate.general[{i}]") for i, p in enumerate(it.general)]})
    return config.model_copy(update={"evaluation": ev, "iterate": it})


def get(name: str, ws: Workspace, version: int | None = None) -> StoredApp:
    """The app's latest version (or ``version``)."""
    with closing(ws.connect()) as con:
        if version is None:
            row = con.execute("SELECT * FROM apps WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        else:
            row = con.execute("SELECT * FROM apps WHERE name = ? AND version = ?", (name, version)).fetchone()
    if row is None or (version is None and row["deleted"] is not None):
        known = ", ".join(a.config.name for a in list_apps(ws)) or "none yet"
        which = f"version {version} of app" if version is not None else "app"
        raise MentorError(f"Unknown {which} '{name}' (apps: {known}; create one with: mentor app create --config FILE).")
    return _stored(row)


def list_apps(ws: Workspace) -> list[StoredApp]:
    with closing(ws.connect()) as con:
        rows = con.execute("SELECT a.* FROM apps a JOIN (SELECT name, MAX(version) v FROM apps GROUP BY name) m "
                           "ON a.name = m.name AND a.version = m.v WHERE a.deleted IS NULL ORDER BY a.name").fetchall()
    return [_stored(r) for r in rows]


def _stored(row) -> StoredApp:
    return StoredApp(AppConfig.model_validate_json(row["config"]), row["version"], row["created"], row["note"])


def history(name: str, ws: Workspace) -> list[StoredApp]:
    get(name, ws)
    with closing(ws.connect()) as con:
        rows = con.execute("SELECT * FROM apps WHERE name = ? ORDER BY version", (name,)).fetchall()
    return [_stored(r) for r in rows]


def delete(name: str, ws: Workspace) -> None:
    """Hide the app (its versions and logs stay for the audit trail; creating it again continues the numbering)."""
    get(name, ws)
    with closing(ws.connect()) as con, con:
        con.execute("UPDATE apps SET deleted = ? WHERE name = ? AND deleted IS NULL", (time.time(), name))


def check(config: AppConfig, ws: Workspace) -> None:
    """What the app names must exist now, not at request time: the model, knowledge bases, Python tools and flows."""
    _check_model(config.model, ws)
    from mentor.rag.knowledge_base import list_names

    kbs = set(list_names(ws))
    for where, flow in _flows(config):
        if isinstance(flow, RagFlow) and flow.rag not in kbs:
            raise MentorError(f"{where}: no knowledge base '{flow.rag}' (knowledge bases: {', '.join(sorted(kbs)) or 'none'}; "
                              f"create it with: mentor kb create {flow.rag})")
        if isinstance(flow, str) and ":" in flow:
            resolve_callable(flow, where)
    for i, tool in enumerate(config.tools):
        if isinstance(tool, PythonTool):
            resolve_callable(tool.python, f"tools[{i}]")
        if isinstance(tool, KbTool) and tool.kb_search not in kbs:
            raise MentorError(f"tools[{i}]: no knowledge base '{tool.kb_search}' to search.")
        if tool == "kb_search" and not any(isinstance(f, RagFlow) for _, f in _flows(config)):
            raise MentorError(f"tools[{i}]: kb_search needs a knowledge base: write {{kb_search: KB}} or add a rag route.")
    if config.guard:
        guard_config(config)  # unknown scanner names fail here


def guard_config(config: AppConfig):
    """The app's guard section as the guard's own config."""
    from mentor.engine.guard import GuardConfig

    g = config.guard
    return GuardConfig(input=tuple(g.input), output=tuple(g.output), words=tuple(g.words),
                       allowed_domains=tuple(g.allowed_domains), on_block=g.on_block, pii=g.pii)


def _flows(config: AppConfig):
    if config.router:
        return [(f"router.routes[{i}] ({r.name})", r.flow) for i, r in enumerate(config.router.routes)]
    return [("flow", config.flow)]


def _check_model(model: str, ws: Workspace) -> None:
    from mentor.models import llm_names

    if model in llm_names() or any((Path(model) / f).exists() for f in ("config.json", "run.json")):
        return  # an alias, a model folder or a run folder
    run = ws.get_run(model)
    if run is not None and run.status == "succeeded":
        return
    if run is not None:
        raise MentorError(f"model: the run '{model}' has not finished (status {run.status}).")
    llms = ", ".join(llm_names())
    raise MentorError(f"model: '{model}' is not a model alias ({llms}), a finished run, a run folder or a model folder.")


def resolve_callable(spec: str, where: str):
    """``module:function`` imported (the module must be importable from the working directory or the path)."""
    import importlib
    import sys

    module_name, _, attr = spec.partition(":")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like `python -m`: the user's own modules next to the app file
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the module itself failing
        raise MentorError(f"{where}: cannot import '{module_name}' ({type(e).__name__}: {e}).") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise MentorError(f"{where}: '{module_name}' has no function '{attr}'.")
    return fn


def dump(app: StoredApp) -> dict:
    return {"name": app.config.name, "version": app.version, "created": app.created, "note": app.note,
            "config": json.loads(app.config.model_dump_json())}
