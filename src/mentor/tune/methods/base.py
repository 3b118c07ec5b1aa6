"""What every tuning method provides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Method:
    name: str
    options: type  # a pydantic dataclass; unknown keys are errors
    build: Callable[[Any, Any], Any]  # (model, options) -> model with only the tuned parameters trainable
    mergeable: bool
    description: str
