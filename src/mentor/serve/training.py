"""Routes: /v1/files and /v1/fine_tuning/jobs (OpenAI's shapes; the work is in ``files`` and ``jobs``)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from mentor.errors import MentorError
from mentor.serve.protocol import (
    FineTuningJobRequest,
    checkpoint_object,
    event_object,
    file_object,
    job_object,
    listing,
)

router = APIRouter(prefix="/v1")


@router.post("/files")
async def upload(request: Request, file: UploadFile, purpose: str = Form(...)) -> dict:
    record = await run_in_threadpool(request.app.state.files.save, file.file, file.filename or "", purpose)
    return file_object(record)


@router.get("/files")
async def list_files(request: Request, purpose: str | None = None) -> dict:
    return listing([file_object(r) for r in request.app.state.files.list(purpose)])


@router.get("/files/{file_id}")
async def get_file(file_id: str, request: Request) -> dict:
    return file_object(request.app.state.files.get(file_id))


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, request: Request) -> FileResponse:
    record = request.app.state.files.get(file_id)
    return FileResponse(record["path"], filename=record["filename"], media_type="application/octet-stream")


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, request: Request) -> dict:
    request.app.state.files.delete(file_id)
    return {"id": file_id, "object": "file", "deleted": True}


@router.post("/fine_tuning/jobs")
async def create_job(body: FineTuningJobRequest, request: Request) -> dict:
    state = request.app.state
    if not state.settings.worker:
        raise MentorError("This server runs no fine-tuning worker (mentor serve --no-worker): a job would stay queued. "
                          "Start the server without --no-worker to train.")
    job = await run_in_threadpool(state.jobs.create, body.model_dump(), state.files)
    return job_object(job)


@router.get("/fine_tuning/jobs")
async def list_jobs(request: Request, after: str | None = None, limit: int = 20) -> dict:
    return _page([job_object(j) for j in request.app.state.jobs.list()], after, limit)


@router.get("/fine_tuning/jobs/{job_id}")
async def get_job(job_id: str, request: Request) -> dict:
    return job_object(request.app.state.jobs.get(job_id))


@router.post("/fine_tuning/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request) -> dict:
    return job_object(request.app.state.jobs.cancel(job_id))


@router.post("/fine_tuning/jobs/{job_id}/pause")
async def pause_job(job_id: str, request: Request) -> dict:
    return job_object(request.app.state.jobs.pause(job_id))


@router.post("/fine_tuning/jobs/{job_id}/resume")
async def resume_job(job_id: str, request: Request) -> dict:
    return job_object(request.app.state.jobs.resume(job_id))


@router.get("/fine_tuning/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request, after: str | None = None, limit: int = 20) -> dict:
    return _page([event_object(e) for e in request.app.state.jobs.events(job_id)], after, limit)


@router.get("/fine_tuning/jobs/{job_id}/checkpoints")
async def job_checkpoints(job_id: str, request: Request, after: str | None = None, limit: int = 10) -> dict:
    return _page([checkpoint_object(job_id, c) for c in request.app.state.jobs.checkpoints(job_id)], after, limit)


def _page(items: list[dict], after: str | None, limit: int) -> dict:
    """OpenAI's cursor pages: items after the one with id ``after``, at most ``limit``."""
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    return listing(items[:limit], has_more=len(items) > limit)
