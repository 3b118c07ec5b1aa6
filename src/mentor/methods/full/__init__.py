"""Full fine-tuning: every parameter trains; the result is a complete model folder."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.methods.base import Method


@dataclass(config=ConfigDict(extra="forbid"))
class FullOptions:
    pass


def build(model, options: FullOptions, tokenizer=None):
    for p in model.parameters():
        p.requires_grad_(True)
    return model


METHOD = Method("full", FullOptions, build, "all parameters (saved as a complete model)", storage="full",
                mergeable=True, learning_rate=5e-5)
