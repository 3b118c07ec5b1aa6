"""Devices and numeric precision: the CPU with bf16 autocast where it has native bf16, or a CUDA GPU."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from mentor.errors import MentorError


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when torch sees a CUDA GPU, else ``cpu``; asking for CUDA without one is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MentorError(f"--device {device}: torch sees no CUDA GPU here (torch {torch.__version__}); "
                          "use --device cpu, or install a CUDA build of torch.")
    if not (device == "cpu" or device.startswith("cuda")):
        raise MentorError(f"--device {device}: expected auto, cpu, cuda or cuda:N.")
    return device


def model_device(model) -> torch.device:
    """Where the model's (first) parameters live: inputs go there."""
    return next(model.parameters()).device


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``auto`` -> bf16 autocast on a GPU with bf16, or on a CPU with native bf16 (avx512_bf16 / AMX); else fp32."""
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"


def autocast_context(precision: str, device: str = "cpu"):
    """bf16 autocast on ``device`` for ``bf16`` (or ``auto`` on bf16 hardware); otherwise nothing."""
    if resolve_precision(precision, device) != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


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
    kind = x.device.type
    dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
    with torch.autocast(kind, enabled=False):
        return torch.nn.functional.linear(x.float(), self.weight, self.bias).to(dtype)
