"""QLoRA (Dettmers et al. 2023): LoRA on a 4-bit NF4 base (bitsandbytes), double quantisation, bf16 compute.

It is LoRA plus a quantisation setting: LoRA's options and build, and ``load_kwargs`` that make the
base load in 4 bits. Merging goes onto the de-quantised (full-precision) base, never the 4-bit weights.
"""

from __future__ import annotations

import importlib.util

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.errors import MentorError
from mentor.methods.base import Method
from mentor.methods.lora import LoraOptions, lora_config


@dataclass(config=ConfigDict(extra="forbid"))
class QLoraOptions(LoraOptions):
    bnb_4bit_quant_type: str = "nf4"
    bnb_4bit_use_double_quant: bool = True
    bnb_4bit_compute_dtype: str = "bfloat16"


def load_kwargs(options: QLoraOptions) -> dict:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MentorError("Method 'qlora' needs bitsandbytes, which is not installed "
                          "(pip install 'mentor[qlora]'); or use --method lora.")
    import torch
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=options.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=options.bnb_4bit_use_double_quant,
        bnb_4bit_compute_dtype=getattr(torch, options.bnb_4bit_compute_dtype))}


def build(model, options: QLoraOptions, tokenizer=None):
    from peft import get_peft_model, prepare_model_for_kbit_training

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, lora_config(options))


METHOD = Method("qlora", QLoraOptions, build, "LoRA on a 4-bit NF4 base (bitsandbytes)", mergeable=True,
                load_kwargs=load_kwargs)
