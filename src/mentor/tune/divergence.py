"""Divergences between teacher and student next-token distributions, per position.

All take log-probabilities over the same support, shape (N, V) or (N, k), and return (N,).
"""

from __future__ import annotations

import math

import torch

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd")


def kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) = sum P (log P - log Q)."""
    return (p_log.exp() * (p_log - q_log)).sum(-1)


def jsd(teacher_log: torch.Tensor, student_log: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """Generalised Jensen-Shannon divergence (as in GKD): beta KL(T || M) + (1 - beta) KL(S || M), with
    M = beta T + (1 - beta) S. By convention beta = 0 is forward KL(T || S) and beta = 1 reverse KL(S || T)."""
    if beta <= 0:
        return kl(teacher_log, student_log)
    if beta >= 1:
        return kl(student_log, teacher_log)
    mix = torch.logsumexp(torch.stack([teacher_log + math.log(beta), student_log + math.log(1 - beta)]), dim=0)
    return beta * kl(teacher_log, mix) + (1 - beta) * kl(student_log, mix)


def divergence(kind: str, teacher_log: torch.Tensor, student_log: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    if kind == "forward_kl":  # mean-seeking: the student covers everything the teacher finds likely
        return kl(teacher_log, student_log)
    if kind == "reverse_kl":  # mode-seeking: the student commits to the teacher's main modes
        return kl(student_log, teacher_log)
    if kind == "jsd":
        return jsd(teacher_log, student_log, beta)
    raise ValueError(f"Unknown divergence '{kind}' (known: {', '.join(DIVERGENCES)}).")
