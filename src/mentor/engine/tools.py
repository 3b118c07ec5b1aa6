"""Tools an app's agent calls: built-in ``calculator`` and ``kb_search``, or the user's Python functions
(their JSON schema comes from the signature's type hints, the description from the docstring)."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from mentor.data.tools import Tool
from mentor.errors import MentorError

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


@dataclass(frozen=True)
class RuntimeTool:
    spec: Tool
    fn: Callable[..., object]

    def __call__(self, arguments: dict) -> str:
        """The tool's result as the text the model reads (JSON for anything but a string)."""
        result = self.fn(**arguments)
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)


class CalcError(MentorError):
    """An expression the calculator refuses (not arithmetic, or it does not compute)."""


def calculate(expression: str) -> float | int:
    """Evaluate arithmetic safely (simpleeval: numbers, + - * / // % **, parentheses, round/min/max/abs,
    sqrt; no names, attributes or calls beyond those)."""
    from simpleeval import SimpleEval

    evaluator = SimpleEval(functions={"round": round, "min": min, "max": max, "abs": abs, "sqrt": math.sqrt},
                           names={"pi": math.pi})
    text = expression.replace("×", "*").replace("÷", "/").replace("^", "**").replace(",", "")
    try:
        value = evaluator.eval(text)
    except ZeroDivisionError:
        raise CalcError(f"'{expression}' divides by zero.") from None
    except Exception as e:  # simpleeval raises its own errors for names, attributes, too-large powers
        raise CalcError(f"'{expression}' is not an arithmetic expression the calculator takes ({e}).") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalcError(f"'{expression}' does not compute to a number.")
    return value


def number_text(value: float | int) -> str:
    """A result as people write it: at most 4 decimals, no trailing zeros."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def builtin(name: str, kb_search=None) -> RuntimeTool:
    if name == "calculator":
        schema = {"type": "object", "properties": {"expression": {"type": "string", "description": "arithmetic, e.g. (12 + 3) * 4"}},
                  "required": ["expression"]}
        return RuntimeTool(Tool("calculator", schema, "Compute an arithmetic expression exactly."),
                           lambda expression: number_text(calculate(expression)))
    if name == "kb_search":
        schema = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
        return RuntimeTool(Tool("kb_search", schema, "Search the knowledge base; returns the most relevant passages."),
                           kb_search)
    raise MentorError(f"unknown built-in tool '{name}' (calculator, kb_search).")


def from_function(fn: Callable, where: str) -> RuntimeTool:
    """A tool from a Python function: parameters from its signature (type hints say the JSON types)."""
    properties, required = {}, []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise MentorError(f"{where}: {fn.__name__} takes *args/**kwargs; a tool needs named parameters.")
        hint = p.annotation if p.annotation is not p.empty else str
        if isinstance(hint, str):  # from __future__ import annotations
            hint = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}.get(hint, str)
        properties[p.name] = {"type": _JSON_TYPES.get(hint, "string")}
        if p.default is p.empty:
            required.append(p.name)
    description = inspect.getdoc(fn) or fn.__name__
    return RuntimeTool(Tool(fn.__name__, {"type": "object", "properties": properties, "required": required},
                            description.split("\n\n")[0]), fn)
