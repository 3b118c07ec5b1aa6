"""Quantised model folders written by ``mentor quantize`` (``mentor.deploy.quantize``), read back for inference:
int8 / int4 weight-only linears on torch's packed CPU kernels, and which quantisation a folder holds."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from mentor.errors import MentorError

QUANT_FILE = "mentor-quant.json"


class QuantizedLinear(nn.Module):
    """y = x W^T + b with W stored as integers (weight-only); torch's packed CPU kernels take bf16 inputs."""

    def __init__(self, in_features: int, out_features: int, bias: torch.Tensor | None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._matmul(x.reshape(-1, self.in_features).to(torch.bfloat16))
        y = y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)
        return y if self.bias is None else y + self.bias


class Int8Linear(QuantizedLinear):
    def __init__(self, in_features: int, out_features: int, weight_int8: torch.Tensor, weight_scale: torch.Tensor,
                 bias: torch.Tensor | None):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("weight_int8", weight_int8.clone())  # aligned copy: the kernel crashes on
        # tensors at odd offsets inside a safetensors buffer
        self.register_buffer("weight_scale", weight_scale.to(torch.bfloat16))

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x, self.weight_int8, self.weight_scale)


class Int4Linear(QuantizedLinear):
    def __init__(self, in_features: int, out_features: int, group_size: int, packed: torch.Tensor,
                 scales_zeros: torch.Tensor, bias: torch.Tensor | None):
        super().__init__(in_features, out_features, bias)
        self.group_size = group_size
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(_unpack(packed), 1))
        self.register_buffer("scales_zeros", scales_zeros.to(torch.bfloat16).contiguous())

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, self.group_size, self.scales_zeros)


def _unpack(packed: torch.Tensor) -> torch.Tensor:
    q = torch.stack([packed & 0x0F, packed >> 4], dim=-1)
    return q.reshape(packed.shape[0], -1).to(torch.int32)


def quantization_of(path: Path) -> str | None:
    """"mentor" for an int8/int4 folder written here, "bitsandbytes" for a bitsandbytes one, else None."""
    if (path / QUANT_FILE).exists():
        return "mentor"
    config = path / "config.json"
    if config.exists() and "quantization_config" in json.loads(config.read_text(encoding="utf-8")):
        return "bitsandbytes"
    return None


def load_quantized(folder: Path):
    """A model saved by ``quantize`` with int8 / int4 weights, ready for inference on CPU."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    info = json.loads((folder / QUANT_FILE).read_text())
    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = load_file(folder / "model.safetensors")
    for name in info.get("embeddings", []):  # stored as int8 rows, used in float
        state[f"{name}.weight"] = state.pop(f"{name}.weight_int8").float() * state.pop(f"{name}.weight_scale")[:, None]
    quantised: dict[str, dict[str, torch.Tensor]] = {name: {} for name in info["modules"]}
    for key in list(state):
        module, _, part = key.rpartition(".")
        if module in quantised:
            quantised[module][part] = state.pop(key)
    model.load_state_dict(state, strict=False, assign=True)
    for name, weights in quantised.items():
        old = model.get_submodule(name)
        if info["scheme"] == "int8":
            new = Int8Linear(old.in_features, old.out_features, weights["weight_int8"], weights["weight_scale"],
                             weights.get("bias"))
        else:
            new = Int4Linear(old.in_features, old.out_features, info["group_size"], weights["weight_int4"],
                             weights["weight_scales_zeros"], weights.get("bias"))
        _replace(model, name, new)
    for name in {n.rpartition(".")[0] for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta}:
        owner = model.get_submodule(name)  # only computed buffers are left (rotary frequencies): rebuild them
        if not hasattr(owner, "config") or any(p.is_meta for p in owner.parameters()):
            raise MentorError(f"Quantised model {folder} is missing weights of '{name}'.")
        _replace(model, name, type(owner)(config=owner.config))
    model.generation_config = GenerationConfig.from_pretrained(folder)
    return model.eval()


def _replace(model, name: str, module: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)
