"""/v1/responses: the Responses API's subset that clients moving off the Assistants API use first: text
input or messages, instructions, function tools (and their results fed back), a JSON-schema text format,
streamed or not. Generation is the chat route's: the same plan, engine and constraint."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mentor.errors import MentorError
from mentor.inference.decode import Sampling
from mentor.serve.inference import collect, compile_constraint, sse
from mentor.serve.protocol import ResponsesRequest
from mentor.serve.structured import Plan, plan, split_reply

router = APIRouter(prefix="/v1")


def _messages(body: ResponsesRequest) -> list[dict]:
    """Input items as chat messages: messages, function calls the model made, and their outputs."""
    out: list[dict] = [{"role": "system", "content": body.instructions}] if body.instructions else []
    if isinstance(body.input, str):
        return out + [{"role": "user", "content": body.input}]
    for i, item in enumerate(body.input):
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise MentorError(f"input[{i}].role: expected user, assistant, system or developer.")
            out.append({"role": item["role"], "content": item.get("content") or ""})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
            if out and out[-1]["role"] == "assistant" and out[-1].get("tool_calls"):
                out[-1]["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"),
                        "content": output if isinstance(output, str) else str(output)})
        else:
            raise MentorError(f"input[{i}].type: '{kind}' is not supported (message, function_call, "
                              "function_call_output).")
    if not out:
        raise MentorError("input: give a string or at least one message.")
    return out


@router.post("/responses")
async def responses(body: ResponsesRequest, request: Request):
    state = request.app.state
    target = await run_in_threadpool(state.engine.resolve, body.model)
    if target.kb:
        raise MentorError("kb: models answer on /v1/chat/completions; the Responses API takes model ids.")
    text_format = (body.text or {}).get("format")
    p = await run_in_threadpool(plan, _messages(body), body.tools, body.tool_choice, body.parallel_tool_calls,
                                text_format, "input")
    await run_in_threadpool(compile_constraint, state.engine, target, p)
    limit = min(body.max_output_tokens or state.settings.max_tokens, state.settings.max_tokens)
    sampling = Sampling(limit, body.temperature, body.top_p, constraint=p.constraint)
    handle = state.engine.submit(target, sampling, p.conversation, loop=asyncio.get_running_loop())
    shell = {"id": f"resp_{secrets.token_hex(12)}", "object": "response", "created_at": int(time.time()),
             "model": body.model, "instructions": body.instructions, "metadata": body.metadata or {},
             "parallel_tool_calls": body.parallel_tool_calls, "temperature": body.temperature, "top_p": body.top_p,
             "tool_choice": body.tool_choice or "auto", "tools": body.tools or [], "text": body.text or {"format": {"type": "text"}},
             "max_output_tokens": body.max_output_tokens, "truncation": "disabled", "error": None,
             "incomplete_details": None}
    if body.stream:
        return sse(_events(handle, shell, p), [handle])
    texts, finishes, prompt, completion, _ = await collect(handle)
    return _finished(shell, texts[0], finishes[0], p, prompt, completion)


def _finished(shell: dict, text: str, finish: str | None, p: Plan, prompt: int, completion: int) -> dict:
    content, calls = split_reply(text, p)
    output = []
    if content:
        output.append({"type": "message", "id": f"msg_{secrets.token_hex(12)}", "status": "completed",
                       "role": "assistant", "content": [{"type": "output_text", "text": content, "annotations": []}]})
    for c in calls:
        output.append({"type": "function_call", "id": f"fc_{secrets.token_hex(12)}", "call_id": c.id, "name": c.name,
                       "arguments": c.arguments, "status": "completed"})
    incomplete = finish == "length" and not calls
    return {**shell, "status": "incomplete" if incomplete else "completed", "output": output,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "usage": {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}


async def _events(handle, shell: dict, p: Plan) -> AsyncIterator[dict]:
    """Streaming events: text deltas as they come (held back while the reply may be a tool call), then the
    finished items and ``response.completed``."""
    seq = iter(range(1 << 30))
    pending = {**shell, "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": next(seq), "response": pending}
    yield {"type": "response.in_progress", "sequence_number": next(seq), "response": pending}
    item_id, text, shown, prompt, completion, finish = f"msg_{secrets.token_hex(12)}", "", 0, 0, 0, None
    opened = False
    async for e in handle.events():
        if e.error:
            yield {"type": "error", "sequence_number": next(seq), "code": "server_error", "message": e.error, "param": None}
            return
        text += e.delta
        prompt, completion, finish = max(prompt, e.prompt_tokens), completion + e.completion_tokens, e.finish_reason
        if p.tools and (not text.lstrip() or text.lstrip().startswith("<")):
            continue  # may be a tool call: it goes out whole at the end
        if not opened and text[shown:]:
            opened = True
            yield {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": 0,
                   "item": {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}}
            yield {"type": "response.content_part.added", "sequence_number": next(seq), "item_id": item_id,
                   "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}
        if opened and len(text) > shown:
            yield {"type": "response.output_text.delta", "sequence_number": next(seq), "item_id": item_id,
                   "output_index": 0, "content_index": 0, "delta": text[shown:], "logprobs": []}
            shown = len(text)
    final = _finished(shell, text, finish, p, prompt, completion)
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            item["id"] = item_id
            if not opened:  # held back as a possible call, then it was text: all of it at once
                yield {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": index,
                       "item": {**item, "status": "in_progress", "content": []}}
                yield {"type": "response.content_part.added", "sequence_number": next(seq), "item_id": item_id,
                       "output_index": index, "content_index": 0,
                       "part": {"type": "output_text", "text": "", "annotations": []}}
                yield {"type": "response.output_text.delta", "sequence_number": next(seq), "item_id": item_id,
                       "output_index": index, "content_index": 0, "delta": item["content"][0]["text"], "logprobs": []}
            yield {"type": "response.output_text.done", "sequence_number": next(seq), "item_id": item_id,
                   "output_index": index, "content_index": 0, "text": item["content"][0]["text"], "logprobs": []}
            yield {"type": "response.content_part.done", "sequence_number": next(seq), "item_id": item_id,
                   "output_index": index, "content_index": 0, "part": item["content"][0]}
        else:
            yield {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": index,
                   "item": {**item, "status": "in_progress", "arguments": ""}}
            yield {"type": "response.function_call_arguments.delta", "sequence_number": next(seq),
                   "item_id": item["id"], "output_index": index, "delta": item["arguments"]}
            yield {"type": "response.function_call_arguments.done", "sequence_number": next(seq),
                   "item_id": item["id"], "output_index": index, "arguments": item["arguments"], "name": item["name"]}
        yield {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": index, "item": item}
    yield {"type": "response.completed" if final["status"] == "completed" else "response.incomplete",
           "sequence_number": next(seq), "response": final}
