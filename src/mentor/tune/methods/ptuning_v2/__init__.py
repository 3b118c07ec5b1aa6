"""P-tuning v2 (Liu et al. 2022): deep prompts — trainable key/value prefixes on every layer, no reparameterisation."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.tune.methods.base import Method
from mentor.tune.methods.prefix import prefix_model
from mentor.tune.methods.prompt import VIRTUAL_TOKENS_NOT_MERGEABLE


@dataclass(config=ConfigDict(extra="forbid"))
class PTuningV2Options:
    num_virtual_tokens: int = 20


def build(model, options: PTuningV2Options, tokenizer=None):
    return prefix_model(model, options.num_virtual_tokens, projection=False)


METHOD = Method("ptuning-v2", PTuningV2Options, build, "deep prompts on every layer (prefixes, no MLP)",
                prompt_learning=True, not_mergeable_because=VIRTUAL_TOKENS_NOT_MERGEABLE)
