"""Fine-tuning jobs (``/v1/fine_tuning/jobs``): a persistent queue in the workspace registry, run by a
worker process (``mentor.serve.worker``) with the normal training loop.

Statuses as OpenAI's: validating_files -> queued -> running -> succeeded | failed | cancelled. A job
whose worker died is queued again and resumes from its last checkpoint (up to ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import json
import secrets
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from mentor.errors import MentorError
from mentor.methods import get_method, method_names
from mentor.models import llm_names
from mentor.metrics_log import MetricsLog
from mentor.serve.engine import NotFound, model_id
from mentor.tune.checkpoint import list_checkpoints
from mentor.tune.config import TrainConfig, load_config
from mentor.workspace import Workspace

MAX_ATTEMPTS = 3
FINISHED = ("succeeded", "failed", "cancelled")


def train_config(ws: Workspace, job_id: str, request: dict[str, Any], files) -> TrainConfig:
    """The training config for an OpenAI-style job request (validated here, at creation).

    ``method``: OpenAI's ``{"type": "supervised", "supervised": {"hyperparameters": {...}}}``, or, as our
    extension, ``type`` naming a tuning method (``lora``, ``dora``, ``prefix``...) with its section holding
    ``hyperparameters`` and the method's ``options``. ``supervised`` means LoRA.
    """
    method = request.get("method") or {"type": "supervised"}
    kind = method.get("type", "supervised")
    if kind not in ("supervised", "dpo") and kind not in method_names():
        raise MentorError(f"Unknown method type '{kind}' (expected 'supervised', 'dpo' or one of "
                          f"{', '.join(method_names())}).")
    section = method.get(kind) or {}
    hyper = {**(request.get("hyperparameters") or {}), **(section.get("hyperparameters") or {})}
    known = {"n_epochs", "batch_size", "learning_rate_multiplier"} | ({"beta"} if kind == "dpo" else set())
    unknown = set(hyper) - known
    if unknown:
        raise MentorError(f"Unknown hyperparameter '{sorted(unknown)[0]}' (known: {', '.join(sorted(known))}).")
    for key, value in hyper.items():
        _check_bounds(key, value)
    name = "lora" if kind in ("supervised", "dpo") else kind
    # a fine-tuned model as the base (OpenAI's way to continue fine-tuning): training continues from that run
    base, from_run = request["model"], None
    run_name = base.rsplit(":", 1)[-1] if base.startswith("ft:") else base
    record = ws.get_run(run_name)
    if record is not None:
        if record.status != "succeeded":
            raise MentorError(f"model: the fine-tuned model '{base}' has not finished training (status {record.status}).")
        base, from_run = None, run_name
    elif base not in llm_names():  # never a client-chosen path or hub id: no file oracle, no download
        raise MentorError(f"model: '{base}' is not a model this server fine-tunes: use a base model "
                          f"({', '.join(llm_names())}) or a fine-tuned model from GET /v1/models.")
    # unset ("auto") hyperparameters are chosen from the data when the job trains, as for `mentor train`
    options = {k: v for k, v in hyper.items() if v != "auto"}
    config = load_config(
        None, data=files.get(request["training_file"])["path"],
        val=files.get(request["validation_file"])["path"] if request.get("validation_file") else None,
        model=base, from_run=from_run, method=name, method_options=section.get("options"), seed=request.get("seed"),
        objective="dpo" if kind == "dpo" else None,
        dpo_beta=options["beta"] if "beta" in options else None,
        epochs=options.get("n_epochs"), batch_size=options.get("batch_size"),
        learning_rate=get_method(name).learning_rate * options["learning_rate_multiplier"]
        if "learning_rate_multiplier" in options else None,
        name=job_id, output=str(ws.runs_dir / job_id),
    )
    return config


# What one job may ask for: beyond these a request is a mistake or an attack (a job without end, no memory left).
BOUNDS = {"n_epochs": (int, 1, 100), "batch_size": (int, 1, 512), "learning_rate_multiplier": (float, 1e-3, 100.0),
          "beta": (float, 1e-3, 10.0)}


def _check_bounds(key: str, value: Any) -> None:
    if value == "auto":
        return
    kind, low, high = BOUNDS[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or float(value).is_integer())
    if not number or not low <= value <= high:
        raise MentorError(f"hyperparameters.{key}: {value!r} is not {'an integer' if kind is int else 'a number'} "
                          f"from {low:g} to {high:g} (or \"auto\").")


class JobStore:
    def __init__(self, workspace: Workspace):
        self.ws = workspace

    # -- the API side --------------------------------------------------------------------------
    def create(self, request: dict[str, Any], files) -> dict:
        job_id = f"ftjob-{secrets.token_hex(12)}"
        for key in ("training_file", "validation_file"):
            if request.get(key) and files.get(request[key])["purpose"] != "fine-tune":
                raise MentorError(f"File {request[key]} ({key}) was not uploaded with purpose 'fine-tune'.")
        config = train_config(self.ws, job_id, request, files)
        stored = {**request, "config": {k: v for k, v in config.__dict__.items() if v is not None}}
        with closing(self.ws.connect()) as con, con:
            con.execute("INSERT INTO jobs (id, created, status, request) VALUES (?, ?, 'queued', ?)",
                        (job_id, time.time(), json.dumps(stored, ensure_ascii=False)))
        self.event(job_id, f"Created fine-tuning job: {job_id}")
        self.event(job_id, "Validated training file: " + request["training_file"])
        return self.get(job_id)

    def get(self, job_id: str) -> dict:
        job = self.ws.record("jobs", job_id)
        if job is None:
            raise NotFound(f"No such fine-tuning job: '{job_id}'.")
        return {**job, "request": json.loads(job["request"])}

    def list(self) -> list[dict]:
        with closing(self.ws.connect()) as con:
            ids = [r["id"] for r in con.execute("SELECT id FROM jobs ORDER BY created DESC")]
        return [self.get(i) for i in ids]

    def cancel(self, job_id: str) -> dict:
        job = self.get(job_id)
        if job["status"] in FINISHED:
            raise MentorError(f"Job {job_id} has already {job['status']}; only queued or running jobs can be cancelled.")
        self._set(job_id, "cancelled", finished=time.time())
        self.event(job_id, "Job cancelled by the user.")
        return self.get(job_id)

    def pause(self, job_id: str) -> dict:
        """Stop a queued or running job at a checkpoint, to ``resume`` later (OpenAI's pause)."""
        job = self.get(job_id)
        if job["status"] not in ("queued", "running"):
            raise MentorError(f"Job {job_id} is {job['status']}; only queued or running jobs can be paused.")
        self._set(job_id, "paused")
        self.event(job_id, "Job paused by the user; it resumes from its last checkpoint.")
        return self.get(job_id)

    def resume(self, job_id: str) -> dict:
        job = self.get(job_id)
        if job["status"] != "paused":
            raise MentorError(f"Job {job_id} is {job['status']}; only paused jobs can be resumed.")
        self._set(job_id, "queued")
        self.event(job_id, "Job resumed by the user.")
        return self.get(job_id)

    def event(self, job_id: str, message: str, level: str = "info") -> None:
        with closing(self.ws.connect()) as con, con:
            con.execute("INSERT INTO job_events VALUES (?, ?, ?, ?)", (job_id, time.time(), level, message))

    def events(self, job_id: str) -> list[dict]:
        """Status messages and the run's training / validation losses, newest first."""
        self.get(job_id)  # unknown ids: 404
        with closing(self.ws.connect()) as con:
            rows = con.execute("SELECT * FROM job_events WHERE job_id = ? ORDER BY rowid", (job_id,)).fetchall()
        out = [{"created": r["created"], "level": r["level"], "message": r["message"], "data": None, "type": "message"}
               for r in rows]
        run_dir = self.ws.runs_dir / job_id
        total = _run_info(run_dir).get("steps")
        for m in MetricsLog(run_dir / "metrics.jsonl").read():
            data = {"step": m.get("step"), "total_steps": total}
            if "train_loss" in m:
                data["train_loss"] = m["train_loss"]
                message = f"Step {m['step']}/{total}: training loss={m['train_loss']:.4f}"
            elif "val_loss" in m:
                data["valid_loss"] = m["val_loss"]
                message = f"Step {m['step']}/{total}: validation loss={m['val_loss']:.4f}"
            else:
                continue
            out.append({"created": m["time"], "level": "info", "message": message, "data": data, "type": "metrics"})
        out.sort(key=lambda e: e["created"], reverse=True)
        for n, e in enumerate(reversed(out)):
            e["id"] = f"ftevent-{job_id[6:]}-{n}"
        return out

    def checkpoints(self, job_id: str) -> list[dict]:
        job = self.get(job_id)
        run_dir = self.ws.runs_dir / job_id
        losses = {m["step"]: m for m in MetricsLog(run_dir / "metrics.jsonl").read() if "train_loss" in m}
        out = []
        for ckpt in reversed(list_checkpoints(run_dir)):
            step = json.loads((ckpt / "state.json").read_text())["step"]
            metrics = {"step": step}
            if step in losses:
                metrics["train_loss"] = losses[step]["train_loss"]
            out.append({"id": f"ftckpt-{job_id[6:]}-{step}", "step": step, "created": ckpt.stat().st_mtime,
                        "metrics": metrics,
                        "model": model_id(job_id, job["request"]["model"], job["request"].get("suffix")) + f":ckpt-step-{step}"})
        return out

    # -- the worker side -----------------------------------------------------------------------
    def claim(self) -> dict | None:
        """Take the oldest queued job (marking it running), or None."""
        with closing(self.ws.connect()) as con, con:
            row = con.execute("UPDATE jobs SET status = 'running', attempts = attempts + 1 WHERE id = "
                              "(SELECT id FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1) "
                              "AND status = 'queued' RETURNING id").fetchone()
        return self.get(row["id"]) if row else None

    def status(self, job_id: str) -> str:
        return self.get(job_id)["status"]

    def finish(self, job_id: str, status: str, fine_tuned_model: str | None = None, error: str | None = None) -> None:
        with closing(self.ws.connect()) as con, con:  # a cancelled job stays cancelled
            con.execute("UPDATE jobs SET status = ?, fine_tuned_model = ?, error = ?, finished = ? "
                        "WHERE id = ? AND status = 'running'", (status, fine_tuned_model, error, time.time(), job_id))

    def requeue(self, job_id: str, reason: str) -> None:
        """A running job stopped on purpose (server shutdown): queued again, the attempt not counted."""
        with closing(self.ws.connect()) as con, con:
            con.execute("UPDATE jobs SET status = 'queued', attempts = attempts - 1 WHERE id = ? AND status = 'running'",
                        (job_id,))
        self.event(job_id, reason + ".", "warn")

    def recover(self, reason: str) -> list[str]:
        """Jobs left ``running`` by a worker that is gone: queue them again to resume from their last
        checkpoint, or fail them with the reason after ``MAX_ATTEMPTS`` tries."""
        with closing(self.ws.connect()) as con:
            stuck = [dict(r) for r in con.execute("SELECT id, attempts FROM jobs WHERE status = 'running'")]
        for job in stuck:
            if job["attempts"] >= MAX_ATTEMPTS:
                self._set(job["id"], "failed", error=f"{reason}; gave up after {job['attempts']} attempts",
                          finished=time.time())
                self.event(job["id"], f"Job failed: {reason} ({job['attempts']} attempts).", "error")
            else:
                self._set(job["id"], "queued")
                self.event(job["id"], f"{reason}; the job is queued again and resumes from its last checkpoint.", "warn")
        return [j["id"] for j in stuck]

    def _set(self, job_id: str, status: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in ("status", *fields))
        with closing(self.ws.connect()) as con, con:
            con.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (status, *fields.values(), job_id))


def _run_info(run_dir: Path) -> dict:
    path = run_dir / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}
