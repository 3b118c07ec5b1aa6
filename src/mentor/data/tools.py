"""Function tools in conversations: OpenAI's ``tools`` / ``tool_calls`` / ``tool`` messages as the text a
model reads and writes.

One format for serving and training: Hermes-style tags (the format Qwen2.5 and Hermes models were trained
on, and what a model without a tool format of its own learns from a few hundred examples). The tools are
listed in the system turn inside ``<tools>``; a call is ``<tool_call>{"name": .., "arguments": {..}}</tool_call>``
in the assistant turn; a tool's result comes back in a user turn inside ``<tool_response>``. The plain
:class:`~mentor.data.conversation.Conversation` carries the result, so every chat template renders it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from mentor.data.conversation import Conversation, Message
from mentor.errors import DataError

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
INSTRUCTIONS = (
    "You can call functions to answer. The functions, as JSON schemas:\n<tools>\n{tools}\n</tools>\n"
    "To call a function, reply with only:\n<tool_call>\n{{\"name\": <function name>, \"arguments\": <JSON object>}}\n"
    "</tool_call>\nA function's result comes back inside <tool_response></tool_response>."
)


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: dict  # a JSON schema for the arguments object
    description: str = ""

    def spec(self) -> dict:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # JSON text of the arguments object, as OpenAI sends it
    id: str = ""


def read_tools(tools: Iterable[dict], where: str = "tools") -> list[Tool]:
    """OpenAI function tools (``{"type": "function", "function": {...}}``, or the Responses API's flat
    ``{"type": "function", "name": ..}``) checked: names unique, parameters a valid JSON schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    out: list[Tool] = []
    for i, item in enumerate(tools):
        if not isinstance(item, dict) or item.get("type", "function") != "function":
            raise DataError(f"{where}[{i}]: only function tools are supported (type 'function').")
        spec = item.get("function", item)
        name = spec.get("name")
        if not isinstance(name, str) or not name or len(name) > 64:
            raise DataError(f"{where}[{i}].function.name: a function needs a name of 1-64 characters.")
        parameters = spec.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise DataError(f"{where}[{i}].function.parameters: must be a JSON schema object.")
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as e:
            raise DataError(f"{where}[{i}].function.parameters: invalid JSON schema: {e.message}") from None
        if any(t.name == name for t in out):
            raise DataError(f"{where}[{i}].function.name: '{name}' is declared twice.")
        out.append(Tool(name, parameters, spec.get("description") or ""))
    return out


def call_text(call: Call) -> str:
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as e:
        raise DataError(f"tool call '{call.name}': arguments are not JSON ({e.msg}).") from None
    body = json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False)
    return f"{CALL_OPEN}\n{body}\n{CALL_CLOSE}"


def as_conversation(messages: list[dict], tools: list[Tool] = (), line: int = 0, where: str = "messages") -> Conversation:
    """OpenAI chat messages, with assistant ``tool_calls`` and ``tool`` results, as a plain conversation.
    Each ``tool`` message must answer a call made earlier (by ``tool_call_id``)."""
    out: list[Message] = []
    open_calls: dict[str, str] = {}
    results: list[str] = []

    def flush() -> None:
        if results:
            out.append(Message("user", "\n".join(results)))
            results.clear()

    for i, m in enumerate(messages):
        role, content = m.get("role"), _text(m.get("content"))
        if role == "tool":
            call_id = m.get("tool_call_id")
            if not call_id or call_id not in open_calls:
                raise DataError(f"{where}[{i}]: a tool message needs the tool_call_id of an earlier assistant "
                                f"tool call (got {call_id!r}; calls so far: {', '.join(open_calls) or 'none'}).")
            results.append(f"{RESPONSE_OPEN}\n{content}\n{RESPONSE_CLOSE}")
            continue
        flush()
        role = {"developer": "system"}.get(role, role)
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for j, c in enumerate(m["tool_calls"]):
                fn = c.get("function") or {}
                if not fn.get("name"):
                    raise DataError(f"{where}[{i}].tool_calls[{j}].function.name: missing.")
                open_calls[c.get("id") or f"call_{i}_{j}"] = fn["name"]
                calls.append(call_text(Call(fn["name"], fn.get("arguments") or "{}")))
            content = "\n".join(([content] if content else []) + calls)
        out.append(Message(role, content))
    flush()
    return with_tools(Conversation(tuple(out), line=line), tools)


def with_tools(conversation: Conversation, tools: list[Tool]) -> Conversation:
    """The conversation with the tools listed in its system turn (added when it has none)."""
    if not tools:
        return conversation
    out = list(conversation.messages)
    system = INSTRUCTIONS.format(tools="\n".join(json.dumps(t.spec(), ensure_ascii=False) for t in tools))
    if out and out[0].role == "system":
        out[0] = Message("system", f"{out[0].content}\n\n{system}")
    else:
        out.insert(0, Message("system", system))
    return Conversation(tuple(out), line=conversation.line, meta=conversation.meta)


def parse_calls(text: str) -> tuple[str | None, list[Call]]:
    """A reply split into its text and its ``<tool_call>`` blocks (ids made here). A block that does not
    parse stays in the text."""
    calls, rest, at = [], [], 0
    while (start := text.find(CALL_OPEN, at)) >= 0:
        end = text.find(CALL_CLOSE, start)
        if end < 0:
            break
        try:
            body = json.loads(text[start + len(CALL_OPEN):end])
            name, arguments = body["name"], body.get("arguments", {})
        except (json.JSONDecodeError, KeyError, TypeError):
            rest.append(text[at:end + len(CALL_CLOSE)])
        else:
            rest.append(text[at:start])
            calls.append(Call(name, json.dumps(arguments, ensure_ascii=False), f"call_{secrets.token_hex(12)}"))
        at = end + len(CALL_CLOSE)
    tail = text[at:]
    if calls and CALL_OPEN in tail:  # a further call cut off by the token limit
        tail = tail[:tail.find(CALL_OPEN)]
    content = ("".join(rest) + tail).strip()
    return content or None, calls


def check_call(call: Call, tools: list[Tool]) -> str | None:
    """Why ``call`` does not fit the declared tools (None: it does)."""
    from jsonschema import Draft202012Validator

    tool = next((t for t in tools if t.name == call.name), None)
    if tool is None:
        return f"calls '{call.name}', which is not among the tools ({', '.join(t.name for t in tools) or 'none'})"
    try:
        arguments = json.loads(call.arguments)
    except json.JSONDecodeError as e:
        return f"'{call.name}' arguments are not JSON ({e.msg})"
    error = next(iter(Draft202012Validator(tool.parameters).iter_errors(arguments)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        return f"'{call.name}' {where}: {error.message}"
    return None


def _text(content) -> str:
    if isinstance(content, list):  # content parts: the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text"))
    return content or ""
