"""The fine-tuning worker process: takes queued jobs one at a time and trains them with the normal loop.

Started by ``mentor serve`` (``python -m mentor.serve.worker HOME``). A cancelled job, or the server going
away, interrupts training the way Ctrl-C does: a checkpoint is written and the run can be resumed.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time

from mentor.errors import MentorError
from mentor.serve.engine import model_id
from mentor.serve.jobs import JobStore
from mentor.tune.config import load_config
from mentor.workspace import Workspace

POLL_SECONDS = 0.5
STOPPED = ("cancelled", "paused")  # by the user: training stops at a checkpoint
_stopping = threading.Event()


def _on_sigterm(signum, frame) -> None:
    _stopping.set()
    raise KeyboardInterrupt  # in the main thread: training checkpoints and stops


def serve_jobs(home: str) -> None:
    ws = Workspace(home)
    jobs = JobStore(ws)
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _on_sigterm)
    while os.getppid() == parent and not _stopping.is_set():
        try:
            job = jobs.claim()
            if job is None:
                time.sleep(POLL_SECONDS)
                continue
            run_job(ws, jobs, job, parent)
        except KeyboardInterrupt:  # SIGTERM while idle
            return


def run_job(ws: Workspace, jobs: JobStore, job: dict, parent: int) -> None:
    from mentor.tune.train import train

    job_id, request = job["id"], job["request"]
    resuming = (ws.runs_dir / job_id / "run.json").exists()
    jobs.event(job_id, "Resuming fine-tuning job from its last checkpoint." if resuming else "Fine-tuning job started.")
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(jobs, job_id, parent, stop), daemon=True)
    watcher.start()
    try:
        train(load_config(None, **request["config"]), ws, resume=resuming, show_progress=False)
    except (KeyboardInterrupt, Exception) as e:  # cancelled, server gone, or a real failure
        stop.set()
        if _stopping.is_set():
            jobs.requeue(job_id, "The server stopped; the job resumes from its last checkpoint when it starts again")
            return
        if jobs.status(job_id) in STOPPED or os.getppid() != parent:
            return  # cancelled or paused: stays so; server gone: left running, resumed at the next start
        message = str(e) if isinstance(e, MentorError) else f"{type(e).__name__}: {e}"
        jobs.finish(job_id, "failed", error=message)
        jobs.event(job_id, f"Job failed: {message}", "error")
        return
    stop.set()
    record = ws.get_run(job_id)
    suffix = request.get("suffix")
    ws.save_run(job_id, record.path, record.base_model, record.method, record.status, {**record.summary, "suffix": suffix})
    name = model_id(job_id, record.base_model, suffix)
    jobs.finish(job_id, "succeeded", fine_tuned_model=name)
    jobs.event(job_id, f"New fine-tuned model created: {name}")
    jobs.event(job_id, "The job has successfully completed.")


def _watch(jobs: JobStore, job_id: str, parent: int, stop: threading.Event) -> None:
    """Interrupt the training (in the main thread) when the job is cancelled or the server is gone."""
    while not stop.wait(POLL_SECONDS):
        if os.getppid() != parent or jobs.status(job_id) in STOPPED:
            _thread.interrupt_main()
            return


if __name__ == "__main__":
    from mentor.quiet import quiet_libraries

    quiet_libraries()
    serve_jobs(sys.argv[1])
