"""`mentor methods`: every tuning method on one model — trainable parameters, mergeability, memory."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from mentor.deploy.memory import ModelShape, training_memory
from mentor.models import load_causal_lm, load_tokenizer
from mentor.precision import resolve_precision
from mentor.methods import get_method, method_names, parse_options
from mentor.workspace import Workspace


@dataclass(frozen=True)
class MethodInfo:
    name: str
    description: str
    trainable: int
    total: int
    mergeable: bool
    why_not: str
    train_memory_gb: float  # estimate (mentor.deploy.memory): weights, gradients, AdamW state, activations

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.total, 1)


def describe_methods(model_name: str, workspace: Workspace | None = None, batch_size: int = 4,
                     seq_len: int = 512) -> list[MethodInfo]:
    ws = workspace or Workspace()
    base = load_causal_lm(model_name, ws)
    tokenizer = load_tokenizer(model_name, ws)
    total = sum(p.numel() for p in base.parameters())
    shape = ModelShape.from_config(base.config, total)
    precision = resolve_precision("auto", "cpu")  # as training on this machine would run
    rows = []
    for name in method_names():
        method = get_method(name)
        options = parse_options(method, {})
        # QLoRA trains exactly LoRA's parameters; only the frozen base is stored in 4 bits.
        built = (get_method("lora") if name == "qlora" else method).build(copy.deepcopy(base), options, tokenizer)
        trainable = sum(p.numel() for p in built.parameters() if p.requires_grad)
        memory = training_memory(shape, name, batch_size, seq_len, trainable=trainable, precision=precision).total
        rows.append(MethodInfo(name, method.description, trainable, total, method.mergeable,
                               method.not_mergeable_because, memory / 2**30))
        del built
    return rows
