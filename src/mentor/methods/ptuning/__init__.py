"""P-tuning (Liu et al. 2021): virtual tokens produced by a small prompt encoder (MLP or LSTM)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.methods.base import Method
from mentor.methods.prompt import VIRTUAL_TOKENS_NOT_MERGEABLE


@dataclass(config=ConfigDict(extra="forbid"))
class PTuningOptions:
    num_virtual_tokens: int = 20
    encoder_hidden_size: int = 128
    encoder_reparameterization_type: Literal["MLP", "LSTM"] = "MLP"


def build(model, options: PTuningOptions, tokenizer=None):
    from peft import PromptEncoderConfig, get_peft_model

    return get_peft_model(model, PromptEncoderConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=options.num_virtual_tokens,
        encoder_hidden_size=options.encoder_hidden_size,
        encoder_reparameterization_type=options.encoder_reparameterization_type))


METHOD = Method("ptuning", PTuningOptions, build, "virtual tokens from a trainable prompt encoder",
                prompt_learning=True, learning_rate=1e-2, not_mergeable_because=VIRTUAL_TOKENS_NOT_MERGEABLE)
