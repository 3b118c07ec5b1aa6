"""Detect and load chat / instruction / text data sets, reporting every problem with file, line and field.

Supported: OpenAI chat JSONL (``messages``), Alpaca (``instruction``/``input``/``output``, optional
``system``/``history``; JSON array or JSONL), ShareGPT (``conversations`` of ``from``/``value``),
and plain text for continued pre-training (``.txt``/``.md`` files, or JSONL with ``text``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.data.conversation import ROLES, Conversation, Message
from mentor.errors import DataError

FORMATS = ("openai", "alpaca", "sharegpt", "text")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "chatgpt": "assistant", "model": "assistant", "system": "system"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one example; ``str()`` gives ``file:line: field: message``."""

    file: str
    line: int
    field: str | None
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f": {self.field}" if self.field else "")
        return f"{where}: {self.message}"


@dataclass
class LoadResult:
    path: Path
    format: str
    examples: list[Conversation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def load_examples(path: str | Path) -> list[Conversation]:
    """The examples of ``path``, or a DataError naming the first problem (for commands that need clean data)."""
    result = load(path)
    if result.errors:
        raise DataError(f"{len(result.errors)} problem(s) in {path}, first: {result.errors[0]}. "
                        f"See all with: mentor data check {path}")
    return result.examples


def json_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line, object) of a JSONL / JSON file; bad JSON raises a DataError with file and line."""
    for number, obj, error in read_records(Path(path)):
        if error is not None:
            raise DataError(f"{path}:{number}: {error}.")
        yield number, obj


def load(path: str | Path, fmt: str | None = None) -> LoadResult:
    """Read a data file, detect its format (unless ``fmt`` is given) and normalise every example.

    Broken examples are skipped and reported in ``problems``; nothing raises for bad examples.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Data file '{path}' does not exist or is not a file.")
    if fmt is not None and fmt not in FORMATS:
        raise DataError(f"Unknown data format '{fmt}' (known: {', '.join(FORMATS)}).")
    if path.suffix.lower() in (".txt", ".md"):
        return LoadResult(path, "text", list(_read_plain_text(path)))
    result = LoadResult(path, fmt or "")
    records = []
    for line, obj, error in read_records(path):
        if error is not None:
            result.problems.append(Problem(path.name, line, None, error))
        elif not isinstance(obj, dict):
            result.problems.append(Problem(path.name, line, None, f"expected a JSON object, got {type(obj).__name__}"))
        else:
            records.append((line, obj))
    if not result.format:
        result.format = _detect(path, records)
    convert = _CONVERTERS[result.format]
    for line, obj in records:
        problems: list[Problem] = []
        example = convert(obj, line, lambda f, m, line=line: problems.append(Problem(path.name, line, f, m)))
        result.problems.extend(problems)
        if example is not None and not problems:
            result.examples.append(example)
    return result


def _detect(path: Path, records: list[tuple[int, dict]]) -> str:
    for line, obj in records:
        keys = set(obj)
        if {"chosen", "rejected"} <= keys or "preferred_output" in keys:
            raise DataError(f"{path.name}:{line}: these are preference rows (a prompt, a chosen and a rejected answer): "
                            "train on them with --objective dpo.")
        if "messages" in keys:
            return "openai"
        if "conversations" in keys:
            return "sharegpt"
        if "instruction" in keys or "output" in keys:
            return "alpaca"
        if "text" in keys:
            return "text"
        raise DataError(
            f"{path.name}:{line}: cannot tell the data format from the fields {sorted(keys)}; expected "
            "'messages' (OpenAI chat), 'conversations' (ShareGPT), 'instruction'/'output' (Alpaca) or 'text'."
        )
    raise DataError(f"{path.name}: no examples found (the file is empty or has no valid JSON records).")


def read_records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line, object, error) for a JSONL file or a JSON file holding one object or an array."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name}: not UTF-8 text (byte {e.start}); save the file as UTF-8.") from e
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith("["):
        yield from _read_json_array(path, text)
        return
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw), None
        except json.JSONDecodeError as e:
            yield number, None, f"bad JSON at column {e.colno}: {e.msg}"


def _read_json_array(path: Path, text: str) -> Iterator[tuple[int, Any, str | None]]:
    decoder = json.JSONDecoder()
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as e:
        yield e.lineno, None, f"bad JSON at column {e.colno}: {e.msg}"
        return
    if not isinstance(data, list):
        yield 1, data, None
        return
    # Walk the array again with raw_decode to learn where each element starts (its line).
    pos = text.index("[") + 1
    for _ in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        obj, end = decoder.raw_decode(text, pos)
        yield text.count("\n", 0, pos) + 1, obj, None
        pos = end


def _read_plain_text(path: Path) -> Iterator[Conversation]:
    """Paragraphs separated by blank lines become one continued-pre-training example each."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name}: not UTF-8 text (byte {e.start}); save the file as UTF-8.") from e
    start, block = 0, []
    for number, raw in enumerate([*lines, ""], start=1):
        if raw.strip():
            if not block:
                start = number
            block.append(raw)
        elif block:
            yield Conversation(text="\n".join(block), line=start)
            block = []


def _string(obj: dict, key: str, report, path: str | None = None, required: bool = True) -> str | None:
    name = path or key
    if key not in obj or obj[key] is None:
        if required:
            report(name, "missing")
        return None
    value = obj[key]
    if isinstance(value, list):  # OpenAI content parts: [{"type": "text", "text": ...}]
        parts = [p.get("text") for p in value if isinstance(p, dict) and p.get("type") == "text"]
        if len(parts) == len(value) and all(isinstance(p, str) for p in parts):
            value = "".join(parts)
    if not isinstance(value, str):
        report(name, f"expected a string, got {type(value).__name__}")
        return None
    if required and not value.strip():
        report(name, "empty content")
        return None
    return value


def _finish(messages: list[Message], line: int, report, where: str) -> Conversation | None:
    if not any(m.role == "assistant" for m in messages):
        report(where, "no assistant turn to learn from")
        return None
    return Conversation(tuple(messages), line=line)


def _from_openai(obj: dict, line: int, report) -> Conversation | None:
    raw = obj.get("messages")
    if "tools" in obj or isinstance(raw, list) and any(
            isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in raw):
        return _from_openai_tools(obj, line, report)
    roles = {r: r for r in ROLES}
    messages = _turns(obj, "messages", "role", "content", roles, f"one of {', '.join(ROLES)}", report)
    return None if messages is None else _finish(messages, line, report, "messages")


def _from_openai_tools(obj: dict, line: int, report) -> Conversation | None:
    """A chat with ``tools``, assistant ``tool_calls`` and ``tool`` results: rendered in the tool-call text
    format (see :mod:`mentor.data.tools`); every call is checked against the declared tools' schemas."""
    from mentor.data.tools import Call, as_conversation, check_call, read_tools

    raw = obj.get("messages")
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        report("messages", "expected a non-empty list of {role, content} objects")
        return None
    try:
        tools = read_tools(obj.get("tools") or [])
        conversation = as_conversation(raw, tools, line=line)
    except DataError as e:
        field, _, message = str(e).partition(": ")
        report(field, message)
        return None
    for i, m in enumerate(raw):
        for j, c in enumerate(m.get("tool_calls") or []):
            fn = c.get("function") or {}
            why = check_call(Call(fn.get("name", ""), fn.get("arguments") or "{}"), tools) if tools else None
            if why:
                report(f"messages[{i}].tool_calls[{j}]", why)
                return None
    return _finish(list(conversation.messages), line, report, "messages")


def _turns(obj: dict, key: str, role_key: str, content_key: str, roles: dict[str, str], expected: str,
           report, messages: list[Message] | None = None) -> list[Message] | None:
    """Messages from a list of {role_key, content_key} objects; None after reporting the first problem."""
    raw = obj.get(key)
    if not isinstance(raw, list) or not raw:
        report(key, f"expected a non-empty list of {{{role_key}, {content_key}}} objects")
        return None
    messages = list(messages or [])
    for i, m in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(m, dict):
            report(where, f"expected an object with '{role_key}' and '{content_key}'")
            return None
        role = roles.get(str(m.get(role_key, "")).lower())
        if role is None:
            report(f"{where}.{role_key}", f"unknown role {m.get(role_key)!r} (expected {expected})")
            return None
        content = _string(m, content_key, report, f"{where}.{content_key}")
        if content is None:
            return None
        messages.append(Message(role, content))
    return messages


def _from_alpaca(obj: dict, line: int, report) -> Conversation | None:
    instruction = _string(obj, "instruction", report, required=False) or ""
    extra = _string(obj, "input", report, required=False) or ""
    output = _string(obj, "output", report)
    system = _string(obj, "system", report, required=False)
    prompt = "\n\n".join(p for p in (instruction.strip(), extra.strip()) if p)
    if not prompt:
        report("instruction", "empty content (and no input)")
        return None
    if output is None:
        return None
    messages = [Message("system", system)] if system and system.strip() else []
    history = obj.get("history") or []
    if not isinstance(history, list):
        report("history", "expected a list of [instruction, response] pairs")
        return None
    for i, pair in enumerate(history):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(s, str) and s.strip() for s in pair)):
            report(f"history[{i}]", "expected a pair of non-empty strings [instruction, response]")
            return None
        messages += [Message("user", pair[0]), Message("assistant", pair[1])]
    messages += [Message("user", prompt), Message("assistant", output)]
    return Conversation(tuple(messages), line=line)


def _from_sharegpt(obj: dict, line: int, report) -> Conversation | None:
    system = _string(obj, "system", report, required=False)
    first = [Message("system", system)] if system and system.strip() else []
    messages = _turns(obj, "conversations", "from", "value", _SHAREGPT_ROLES, "human, gpt or system", report, first)
    return None if messages is None else _finish(messages, line, report, "conversations")


def _from_text(obj: dict, line: int, report) -> Conversation | None:
    text = _string(obj, "text", report)
    return None if text is None else Conversation(text=text, line=line)


_CONVERTERS = {"openai": _from_openai, "alpaca": _from_alpaca, "sharegpt": _from_sharegpt, "text": _from_text}
