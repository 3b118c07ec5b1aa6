"""Prefix tuning (Li & Liang 2021): trainable key/value prefixes on every layer, through a projection MLP."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.methods.base import Method
from mentor.methods.prompt import VIRTUAL_TOKENS_NOT_MERGEABLE


@dataclass(config=ConfigDict(extra="forbid"))
class PrefixOptions:
    num_virtual_tokens: int = 20
    encoder_hidden_size: int = 256


def prefix_model(model, num_virtual_tokens: int, projection: bool, encoder_hidden_size: int = 256):
    from peft import PrefixTuningConfig, get_peft_model

    return get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=num_virtual_tokens,
                                                    prefix_projection=projection,
                                                    encoder_hidden_size=encoder_hidden_size))


def build(model, options: PrefixOptions, tokenizer=None):
    return prefix_model(model, options.num_virtual_tokens, True, options.encoder_hidden_size)


METHOD = Method("prefix", PrefixOptions, build, "key/value prefixes on every layer, reparameterised by an MLP",
                prompt_learning=True, learning_rate=1e-2, not_mergeable_because=VIRTUAL_TOKENS_NOT_MERGEABLE)
