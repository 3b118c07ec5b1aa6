"""`mentor methods`: every tuning method on one model — trainable parameters, mergeability, memory."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from mentor.models import load_causal_lm, load_tokenizer
from mentor.tune.methods import get_method, method_names, parse_options
from mentor.workspace import Workspace


@dataclass(frozen=True)
class MethodInfo:
    name: str
    description: str
    trainable: int
    total: int
    mergeable: bool
    why_not: str
    train_memory_gb: float  # estimate: weights + gradients + AdamW state + activations

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.total, 1)


def describe_methods(model_name: str, workspace: Workspace | None = None, batch_size: int = 4,
                     seq_len: int = 512) -> list[MethodInfo]:
    ws = workspace or Workspace()
    base = load_causal_lm(model_name, ws)
    tokenizer = load_tokenizer(model_name, ws)
    total = sum(p.numel() for p in base.parameters())
    rows = []
    for name in method_names():
        method = get_method(name)
        options = parse_options(method, {})
        # QLoRA trains exactly LoRA's parameters; only the frozen base is stored in 4 bits.
        built = (get_method("lora") if name == "qlora" else method).build(copy.deepcopy(base), options, tokenizer)
        trainable = sum(p.numel() for p in built.parameters() if p.requires_grad)
        bytes_per_base_weight = 0.55 if name == "qlora" else 4.0  # NF4 + double-quantised scales
        memory = estimate_training_bytes(base.config, total, trainable, batch_size, seq_len, bytes_per_base_weight)
        rows.append(MethodInfo(name, method.description, trainable, total, method.mergeable,
                               method.not_mergeable_because, memory / 2**30))
        del built
    return rows


def estimate_training_bytes(config, total: int, trainable: int, batch_size: int, seq_len: int,
                            bytes_per_base_weight: float = 4.0) -> float:
    """Weights + fp32 gradients and AdamW moments of the trainable part + activations kept for backward.

    Activations per layer follow Korthikanti et al. (2022), 34*s*b*h + 5*a*s^2*b bytes at 16 bits,
    doubled for fp32; logits are only materialised at supervised positions (mentor's loss), in chunks.
    """
    h, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    activations = layers * (34 * seq_len * batch_size * h + 5 * heads * seq_len**2 * batch_size) * 2
    logits = 1024 * config.vocab_size * 4 * 2  # one checkpointed chunk and its gradient
    return total * bytes_per_base_weight + trainable * (4 + 8) + activations + logits
