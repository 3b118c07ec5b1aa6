"""Tools, tool_choice and response_format of a chat request turned into a conversation and a constraint;
replies turned back into OpenAI's tool_calls; logprobs in OpenAI's shape. Shared by /v1/chat/completions
and /v1/responses."""

from __future__ import annotations

from dataclasses import dataclass

from mentor.data.conversation import Conversation
from mentor.data.tools import Call, Tool, as_conversation, parse_calls, read_tools
from mentor.errors import MentorError
from mentor.inference import grammar


@dataclass(frozen=True)
class Plan:
    conversation: Conversation
    constraint: grammar.Constraint | None
    tools: list[Tool]  # the tools the reply may call (empty: the reply is text)


def plan(messages: list[dict], tools: list[dict] | None, tool_choice, parallel: bool,
         response_format: dict | None, where: str = "messages") -> Plan:
    declared = read_tools(tools or [])
    choice = _choice(tool_choice, declared)
    active = declared if choice != "none" else []
    conversation = as_conversation(messages, active, where=where)
    if active:
        if response_format and response_format.get("type", "text") != "text":
            raise MentorError("response_format: a JSON format and tools cannot be combined; drop one, or set "
                              "tool_choice to 'none'.")
        return Plan(conversation, grammar.tool_calls(active, choice, parallel), active)
    return Plan(conversation, _format(response_format), [])


def _choice(tool_choice, tools: list[Tool]) -> str:
    if tool_choice is None:
        return "auto" if tools else "none"
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        if tool_choice.get("type") != "function" or not name:
            raise MentorError("tool_choice: expected 'none', 'auto', 'required' or "
                              "{\"type\": \"function\", \"function\": {\"name\": ...}}.")
        if name not in {t.name for t in tools}:
            raise MentorError(f"tool_choice: the function '{name}' is not among the tools "
                              f"({', '.join(t.name for t in tools) or 'none given'}).")
        return name
    if tool_choice != "none" and not tools:
        raise MentorError(f"tool_choice: '{tool_choice}' needs tools; the request declares none.")
    return tool_choice


def _format(response_format: dict | None) -> grammar.Constraint | None:
    if not response_format:
        return None
    kind = response_format.get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return grammar.json_object()
    if kind == "json_schema":
        spec = response_format.get("json_schema", response_format)  # the Responses API puts it flat
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise MentorError("response_format.json_schema.schema: a JSON schema object is required.")
        return grammar.json_schema(spec["schema"], strict=bool(spec.get("strict", True)))
    raise MentorError(f"response_format.type: '{kind}' is not one of text, json_object, json_schema.")


def split_reply(text: str, p: Plan) -> tuple[str | None, list[Call]]:
    """The reply's text and its tool calls (none unless the request declared tools)."""
    if not p.tools:
        return text, []
    return parse_calls(text)


def tool_call_objects(calls: list[Call], indexed: bool = False) -> list[dict]:
    out = []
    for i, c in enumerate(calls):
        item = {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        out.append({"index": i, **item} if indexed else item)
    return out


def logprob_objects(tokenizer, entries: list[tuple[int, float, list[tuple[int, float]]]]) -> list[dict]:
    """OpenAI's logprobs.content. ``bytes`` are the token's own bytes (half a character for a Chinese
    character split over two tokens, where ``token`` shows U+FFFD), so joined they give the exact text."""
    def one(token: int, value: float) -> dict:
        text = tokenizer.decode([token])
        return {"token": text, "logprob": value, "bytes": _token_bytes(tokenizer, token, text)}

    return [{**one(t, v), "top_logprobs": [one(a, b) for a, b in top]} for t, v, top in entries]


def _byte_decoder() -> dict[str, int]:
    """The byte-level BPE alphabet (GPT-2's): printable stand-ins for the 256 byte values."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    extra = [b for b in range(256) if b not in visible]
    return {chr(b): b for b in visible} | {chr(256 + i): b for i, b in enumerate(extra)}


_BYTES = _byte_decoder()


def _token_bytes(tokenizer, token: int, text: str) -> list[int]:
    piece = tokenizer.convert_ids_to_tokens(token)
    if isinstance(piece, str) and piece and all(c in _BYTES for c in piece) and "\ufffd" in text:
        return [_BYTES[c] for c in piece]
    return list(text.encode())
