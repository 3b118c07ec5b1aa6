"""Tuning methods: one folder each (``methods/<name>/``) with an options class and ``build()``.

Adding a method is one folder and one line in ``_REGISTRY``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mentor.errors import MentorError
from mentor.methods import adapter, dora, freeze, full, ia3, lora, prefix, prompt, ptuning, ptuning_v2, qlora
from mentor.methods.base import Method

_REGISTRY: dict[str, Method] = {m.name: m for m in (
    full.METHOD, freeze.METHOD, lora.METHOD, dora.METHOD, qlora.METHOD, ia3.METHOD, adapter.METHOD,
    prefix.METHOD, prompt.METHOD, ptuning.METHOD, ptuning_v2.METHOD,
)}


def get_method(name: str) -> Method:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MentorError(f"Unknown method '{name}' (known: {', '.join(sorted(_REGISTRY))}).") from None


def method_names() -> list[str]:
    return list(_REGISTRY)


def parse_options(method: Method, raw: dict[str, Any] | None, where: str = "config") -> Any:
    """Validate a method's options; a misspelled key is an error that names it."""
    try:
        return method.options(**(raw or {}))
    except (ValidationError, TypeError) as e:
        raise MentorError(f"Invalid {method.name} options in {where}: {_first_error(e)}") from None


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        return f"{loc}: {err['msg']}" if loc else err["msg"]
    return str(e)
