"""IA3 (Liu et al. 2022): learned rescaling vectors on keys, values and the feed-forward input."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.methods.base import Method


@dataclass(config=ConfigDict(extra="forbid"))
class IA3Options:
    target_modules: list[str] | None = None  # None: peft's default for the architecture
    feedforward_modules: list[str] | None = None


def build(model, options: IA3Options, tokenizer=None):
    from peft import IA3Config, get_peft_model

    return get_peft_model(model, IA3Config(task_type="CAUSAL_LM", target_modules=options.target_modules,
                                           feedforward_modules=options.feedforward_modules))


METHOD = Method("ia3", IA3Options, build, "learned rescaling of keys, values and FFN activations", mergeable=True,
                learning_rate=3e-3)
