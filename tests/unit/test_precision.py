"""Trainable layers keep fp32 matmuls under bf16 autocast; frozen ones do not."""

from __future__ import annotations

import torch

from mentor.precision import trainable_layers_in_fp32


def test_trainable_linear_layers_compute_in_fp32_under_autocast():
    torch.manual_seed(0)
    frozen, trained = torch.nn.Linear(64, 64), torch.nn.Linear(64, 8)
    frozen.requires_grad_(False)
    model = torch.nn.Sequential(frozen, trained)
    x = torch.randn(16, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = trained(x)
    assert trainable_layers_in_fp32(model) == 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        after, base = trained(x), frozen(x)
    exact = torch.nn.functional.linear(x, trained.weight, trained.bias)
    assert after.dtype == before.dtype == base.dtype == torch.bfloat16  # same dtypes flow on
    assert torch.equal(after, exact.to(torch.bfloat16))  # computed in fp32, rounded once
    assert not torch.equal(before, after)  # a bf16 matmul differs
    after.float().sum().backward()
    assert trained.weight.grad.dtype == torch.float32
    assert torch.equal(trained(x), exact)  # outside autocast nothing changes
