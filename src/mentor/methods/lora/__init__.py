"""LoRA (Hu et al. 2021) through peft: low-rank updates on all linear layers by default.

rsLoRA (``use_rslora``) scales by alpha/sqrt(r); ``init_lora_weights`` takes peft's initialisations
("gaussian", "pissa", "pissa_niter_4", "olora", ...). DoRA and QLoRA reuse these options.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from mentor.methods.base import Method


@dataclass(config=ConfigDict(extra="forbid"))
class LoraOptions:
    """peft's own names: ``r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``..."""

    r: Annotated[int, Field(ge=1, le=1024)] = 8  # bounded: a rank of 100000 is a mistake (or a memory attack)
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    bias: str = "none"
    use_rslora: bool = False
    init_lora_weights: bool | str = True
    modules_to_save: list[str] | None = None


def lora_config(options: LoraOptions, use_dora: bool = False):
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM", r=options.r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
        target_modules=options.target_modules, bias=options.bias, use_rslora=options.use_rslora,
        init_lora_weights=options.init_lora_weights, modules_to_save=options.modules_to_save, use_dora=use_dora,
    )


def build(model, options: LoraOptions, tokenizer=None):
    from peft import get_peft_model

    return get_peft_model(model, lora_config(options))


METHOD = Method("lora", LoraOptions, build, "low-rank adapters on linear layers (rsLoRA, PiSSA/OLoRA init)",
                mergeable=True)
