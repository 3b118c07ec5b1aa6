"""Routes: /v1/models, /v1/chat/completions (also kb: models with citations), /v1/completions, /v1/embeddings."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from mentor.data.conversation import Conversation
from mentor.errors import MentorError
from mentor.inference import grammar
from mentor.inference.decode import stop_token_ids
from mentor.models.aliases import ALIASES
from mentor.serve import apps
from mentor.serve.engine import Handle, NotFound, Target
from mentor.serve.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    listing,
    model_object,
    usage,
)
from mentor.serve.structured import (
    Plan,
    logprob_objects,
    plan,
    split_reply,
    tool_call_objects,
)

router = APIRouter(prefix="/v1")


@router.get("/models")
async def list_models(request: Request) -> dict:
    engine = request.app.state.engine
    started = request.app.state.ws.home.stat().st_ctime if request.app.state.ws.home.exists() else time.time()
    data = [model_object(m, started, "mentor") for m in engine.base_models()]
    data += [model_object(m, created, "user") for m, _, created in await run_in_threadpool(engine.fine_tuned)]
    data += [model_object(m, path.stat().st_mtime, "user") for m, path in (await run_in_threadpool(engine.exports)).items()]
    from mentor.rag.knowledge_base import list_names

    data += [model_object(f"kb:{name}", started, "knowledge-base") for name in list_names(request.app.state.ws)]
    data += [model_object(name, started, "mentor") for name, a in ALIASES.items() if a.kind == "embedder"]
    data += [model_object(name, started, "app") for name in await run_in_threadpool(apps.model_ids, request.app.state.ws)]
    return listing(data)


@router.get("/models/{model:path}")
async def get_model(model: str, request: Request) -> dict:
    for item in (await list_models(request))["data"]:
        if item["id"] == model:
            return item
    raise NotFound(f"The model '{model}' does not exist.")


@router.post("/chat/completions")
async def chat(body: ChatRequest, request: Request):
    state = request.app.state
    if body.model.startswith(apps.PREFIX):
        answer = await apps.chat(request, body, f"chatcmpl-{secrets.token_hex(12)}", int(time.time()))
        return sse(answer) if body.stream else answer
    target = await run_in_threadpool(state.engine.resolve, body.model)
    p = await run_in_threadpool(plan, [m.model_dump(exclude_none=True) for m in body.messages], body.tools,
                                body.tool_choice, body.parallel_tool_calls, body.response_format)
    logprobs = (body.top_logprobs or 0) if body.logprobs else None
    sampling = body.sampling(body.max_completion_tokens or body.max_tokens, state.settings.max_tokens,
                             p.constraint, logprobs)
    reply_id, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    if target.kb:
        if p.constraint is not None or body.logprobs:
            raise MentorError("kb: models answer in text with citations; tools, response_format and logprobs "
                              "need a model id (see GET /v1/models).")
        return await _knowledge_base_chat(request, body, target, p.conversation, sampling, reply_id, created)
    tokenizer = await run_in_threadpool(compile_constraint, state.engine, target, p)
    handle = state.engine.submit(target, sampling, p.conversation, n=body.n, loop=asyncio.get_running_loop())
    if body.stream:
        return sse(_chat_chunks(handle, body.model, reply_id, created, include_usage, p, tokenizer), [handle])
    texts, finishes, prompt, completion, scored = await collect(handle)
    choices = []
    for i in range(body.n):
        content, calls = split_reply(texts[i], p)
        message = {"role": "assistant", "content": content, "refusal": None}
        if calls:
            message["tool_calls"] = tool_call_objects(calls)
        choices.append({"index": i, "message": message, "finish_reason": "tool_calls" if calls else finishes[i],
                        "logprobs": {"content": logprob_objects(tokenizer, scored[i])} if body.logprobs else None})
    return {"id": reply_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": choices, "usage": usage(prompt, completion)}


def compile_constraint(engine, target: Target, p: Plan):
    """The target's tokenizer, with the request's grammar compiled for it (once per schema; a schema the
    engine cannot take fails here, before the request queues)."""
    tokenizer = engine.tokenizer(target)
    if p.constraint is not None:
        grammar.Matcher(p.constraint, tokenizer, stop_token_ids(tokenizer))
    return tokenizer


@router.post("/completions")
async def completions(body: CompletionRequest, request: Request):
    state = request.app.state
    target = await run_in_threadpool(state.engine.resolve, body.model)
    if target.kb:
        raise MentorError("kb: models answer chat requests only; use /v1/chat/completions.")
    sampling = body.sampling(body.max_tokens, state.settings.max_tokens)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    loop = asyncio.get_running_loop()
    handles = [state.engine.submit(target, sampling, prompt=p, n=body.n, loop=loop) for p in prompts]
    reply_id, created = f"cmpl-{secrets.token_hex(12)}", int(time.time())
    if body.stream:
        return sse(_completion_chunks(handles, body, reply_id, created), handles)
    choices, prompt_total, completion_total = [], 0, 0
    for p, handle in enumerate(handles):
        texts, finishes, prompt, completion, _ = await collect(handle)
        prompt_total, completion_total = prompt_total + prompt, completion_total + completion
        for i in range(body.n):
            text = prompts[p] + texts[i] if body.echo else texts[i]
            choices.append({"index": p * body.n + i, "text": text, "finish_reason": finishes[i], "logprobs": None})
    return {"id": reply_id, "object": "text_completion", "created": created, "model": body.model,
            "choices": choices, "usage": usage(prompt_total, completion_total)}


@router.post("/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request) -> dict:
    if body.model not in ALIASES or ALIASES[body.model].kind != "embedder":
        known = ", ".join(n for n, a in ALIASES.items() if a.kind == "embedder")
        raise NotFound(f"The model '{body.model}' is not an embedding model (known: {known}).")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not t for t in texts):
        raise MentorError("input: must be a non-empty string or a list of non-empty strings.")
    cache = request.app.state.embedders
    if body.model not in cache:
        from mentor.rag.embedding import Embedder

        cache[body.model] = await run_in_threadpool(Embedder, body.model, request.app.state.ws)
    embedder = cache[body.model]
    vectors = await run_in_threadpool(embedder.embed, texts)
    if body.dimensions is not None and body.dimensions != vectors.shape[1]:
        raise MentorError(f"dimensions: {body.model} gives {vectors.shape[1]}-dimensional embeddings only.")
    tokens = sum(embedder.count_tokens(t) for t in texts)
    data = []
    for i, v in enumerate(vectors.astype("float32")):
        value = base64.b64encode(v.tobytes()).decode() if body.encoding_format == "base64" else v.tolist()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "data": data, "model": body.model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


# -- knowledge-base answers ---------------------------------------------------------------------
async def _knowledge_base_chat(request: Request, body: ChatRequest, target: Target, conversation: Conversation,
                               sampling, reply_id: str, created: int):
    from mentor.rag.answer import ask

    state = request.app.state
    question = next((m.content for m in reversed(conversation.messages) if m.role == "user"), "")
    if not question.strip():
        raise MentorError("messages: a kb: model needs a user message with the question.")
    kb = await run_in_threadpool(_knowledge_base, state, target.kb)
    base = Target(target.base, target.base)
    answer, pieces = await run_in_threadpool(
        ask, kb, None, question, streamer=lambda conv, _options: state.engine.stream_text(base, conv, sampling))

    def citations() -> list[dict]:
        return [{**s, "cited": s["n"] in answer.cited} for s in answer.sources()]

    if body.stream:
        async def chunks() -> AsyncIterator[dict]:
            head = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": body.model}
            yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                   "citations": citations()}
            async for piece in iterate_in_threadpool(pieces):
                yield {**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            yield {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "citations": citations()}

        return sse(chunks())
    text = "".join(await run_in_threadpool(list, pieces))
    return {"id": reply_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text.strip(), "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "citations": citations(), "usage": usage(0, 0)}


def _knowledge_base(state, name: str):
    from mentor.rag.knowledge_base import KnowledgeBase

    if name not in state.knowledge_bases:
        state.knowledge_bases[name] = KnowledgeBase.open(name, state.ws)
    return state.knowledge_bases[name]


# -- streaming --------------------------------------------------------------------------------
async def collect(handle: Handle) -> tuple[list[str], list[str | None], int, int, list[list]]:
    texts, finishes, scored = [""] * handle.n, [None] * handle.n, [[] for _ in range(handle.n)]
    prompt = completion = 0
    async for e in handle.events():
        if e.error:
            raise MentorError(e.error)
        texts[e.index] += e.delta
        scored[e.index] += e.logprobs or []
        prompt = max(prompt, e.prompt_tokens)
        completion += e.completion_tokens
        finishes[e.index] = e.finish_reason or finishes[e.index]
    return texts, finishes, prompt, completion, scored


async def _chat_chunks(handle: Handle, model: str, reply_id: str, created: int, include_usage: bool,
                       p: Plan, tokenizer):
    """Chunks as text arrives. With tools, a reply is held back while it may still be a call (it starts
    with ``<``); a call goes out whole as a tool_calls delta when it has been generated."""
    head = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model}
    started, held, prompt, completion = set(), {}, 0, 0
    async for e in handle.events():
        if e.error:
            yield {"error": {"message": e.error, "type": "server_error", "param": None, "code": None}}
            return
        prompt, completion = max(prompt, e.prompt_tokens), completion + e.completion_tokens
        if e.index not in started:
            started.add(e.index)
            yield {**head, "choices": [{"index": e.index, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None, "logprobs": None}]}
        delta, finish = e.delta, e.finish_reason
        if p.tools and e.index not in held or held.get(e.index) is not None:
            text = held.get(e.index, "") + delta
            if not text.lstrip() or text.lstrip().startswith("<"):  # may be a call: wait
                held[e.index], delta = text, ""
            else:
                held[e.index], delta = None, text
        scored = {"content": logprob_objects(tokenizer, e.logprobs)} if e.logprobs is not None else None
        if finish and held.get(e.index):
            content, calls = split_reply(held[e.index], p)
            if calls:
                yield {**head, "choices": [{"index": e.index, "delta": {"tool_calls": tool_call_objects(calls, True)},
                                            "finish_reason": None, "logprobs": scored}]}
                delta, finish, scored = "", "tool_calls", None
            else:
                delta = held[e.index]
        if delta or finish:
            yield {**head, "choices": [{"index": e.index, "delta": {"content": delta} if delta else {},
                                        "finish_reason": finish, "logprobs": scored}]}
    if include_usage:
        yield {**head, "choices": [], "usage": usage(prompt, completion)}


async def _completion_chunks(handles: list[Handle], body: CompletionRequest, reply_id: str, created: int):
    head = {"id": reply_id, "object": "text_completion", "created": created, "model": body.model}
    for p, handle in enumerate(handles):
        async for e in handle.events():
            if e.error:
                yield {"error": {"message": e.error, "type": "server_error", "param": None, "code": None}}
                return
            if e.delta or e.finish_reason:
                yield {**head, "choices": [{"index": p * body.n + e.index, "text": e.delta,
                                            "finish_reason": e.finish_reason, "logprobs": None}]}


def sse(chunks: AsyncIterator[dict], handles: list[Handle] = ()) -> StreamingResponse:
    async def body():
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
        finally:  # also when the client disconnects mid-stream: its rows stop generating
            for handle in handles:
                handle.cancelled = True

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
