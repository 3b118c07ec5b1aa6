"""Deterministic, length-grouped batches: less padding, and a resumed run sees the same order."""

from __future__ import annotations

import random

import torch

from mentor.data.template import IGNORE_INDEX, Encoded


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int, group_by_length: bool = True) -> list[list[int]]:
    """Index batches for one epoch; the same (seed, epoch) always gives the same batches.

    With ``group_by_length`` examples are shuffled, cut into windows of 16 batches, sorted by
    length inside each window and batched, then the batch order is shuffled: padding drops while
    batches stay random.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        window = batch_size * 16
        order = [i for s in range(0, len(order), window)
                 for i in sorted(order[s:s + window], key=lambda i: -lengths[i])]
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def collate(examples: list[Encoded], pad_id: int, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Right-pad to the longest example: input_ids, attention_mask, labels, each (B, T), on ``device``.
    Preference pairs (``tune.preference.Pair``) become 2B rows, the chosen answers first, with their
    reference margins as ``reference`` (B,)."""
    if examples and hasattr(examples[0], "rejected"):
        batch = collate([e.chosen for e in examples] + [e.rejected for e in examples], pad_id, device)
        batch["reference"] = torch.tensor([e.reference for e in examples], dtype=torch.float32, device=device)
        return batch
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
