"""Apps served as models: ``app:<name>`` on /v1/models and /v1/chat/completions (streaming included), with
the engine's ``mentor`` metadata (route, tool calls, guard findings, citations); /v1/apps, their logs, metrics and
iteration rounds; POST /v1/feedback rates a response by its id."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from mentor.data.conversation import Conversation, Message
from mentor.apps import feedback
from mentor.engine import audit, store
from mentor.engine.app import Apps
from mentor.errors import MentorError
from mentor.generation import GenerationOptions
from mentor.serve.engine import NotFound
from mentor.serve.protocol import ChatRequest, FeedbackRequest, PromoteRequest, listing, usage

router = APIRouter(prefix="/v1")
PREFIX = "app:"


class ServedGenerator:
    """The engine's generator on the server: every model call goes through the batching engine."""

    def __init__(self, engine):
        self.engine = engine

    def stream(self, model: str, conversation: Conversation, options: GenerationOptions) -> Iterator[str]:
        return self.engine.stream_text(self.engine.resolve(model), conversation, options.sampling(options.seed))

    def tokenizer(self, model: str):
        return self.engine.tokenizer(self.engine.resolve(model))


def apps(state) -> Apps:
    if getattr(state, "apps", None) is None:
        state.apps = Apps(state.ws, ServedGenerator(state.engine))
    return state.apps


def model_ids(ws) -> list[str]:
    return [PREFIX + a.config.name for a in store.list_apps(ws)]


def _runtime(state, model: str):
    try:
        return apps(state).get(model.removeprefix(PREFIX))
    except MentorError as e:
        raise NotFound(f"The model '{model}' does not exist: {e}") from None


async def chat(request: Request, body: ChatRequest, reply_id: str, created: int):
    """/v1/chat/completions for an ``app:`` model: the app answers; the reply carries ``mentor`` metadata.
    Streamed: the chunks (the caller sends them as server-sent events)."""
    if body.tools or body.response_format or body.logprobs or body.n != 1:
        raise MentorError("app: models answer in text through their own flows; tools, response_format, logprobs "
                          "and n > 1 need a model id (see GET /v1/models).")
    runtime = await run_in_threadpool(_runtime, request.app.state, body.model)
    messages = []
    for i, m in enumerate(body.messages):
        if m.role not in ("system", "developer", "user", "assistant") or not isinstance(m.content, str):
            raise MentorError(f"messages[{i}]: app: models take system, user and assistant messages with text content.")
        messages.append(Message("system" if m.role == "developer" else m.role, m.content))
    conversation = (body.metadata or {}).get("conversation_id")
    reply = await run_in_threadpool(runtime.respond, messages, reply_id, conversation)
    head = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": body.model}
    if body.stream:
        async def chunks() -> AsyncIterator[dict]:
            yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
            async for piece in iterate_in_threadpool(reply.pieces):
                yield {**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            u = reply.trace.usage
            yield {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "mentor": reply.trace.to_json(),
                   **({"usage": usage(u.prompt_tokens, u.completion_tokens)} if (body.stream_options or {}).get("include_usage") else {})}

        return chunks()
    text = await run_in_threadpool(reply.read)
    u = reply.trace.usage
    return {"id": reply_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": usage(u.prompt_tokens, u.completion_tokens), "mentor": reply.trace.to_json()}


@router.get("/apps")
async def list_apps(request: Request) -> dict:
    return listing([{**store.dump(a), "object": "app", "id": PREFIX + a.config.name}
                    for a in await run_in_threadpool(store.list_apps, request.app.state.ws)])


@router.get("/apps/{name}")
async def get_app(name: str, request: Request) -> dict:
    stored = await run_in_threadpool(_stored, request.app.state.ws, name)
    return {**store.dump(stored), "object": "app", "id": PREFIX + name}


@router.get("/apps/{name}/logs")
async def logs(name: str, request: Request, since: float | None = None, limit: int = 100) -> dict:
    """The app's audit log, newest first (``since``: a Unix time)."""
    ws = request.app.state.ws
    await run_in_threadpool(_stored, ws, name)
    rows = await run_in_threadpool(audit.read, ws, name, since, max(1, min(limit, 1000)))
    return listing([{**r, "object": "app.log"} for r in rows])


@router.get("/apps/{name}/metrics")
async def app_metrics(name: str, request: Request, days: int | None = None) -> dict:
    """Per-day business metrics (requests, conversations, turns, thumbs-up rate, blocks, routes, latency)."""
    ws = request.app.state.ws
    await run_in_threadpool(_stored, ws, name)
    rows = await run_in_threadpool(feedback.metrics, ws, name, days)
    return listing([{**r, "object": "app.metrics.day"} for r in rows])


@router.get("/apps/{name}/iterations")
async def app_iterations(name: str, request: Request) -> dict:
    """The app's iteration rounds (``mentor iterate APP``), newest first."""
    from mentor.apps import iterations

    ws = request.app.state.ws
    await run_in_threadpool(_stored, ws, name)
    return listing([{**r, "object": "app.iteration"} for r in await run_in_threadpool(iterations, ws, name)])


@router.get("/apps/{name}/cases")
async def app_cases(name: str, request: Request, since: float | None = None) -> dict:
    """The bad cases worth fixing now (``mentor iterate mine``), each with why it was picked."""
    from mentor.apps import mine

    ws = request.app.state.ws
    await run_in_threadpool(_stored, ws, name)
    return listing([{**c, "object": "app.case"} for c in await run_in_threadpool(mine, ws, name, since)])


@router.post("/apps/{name}/promote")
async def app_promote(name: str, body: PromoteRequest, request: Request) -> dict:
    """Serve ``run`` if it beats the current model (``mentor app promote``; ``force`` skips the comparison)."""
    from mentor.apps import promote

    ws = request.app.state.ws
    await run_in_threadpool(_stored, ws, name)
    saved = await run_in_threadpool(promote, ws, name, body.run, body.force)
    return {**store.dump(saved), "object": "app", "id": PREFIX + name}


@router.post("/apps/{name}/rollback")
async def app_rollback(name: str, request: Request) -> dict:
    """Serve the model the app served before its current one (``mentor app rollback``)."""
    from mentor.apps import rollback

    ws = request.app.state.ws
    await run_in_threadpool(_stored, ws, name)
    saved = await run_in_threadpool(rollback, ws, name)
    return {**store.dump(saved), "object": "app", "id": PREFIX + name}


@router.post("/feedback")
async def post_feedback(body: FeedbackRequest, request: Request) -> dict:
    """A rating (1 or -1) of an app response, with an optional comment and correction; 404 for an unknown id."""
    return await run_in_threadpool(feedback.record, request.app.state.ws, body.id, body.rating, body.comment,
                                   body.correction)


def _stored(ws, name: str):
    try:
        return store.get(name, ws)
    except MentorError as e:
        raise NotFound(str(e)) from None
