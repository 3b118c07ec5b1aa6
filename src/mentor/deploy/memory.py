"""Training and inference memory from a model's shape, the method, batch and sequence length.

Two targets. ``gpu``: the usual mixed-precision recipe (bf16 weights and activations, fp32 AdamW state
and master weights for what trains; QLoRA's base in NF4 with double-quantised scales; gradient
checkpointing on for QLoRA as in its paper). ``cpu``: how Mentor trains on a CPU (fp32 weights, bf16 autocast
where the CPU has native bf16, else plain fp32; its chunked loss), with constants measured on runs of SmolLM2
(see tests/unit/test_memory_and_advice.py and the smoke test that checks them against a real training process).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GiB = 2**30

# Published shapes (hidden, layers, heads, FFN) of the models the literature quotes memory for:
# LLaMA 7B/13B/33B/65B (Touvron et al. 2023) and GPT-3 175B (Brown et al. 2020).
PUBLISHED_SHAPES = {
    7e9: (4096, 32, 32, 11008, 32000),
    13e9: (5120, 40, 40, 13824, 32000),
    33e9: (6656, 60, 52, 17920, 32000),
    65e9: (8192, 80, 64, 22016, 32000),
    175e9: (12288, 96, 96, 49152, 50257),
}

# Bytes per parameter.
NF4_BYTES = 0.5 + 0.127 / 8  # 4-bit weights + double-quantised block scales (QLoRA paper: 0.127 bits/param)
ADAMW_STATE = 8  # two fp32 moments
# CPU constants, fitted to the peak RSS of `mentor train` runs here (SmolLM2-135M, LoRA r=8, 2 steps and
# validation; batch x length from 1x128 to 8x512, with and without gradient checkpointing: all within 18%):
CPU_RUNTIME = 0.48 * GiB  # Python, torch, transformers, tokenizer, data
CPU_ACTIVATION = 116  # bytes per token, per layer, per hidden unit kept for backward (fp32 + bf16 autocast copies)
# The same in fp32 (a CPU without native bf16: no autocast, no bf16 weight cache), fitted to `mentor train` runs on
# an AMD EPYC without AVX-512 (SmolLM2-135M, LoRA r=8, 2 steps: 4x256, 2x512 and 8x128 tokens)
CPU_ACTIVATION_FP32 = 215
CPU_CHECKPOINTED = 40  # the same with gradient checkpointing (layer inputs and what the allocator keeps)
CPU_LOGITS = 8  # bytes per token per vocabulary entry in the largest loss chunk
GPU_RUNTIME = 1.0 * GiB  # CUDA context and allocator reserve
GPU_ACTIVATION = 34  # Korthikanti et al. (2022), 16-bit, flash attention (no s^2 term)
LOSS_CHUNK = 1024  # positions per logits chunk (mentor.tune.loss.CHUNK)


@dataclass(frozen=True)
class ModelShape:
    params: float
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @classmethod
    def from_config(cls, config, params: float) -> ModelShape:
        return cls(params, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
                   getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
                   config.intermediate_size, config.vocab_size)

    @classmethod
    def from_params(cls, params: float) -> ModelShape:
        """The published shape when ``params`` is within 15% of one, else a Llama-like shape of that size."""
        for size, (h, layers, heads, ffn, vocab) in PUBLISHED_SHAPES.items():
            if abs(params - size) <= 0.15 * size:
                return cls(params, h, layers, heads, heads, ffn, vocab)
        # Llama proportions: layers ~ hidden / 128, FFN ~ 2.7 hidden, ~12.1 hidden^2 per layer
        hidden = max(128, round((params * 128 / 12.1) ** (1 / 3) / 128) * 128)
        layers = max(1, round(params / (12.1 * hidden**2)))
        return cls(params, hidden, layers, hidden // 128, hidden // 128, int(2.7 * hidden), 32000)


def parse_params(text: str) -> float:
    """'7B', '135M', '1.5b', '175e9' -> number of parameters."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kKmMbBtT]?)\s*", text)
    if not match:
        raise ValueError(f"'{text}' is not a parameter count like 7B, 135M or 1.5b")
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
    return float(match.group(1)) * scale


def lora_parameters(shape: ModelShape, rank: int = 8, targets: str = "all-linear") -> int:
    """Trainable parameters of LoRA at ``rank``: r * (in + out) per adapted matrix.
    ``targets``: "all-linear" (Mentor's default and QLoRA's) or "qv" (the LoRA paper's GPT-3 setup)."""
    h, kv = shape.hidden, shape.kv_heads * shape.head_dim
    attention = {"q": (h, h), "k": (h, kv), "v": (h, kv), "o": (h, h)}
    mlp = [(h, shape.intermediate)] * 2 + [(shape.intermediate, h)]
    mats = [attention["q"], attention["v"]] if targets == "qv" else [*attention.values(), *mlp]
    return shape.layers * sum(rank * (a + b) for a, b in mats)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: float  # bytes
    trainable_state: float  # gradients + optimiser state (+ fp32 master weights on GPU) of what trains
    activations: float
    logits: float
    runtime: float
    trainable: int

    @property
    def total(self) -> float:
        return self.weights + self.trainable_state + self.activations + self.logits + self.runtime

    def parts_gb(self) -> dict[str, float]:
        return {"weights": self.weights / GiB, "gradients + optimizer": self.trainable_state / GiB,
                "activations": self.activations / GiB, "logits": self.logits / GiB, "runtime": self.runtime / GiB,
                "total": self.total / GiB}


def training_memory(shape: ModelShape, method: str = "lora", batch_size: int = 4, seq_len: int = 512,
                    device: str = "cpu", gradient_checkpointing: bool | None = None, lora_rank: int = 8,
                    trainable: int | None = None, precision: str = "bf16") -> MemoryEstimate:
    """Peak memory of one training step. ``trainable`` overrides the count for methods other than full/LoRA.

    ``precision`` (CPU): ``bf16`` autocast, as Mentor trains where the CPU has native bf16, or ``fp32``.
    """
    if device not in ("cpu", "gpu"):
        raise ValueError("device is 'cpu' or 'gpu'")
    full = method in ("full", "freeze") and trainable is None
    if trainable is None:
        trainable = int(shape.params) if full else lora_parameters(shape, lora_rank)
    if gradient_checkpointing is None:
        gradient_checkpointing = device == "gpu" and method == "qlora"
    tokens = batch_size * seq_len
    if device == "gpu":
        base = NF4_BYTES if method == "qlora" else 2.0
        weights = shape.params * base
        # bf16 gradient + fp32 master copy + AdamW moments for every trained parameter (LoRA weights in fp32)
        state = trainable * ((2 + 4 + ADAMW_STATE) if full else (4 + 4 + ADAMW_STATE))
        per_layer = GPU_ACTIVATION * shape.hidden * tokens
        logits = tokens * shape.vocab * (2 + 4)  # bf16 logits and their fp32 softmax
        runtime = GPU_RUNTIME
        kept = 2 * shape.hidden * tokens  # a checkpointed layer keeps only its bf16 input
    else:
        cache = 2 if precision == "bf16" else 0  # bf16 autocast keeps a bf16 copy of the weights
        weights = shape.params * ((NF4_BYTES if method == "qlora" else 4) + cache)
        state = trainable * (4 + ADAMW_STATE)
        per_layer = (CPU_ACTIVATION if precision == "bf16" else CPU_ACTIVATION_FP32) * shape.hidden * tokens
        logits = min(tokens, LOSS_CHUNK) * shape.vocab * CPU_LOGITS
        runtime = CPU_RUNTIME
        kept = CPU_CHECKPOINTED * shape.hidden * tokens
    activations = (shape.layers * kept + per_layer) if gradient_checkpointing else shape.layers * per_layer
    return MemoryEstimate(weights, state, activations, logits, runtime, trainable)


def inference_memory(shape: ModelShape, bits: float = 16, batch_size: int = 1, seq_len: int = 2048,
                     device: str = "gpu") -> MemoryEstimate:
    """Weights at ``bits`` per parameter + a 16-bit KV cache for ``batch_size`` x ``seq_len`` tokens."""
    kv = 2 * shape.layers * shape.kv_heads * shape.head_dim * batch_size * seq_len * 2
    runtime = GPU_RUNTIME if device == "gpu" else CPU_RUNTIME
    return MemoryEstimate(shape.params * bits / 8, 0.0, kv, batch_size * shape.vocab * 4, runtime, 0)
