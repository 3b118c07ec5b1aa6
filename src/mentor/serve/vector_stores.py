"""Routes: /v1/vector_stores, their files and search, backed by knowledge bases (one per store, named
after the store's id, so each store is also a ``kb:<id>`` chat model)."""

from __future__ import annotations

import json
import secrets
import time
from contextlib import closing
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mentor.errors import MentorError
from mentor.serve.engine import NotFound
from mentor.serve.protocol import (
    VectorStoreFileRequest,
    VectorStoreRequest,
    VectorStoreSearchRequest,
    listing,
)

router = APIRouter(prefix="/v1/vector_stores")


def _record(state, store_id: str) -> dict:
    record = state.ws.record("vector_stores", store_id)
    if record is None:
        raise NotFound(f"No such vector store: '{store_id}'.")
    return record


def _kb(state, store_id: str):
    from mentor.rag.knowledge_base import KnowledgeBase

    _record(state, store_id)
    if store_id not in state.knowledge_bases:
        state.knowledge_bases[store_id] = KnowledgeBase.open(store_id, state.ws)
    return state.knowledge_bases[store_id]


def _attached(state, store_id: str) -> list[dict]:
    """The uploaded files indexed in the store (chunks' sources are the stored uploads' paths)."""
    sources = _kb(state, store_id).store.sources()
    files = []
    for source in sources:
        try:
            files.append(state.files.get(Path(source).stem))
        except NotFound:  # a file deleted from /v1/files stays searchable until detached
            files.append({"id": Path(source).stem, "bytes": 0, "created": 0, "path": source})
    return files


def _store_object(state, record: dict) -> dict:
    files = _attached(state, record["id"])
    return {"id": record["id"], "object": "vector_store", "created_at": int(record["created"]), "name": record["name"],
            "usage_bytes": sum(f["bytes"] for f in files), "status": "completed", "last_active_at": int(time.time()),
            "file_counts": {"in_progress": 0, "completed": len(files), "failed": 0, "cancelled": 0, "total": len(files)},
            "metadata": json.loads(record["metadata"]), "expires_after": None, "expires_at": None}


def _file_object(store_id: str, file: dict, error: str | None = None) -> dict:
    return {"id": file["id"], "object": "vector_store.file", "created_at": int(file["created"]),
            "vector_store_id": store_id, "usage_bytes": file["bytes"], "status": "failed" if error else "completed",
            "last_error": {"code": "unsupported_file", "message": error} if error else None, "attributes": {}}


@router.post("")
async def create_store(body: VectorStoreRequest, request: Request) -> dict:
    from mentor.rag.knowledge_base import KnowledgeBase

    state = request.app.state
    store_id = f"vs_{secrets.token_hex(12)}"
    files = [state.files.get(f) for f in body.file_ids]  # unknown ids fail before anything is created
    state.knowledge_bases[store_id] = await run_in_threadpool(KnowledgeBase.create, store_id, workspace=state.ws)
    record = {"id": store_id, "name": body.name, "created": time.time(), "metadata": json.dumps(body.metadata or {})}
    with closing(state.ws.connect()) as con, con:
        con.execute("INSERT INTO vector_stores VALUES (:id, :name, :created, :metadata)", record)
    if files:
        await run_in_threadpool(state.knowledge_bases[store_id].add, [f["path"] for f in files])
    return _store_object(state, record)


@router.get("")
async def list_stores(request: Request) -> dict:
    state = request.app.state
    with closing(state.ws.connect()) as con:
        rows = [dict(r) for r in con.execute("SELECT * FROM vector_stores ORDER BY created DESC")]
    return listing([_store_object(state, r) for r in rows])


@router.get("/{store_id}")
async def get_store(store_id: str, request: Request) -> dict:
    return _store_object(request.app.state, _record(request.app.state, store_id))


@router.delete("/{store_id}")
async def delete_store(store_id: str, request: Request) -> dict:
    state = request.app.state
    kb = _kb(state, store_id)
    await run_in_threadpool(kb.delete)
    state.knowledge_bases.pop(store_id, None)
    with closing(state.ws.connect()) as con, con:
        con.execute("DELETE FROM vector_stores WHERE id = ?", (store_id,))
    return {"id": store_id, "object": "vector_store.deleted", "deleted": True}


@router.post("/{store_id}/files")
async def attach_file(store_id: str, body: VectorStoreFileRequest, request: Request) -> dict:
    state = request.app.state
    kb, file = _kb(state, store_id), state.files.get(body.file_id)
    report = await run_in_threadpool(kb.add, [file["path"]])
    return _file_object(store_id, file, report.failed[0][1] if report.failed else None)


@router.get("/{store_id}/files")
async def list_store_files(store_id: str, request: Request) -> dict:
    return listing([_file_object(store_id, f) for f in _attached(request.app.state, store_id)])


@router.delete("/{store_id}/files/{file_id}")
async def detach_file(store_id: str, file_id: str, request: Request) -> dict:
    state = request.app.state
    kb = _kb(state, store_id)
    source = next((f["path"] for f in _attached(state, store_id) if f["id"] == file_id), None)
    if source is None:
        raise NotFound(f"File {file_id} is not in vector store {store_id}.")
    await run_in_threadpool(kb.remove, source)
    return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}


@router.post("/{store_id}/search")
async def search_store(store_id: str, body: VectorStoreSearchRequest, request: Request) -> dict:
    from mentor.rag.retrieval import search

    state = request.app.state
    kb = _kb(state, store_id)
    query = body.query if isinstance(body.query, str) else " ".join(body.query)
    hits = await run_in_threadpool(search, kb, query, "hybrid", body.max_num_results, _filters(state, body.filters))
    names = {f["id"]: f.get("filename", f["id"]) for f in _attached(state, store_id)}
    data = []
    for hit in hits:
        file_id = Path(hit.chunk.source).stem
        data.append({"file_id": file_id, "filename": names.get(file_id, file_id), "score": hit.score,
                     "attributes": {"location": hit.chunk.location, "heading": hit.chunk.heading},
                     "content": [{"type": "text", "text": hit.chunk.text}]})
    return {"object": "vector_store.search_results.page", "search_query": [query], "data": data,
            "has_more": False, "next_page": None}


def _filters(state, spec: dict | None) -> dict[str, str] | None:
    """OpenAI's comparison filters, as far as they map: ``eq`` on file_id, heading or location, and
    ``and`` of those."""
    if not spec:
        return None
    parts = spec.get("filters", []) if spec.get("type") == "and" else [spec]
    out = {}
    for part in parts:
        if part.get("type") != "eq" or part.get("key") not in ("file_id", "heading", "location"):
            raise MentorError("filters: only 'eq' on file_id, heading or location (or 'and' of those) is supported.")
        if part["key"] == "file_id":
            out["source"] = str(Path(state.files.get(part["value"])["path"]).resolve())
        else:
            out[part["key"]] = str(part["value"])
    return out
