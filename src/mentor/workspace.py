"""The workspace: one folder (``MENTOR_HOME``, default ``./.mentor``) with a SQLite registry.

Layout::

    <home>/registry.sqlite   data sets, runs and models
    <home>/models/<alias>/   de-quantised model caches (safetensors)
    <home>/runs/<name>/      one folder per training run
    <home>/files/<id><ext>   files uploaded to the server (generated names)
    <home>/kb/<name>/        knowledge bases

Apps (``mentor.engine``) keep every version of their YAML, an audit log of their requests, users' feedback and
the iteration rounds (``mentor.apps``) here too.

The server's files, fine-tuning jobs and vector stores live in the same registry (``mentor.serve``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentor.errors import MentorError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, format TEXT NOT NULL,
    examples INTEGER NOT NULL, sha256 TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, base_model TEXT NOT NULL, method TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY, source TEXT NOT NULL, path TEXT NOT NULL,
    parameters INTEGER, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL,
    path TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, created REAL NOT NULL, status TEXT NOT NULL, request TEXT NOT NULL,
    fine_tuned_model TEXT, error TEXT, finished REAL, attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_events (
    job_id TEXT NOT NULL, created REAL NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vector_stores (
    id TEXT PRIMARY KEY, name TEXT, created REAL NOT NULL, metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS apps (
    name TEXT NOT NULL, version INTEGER NOT NULL, config TEXT NOT NULL, created REAL NOT NULL,
    deleted REAL, PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS app_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, version INTEGER NOT NULL, created REAL NOT NULL,
    route TEXT, routed_by TEXT, flow TEXT, request TEXT NOT NULL, answer TEXT NOT NULL, blocked INTEGER NOT NULL,
    findings TEXT NOT NULL, tool_calls TEXT NOT NULL, citations TEXT NOT NULL, error TEXT,
    latency REAL NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS app_logs_by_app ON app_logs (app, created);
CREATE TABLE IF NOT EXISTS app_feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, log_id INTEGER NOT NULL, app TEXT NOT NULL, created REAL NOT NULL,
    rating INTEGER NOT NULL, comment TEXT, correction TEXT, flags TEXT NOT NULL, iteration INTEGER
);
CREATE INDEX IF NOT EXISTS app_feedback_by_log ON app_feedback (log_id);
CREATE TABLE IF NOT EXISTS app_iterations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, created REAL NOT NULL, status TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
# Columns added after a table first shipped: (table, column, declaration), added to older registries on connect.
_MIGRATED: set[Path] = set()  # registries whose schema this process has created or brought up to date
_ADDED_COLUMNS = (("app_logs", "response_id", "TEXT"), ("app_logs", "conversation", "TEXT"),
                 ("app_logs", "route_score", "REAL"), ("apps", "note", "TEXT"))


@dataclass(frozen=True)
class RunRecord:
    name: str
    path: Path
    base_model: str
    method: str
    status: str
    created: float
    updated: float
    summary: dict[str, Any]


class Workspace:
    """Artifacts and their registry under one folder."""

    def __init__(self, home: str | os.PathLike[str] | None = None):
        self.home = Path(home or os.environ.get("MENTOR_HOME") or ".mentor").resolve()

    # -- folders -------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        override = os.environ.get("MENTOR_MODEL_CACHE")
        return Path(override).resolve() if override else self.home / "models"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def connect(self) -> sqlite3.Connection:
        """A connection to the registry (use with ``contextlib.closing``; ``with con:`` commits)."""
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "registry.sqlite"
        existed = path.exists()
        con = sqlite3.connect(path, timeout=30)
        con.row_factory = sqlite3.Row
        if existed and self.home in _MIGRATED:  # the schema is settled once per registry and process
            return con
        con.executescript(_SCHEMA)
        for table, column, declaration in _ADDED_COLUMNS:
            if column not in {r["name"] for r in con.execute(f"PRAGMA table_info({table})")}:
                try:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                except sqlite3.OperationalError as e:  # another connection added it first
                    if "duplicate column" not in str(e):
                        raise
        con.execute("CREATE INDEX IF NOT EXISTS app_logs_by_response ON app_logs (response_id)")
        _MIGRATED.add(self.home)
        return con

    def record(self, table: str, key: str) -> dict[str, Any] | None:
        """One row of a registry table (``table`` is a name from our own code) by its ``id``."""
        with closing(self.connect()) as con:
            row = con.execute(f"SELECT * FROM {table} WHERE id = ?", (key,)).fetchone()
        return dict(row) if row else None

    # -- runs ----------------------------------------------------------------------------
    def run_path(self, name_or_path: str) -> Path:
        """Resolve a run given by registry name or by folder path."""
        candidate = Path(name_or_path)
        if (candidate / "run.json").exists():
            return candidate.resolve()
        record = self.get_run(name_or_path)
        if record is not None:
            return record.path
        if (self.runs_dir / name_or_path / "run.json").exists():
            return self.runs_dir / name_or_path
        known = ", ".join(r.name for r in self.list_runs()) or "none yet"
        raise MentorError(f"Unknown run '{name_or_path}': not a run folder and not in the registry (known runs: {known}).")

    def save_run(self, name: str, path: Path, base_model: str, method: str, status: str,
                 summary: dict[str, Any] | None = None) -> None:
        now = time.time()
        with closing(self.connect()) as con, con:
            con.execute(
                "INSERT INTO runs (name, path, base_model, method, status, created, updated, summary)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET path=excluded.path,"
                " base_model=excluded.base_model, method=excluded.method, status=excluded.status,"
                " updated=excluded.updated, summary=excluded.summary",
                (name, str(Path(path).resolve()), base_model, method, status, now, now,
                 json.dumps(summary or {}, ensure_ascii=False)),
            )

    def get_run(self, name: str) -> RunRecord | None:
        with closing(self.connect()) as con:
            row = con.execute("SELECT * FROM runs WHERE name = ?", (name,)).fetchone()
        return _run_record(row) if row else None

    def list_runs(self) -> list[RunRecord]:
        with closing(self.connect()) as con:
            rows = con.execute("SELECT * FROM runs ORDER BY created").fetchall()
        return [_run_record(r) for r in rows]

    # -- data sets and models --------------------------------------------------------------
    def save_dataset(self, name: str, path: Path, fmt: str, examples: int, sha256: str) -> None:
        with closing(self.connect()) as con, con:
            con.execute(
                "INSERT OR REPLACE INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                (name, str(Path(path).resolve()), fmt, examples, sha256, time.time()),
            )

    def list_datasets(self) -> list[dict[str, Any]]:
        with closing(self.connect()) as con:
            return [dict(r) for r in con.execute("SELECT * FROM datasets ORDER BY created")]

    def save_model(self, name: str, source: str, path: Path, parameters: int | None) -> None:
        with closing(self.connect()) as con, con:
            con.execute(
                "INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?)",
                (name, source, str(path), parameters, time.time()),
            )

    def list_models(self) -> list[dict[str, Any]]:
        with closing(self.connect()) as con:
            return [dict(r) for r in con.execute("SELECT * FROM models ORDER BY name")]


def _run_record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        name=row["name"], path=Path(row["path"]), base_model=row["base_model"], method=row["method"],
        status=row["status"], created=row["created"], updated=row["updated"],
        summary=json.loads(row["summary"]),
    )
