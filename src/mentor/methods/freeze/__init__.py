"""Freeze tuning: train only the last N decoder layers, or parameters whose names match patterns."""

from __future__ import annotations

import re

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.errors import MentorError
from mentor.methods.base import Method


@dataclass(config=ConfigDict(extra="forbid"))
class FreezeOptions:
    trainable_layers: int = 2  # the last N decoder layers
    trainable_modules: list[str] | None = None  # regexes on parameter names; replaces trainable_layers
    train_norms: bool = True  # also the final norm (RMSNorm/LayerNorm) weights


def build(model, options: FreezeOptions, tokenizer=None):
    names = [n for n, _ in model.named_parameters()]
    if options.trainable_modules:
        patterns = [re.compile(p) for p in options.trainable_modules]
        chosen = {n for n in names if any(p.search(n) for p in patterns)}
    else:
        layers = model.get_decoder().layers
        if not 0 < options.trainable_layers <= len(layers):
            raise MentorError(f"freeze: trainable_layers must be between 1 and {len(layers)} for this model.")
        first = len(layers) - options.trainable_layers
        chosen = {n for n in names if (m := re.search(r"\.layers\.(\d+)\.", n)) and int(m.group(1)) >= first}
    if options.train_norms:
        chosen |= {n for n in names if re.search(r"(^|\.)(norm|final_layernorm|ln_f)\.weight$", n)}
    if not chosen:
        raise MentorError("freeze: no parameter matches trainable_modules " f"{options.trainable_modules}.")
    for n, p in model.named_parameters():
        p.requires_grad_(n in chosen)
    return model


METHOD = Method("freeze", FreezeOptions, build, "only the last N layers (or named modules) train",
                storage="weights", mergeable=True, learning_rate=1e-4)
