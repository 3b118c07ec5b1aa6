"""Causal-LM loss that computes logits only where there is a label.

A plain forward materialises (B, T, V) logits (49k vocabulary: most of the peak memory) for
every position, prompt and padding included. Here the decoder's hidden states are gathered at
supervised positions only and projected in chunks, each recomputed in backward, so the
logits held at once are at most (chunk, V).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mentor.data.template import IGNORE_INDEX

CHUNK = 1024  # positions per logits chunk


def causal_lm(model):
    """The transformers *ForCausalLM inside a peft wrapper (LoRA layers are injected in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _prompt_learning(model) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def token_loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(sum of token cross-entropies, number of supervised tokens) for one batch."""
    if _prompt_learning(model):
        # Virtual tokens / prefixes live in peft's own forward: use it (full logits, labels handled there).
        n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        return out.loss.float() * n, n
    h, y, head = supervised_hidden(model, batch)
    total = h.new_zeros((), dtype=torch.float32)
    for s in range(0, y.numel(), CHUNK):
        part = (h[s:s + CHUNK], y[s:s + CHUNK])
        if torch.is_grad_enabled():
            total = total + checkpoint(_chunk_loss, head, *part, use_reentrant=False)
        else:
            total = total + _chunk_loss(head, *part)
    return total, int(y.numel())


def supervised_hidden(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module]:
    """The decoder's last hidden states at supervised positions (N, H), their targets (N,), and the
    output head that turns hidden states into logits."""
    lm = causal_lm(model)
    hidden = lm.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              use_cache=False).last_hidden_state  # (B, T, H)
    targets = batch["labels"][:, 1:]  # (B, T-1): position t predicts token t+1
    keep = targets != IGNORE_INDEX
    return hidden[:, :-1][keep], targets[keep], lm.get_output_embeddings()


def _chunk_loss(head, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(h).float(), y, reduction="sum")
