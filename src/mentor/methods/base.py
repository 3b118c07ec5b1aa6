"""What every tuning method provides, and how its trained artifact is saved and loaded back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# How a method's result is stored:
#   "peft"    -> peft's own adapter folder (adapter_config.json + adapter_model.safetensors)
#   "weights" -> only the trained tensors (trainable.safetensors), re-applied to a freshly built base
#   "full"    -> a complete Hugging Face model folder
STORAGE = ("peft", "weights", "full")

# The learning rate a method trains well at by default (AdamW). Weight-based adapters share one value;
# prompt-based methods need far larger ones (as in their papers), full fine-tuning a far smaller one.
ADAPTER_LEARNING_RATE = 2e-4


@dataclass(frozen=True)
class Method:
    name: str
    options: type  # a pydantic dataclass; unknown keys are errors
    build: Callable[[Any, Any, Any], Any]  # (model, options, tokenizer) -> model with only tuned parameters trainable
    description: str
    storage: str = "peft"
    mergeable: bool = False
    not_mergeable_because: str = ""
    prompt_learning: bool = False  # virtual tokens: the loss must go through peft's own forward
    load_kwargs: Callable[[Any], dict] = lambda _options: {}  # extra from_pretrained arguments (quantisation)
    learning_rate: float = ADAPTER_LEARNING_RATE  # the default when the user sets none
