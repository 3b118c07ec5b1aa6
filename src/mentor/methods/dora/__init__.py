"""DoRA (Liu et al. 2024): LoRA with the weight split into magnitude and direction; LoRA's options."""

from __future__ import annotations

from mentor.methods.base import Method
from mentor.methods.lora import LoraOptions, lora_config


def build(model, options: LoraOptions, tokenizer=None):
    from peft import get_peft_model

    return get_peft_model(model, lora_config(options, use_dora=True))


METHOD = Method("dora", LoraOptions, build, "weight-decomposed LoRA (magnitude + direction)", mergeable=True)
