"""Numeric precision on the CPU: bf16 autocast where the hardware has native bf16."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch


def resolve_precision(precision: str) -> str:
    """``auto`` -> bf16 autocast when the CPU has native bf16 (avx512_bf16 / AMX), else fp32."""
    if precision != "auto":
        return precision
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"


def autocast_context(precision: str):
    """bf16 autocast on the CPU for ``bf16`` (or ``auto`` on bf16 hardware); otherwise nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if resolve_precision(precision) == "bf16" else nullcontext()


def trainable_layers_in_fp32(model) -> int:
    """Under bf16 autocast, run the linear layers that hold trainable weights (LoRA's A and B, ...) in
    fp32: their small updates survive instead of being rounded to bf16's 8 bits. The frozen base keeps
    bf16 matmuls. Returns how many layers were switched."""
    switched = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module.weight.requires_grad and not hasattr(module, "base_layer"):
            module.forward = _fp32_forward.__get__(module)
            switched += 1
    return switched


def _fp32_forward(self, x: torch.Tensor) -> torch.Tensor:
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    with torch.autocast("cpu", enabled=False):
        return torch.nn.functional.linear(x.float(), self.weight, self.bias).to(dtype)
