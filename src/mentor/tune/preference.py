"""Preference training (DPO, Rafailov et al. 2023) in the one training loop: ``--objective dpo``.

A row is a prompt and two answers: ``{"prompt": text or [messages], "chosen": text, "rejected": text}``
(``messages`` is accepted for ``prompt``), or OpenAI's DPO row (``input.messages``, ``preferred_output``,
``non_preferred_output``). The loss per pair is

    -log sigmoid(beta * ((log p(chosen) - log p(rejected)) - (log p_ref(chosen) - log p_ref(rejected))))

with sequence log-probabilities summed over the answer's tokens. The reference is the model as training
starts (the base, or the run given with ``--from``): its margins are computed once before the first step and
kept in the run folder, so a resumed run keeps the same reference and no second model is held in memory.
DPO composes with every method (LoRA-DPO, full DPO...): the method says which weights train, the objective
what they learn from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from mentor.data.conversation import Conversation, Message
from mentor.data.template import Encoded, encode
from mentor.errors import DataError
from mentor.tune.loss import CHUNK, supervised_hidden

REFERENCE_FILE = "dpo-reference.json"


@dataclass(frozen=True)
class Pair:
    chosen: Encoded
    rejected: Encoded
    reference: float = 0.0  # the reference model's margin, log p(chosen) - log p(rejected)

    @property
    def input_ids(self) -> list[int]:  # the longer side: what batching sizes by
        return max(self.chosen.input_ids, self.rejected.input_ids, key=len)

    @property
    def trained_tokens(self) -> int:
        return min(self.chosen.trained_tokens, self.rejected.trained_tokens)


def is_preference_file(path: str | Path) -> bool:
    """Whether the file's first row is a preference row (ours or OpenAI's)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    return False
                return isinstance(row, dict) and ({"chosen", "rejected"} <= set(row) or "preferred_output" in row)
    return False


def load_pairs(path: str | Path) -> list[tuple[Conversation, Conversation]]:
    """(chosen, rejected) conversations from a JSONL preference file; a bad row names its line and field."""
    from mentor.files import read_jsonl

    out = []
    for n, row in read_jsonl(Path(path), "preference data"):
        if "input" in row:  # OpenAI's DPO rows: input.messages, preferred_output, non_preferred_output
            row = _from_openai(row, path, n)
        prompt = row.get("prompt", row.get("messages"))
        if isinstance(prompt, str) and prompt.strip():
            messages = [Message("user", prompt)]
        elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
            messages = []
            for i, m in enumerate(prompt):
                if m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
                    raise DataError(f"{path}:{n}: prompt[{i}]: needs a role (system, user, assistant) and text content.")
                messages.append(Message(m["role"], m["content"]))
            if messages[-1].role != "user":
                raise DataError(f"{path}:{n}: prompt: must end with a user message.")
        else:
            raise DataError(f"{path}:{n}: prompt: a preference row needs the prompt (text, or messages ending with "
                            "the user's) besides 'chosen' and 'rejected'.")
        for key in ("chosen", "rejected"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(f"{path}:{n}: {key}: must be a non-empty string (the {key} answer).")
        if row["chosen"].strip() == row["rejected"].strip():
            raise DataError(f"{path}:{n}: chosen and rejected are the same answer: nothing to prefer.")
        out.append(tuple(Conversation((*messages, Message("assistant", row[k])), line=n) for k in ("chosen", "rejected")))
    return out


def _from_openai(row: dict, path, n: int) -> dict:
    def answer(key: str):
        turns = row.get(key)
        if not isinstance(turns, list) or not turns or not isinstance(turns[-1], dict):
            raise DataError(f"{path}:{n}: {key}: a list holding the assistant message.")
        return turns[-1].get("content")

    messages = (row["input"] or {}).get("messages") if isinstance(row["input"], dict) else None
    return {"prompt": messages, "chosen": answer("preferred_output"), "rejected": answer("non_preferred_output")}


def encode_pairs(pairs: list[tuple[Conversation, Conversation]], tokenizer, max_length: int) -> list[Pair]:
    encoded = [Pair(encode(c, tokenizer, max_length), encode(r, tokenizer, max_length)) for c, r in pairs]
    return [p for p in encoded if p.trained_tokens]


def sequence_logps(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(rows,) sum of the log-probabilities of each row's supervised tokens."""
    h, y, head = supervised_hidden(model, batch)
    keep = batch["labels"][:, 1:] != -100
    rows = torch.arange(keep.shape[0], device=keep.device)[:, None].expand_as(keep)[keep]
    total = h.new_zeros(keep.shape[0], dtype=torch.float32)
    for s in range(0, y.numel(), CHUNK):
        part = (h[s:s + CHUNK], y[s:s + CHUNK])
        logp = checkpoint(_token_logps, head, *part, use_reentrant=False) if torch.is_grad_enabled() else _token_logps(head, *part)
        total = total.index_add(0, rows[s:s + CHUNK], logp)
    return total


def _token_logps(head, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -F.cross_entropy(head(h).float(), y, reduction="none")


def dpo_loss(beta: float):
    """The loop's loss function for collated pairs: (sum of the pairs' DPO losses, pairs)."""
    def loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        logps = sequence_logps(model, batch)
        n = logps.shape[0] // 2
        margin = (logps[:n] - logps[n:]) - batch["reference"]
        return -F.logsigmoid(beta * margin).sum(), n
    return loss


def pair_loss(policy_margin: float, reference_margin: float, beta: float) -> float:
    """One pair's loss from its margins (the formula above; for checks and reports)."""
    return float(-F.logsigmoid(torch.tensor(beta * (policy_margin - reference_margin))))


@torch.no_grad()
def with_reference(model, pairs: list[Pair], pad_id: int, device, run_dir: Path, batch_size: int, autocast,
                   resumed: bool) -> list[Pair]:
    """``pairs`` with the reference margins: read from the run folder when ``resumed``, else computed with
    ``model`` as it is now (before the first step) and saved there."""
    from dataclasses import replace

    from mentor.files import atomic_write_json
    from mentor.tune.batching import collate

    saved = run_dir / REFERENCE_FILE
    if resumed and saved.exists():
        margins = json.loads(saved.read_text())["margins"]
        if len(margins) == len(pairs):
            return [replace(p, reference=m) for p, m in zip(pairs, margins)]
    was_training = model.training
    model.eval()
    margins = []
    for s in range(0, len(pairs), batch_size):
        batch = collate(pairs[s:s + batch_size], pad_id, device)
        with autocast:
            logps = sequence_logps(model, batch)
        n = logps.shape[0] // 2
        margins += (logps[:n] - logps[n:]).tolist()
    model.train(was_training)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(saved, {"margins": margins})
    return [replace(p, reference=m) for p, m in zip(pairs, margins)]
