"""LoRA (Hu et al. 2021) through peft: low-rank updates on all linear layers by default."""

from __future__ import annotations

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.tune.methods.base import Method


@dataclass(config=ConfigDict(extra="forbid"))
class LoraOptions:
    """peft's own names: ``r``, ``lora_alpha``, ``lora_dropout``, ``target_modules``..."""

    r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    bias: str = "none"
    use_rslora: bool = False
    modules_to_save: list[str] | None = None


def build(model, options: LoraOptions):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type="CAUSAL_LM", r=options.r, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
        target_modules=options.target_modules, bias=options.bias, use_rslora=options.use_rslora,
        modules_to_save=options.modules_to_save,
    )
    return get_peft_model(model, config)


METHOD = Method("lora", LoraOptions, build, mergeable=True,
                description="low-rank adapters on linear layers (peft LoRA)")
