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
