"""Logit distillation inside the shared training loop: alpha * cross-entropy + (1 - alpha) * T^2 *
divergence(teacher || student) at temperature T, summed over supervised tokens like ``token_loss_sum``.

The teacher's distribution comes online (a teacher forward pass per batch, full vocabulary) or from
its top-k log-probabilities computed once before training and stored in the run folder (k of 49k
entries per token: compact, and re-used when the run resumes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.checkpoint import checkpoint

from mentor.data.template import IGNORE_INDEX
from mentor.tune.divergence import divergence
from mentor.errors import MentorError
from mentor.precision import model_device
from mentor.tune.batching import collate
from mentor.tune.loss import CHUNK, _prompt_learning, supervised_hidden


def check_tokenizers(teacher_tok, student_tok, teacher: str, student: str) -> None:
    """Logit distillation compares distributions token by token: both must use the same vocabulary."""
    a, b = teacher_tok.get_vocab(), student_tok.get_vocab()
    if a != b:
        differ = len(set(a.items()) ^ set(b.items()))
        raise MentorError(
            f"Teacher '{teacher}' and student '{student}' use different tokenizers ({len(a)} vs {len(b)} tokens, "
            f"{differ} entries differ): logit distillation needs one shared vocabulary. Use --mode seq, which "
            "trains the student on the teacher's answers as text and works across tokenizers.")


def _key(ids) -> str:
    return hashlib.sha1(torch.as_tensor(ids, dtype=torch.int64).cpu().numpy().tobytes()).hexdigest()


@torch.no_grad()
def precompute_topk(teacher, examples, k: int, pad_id: int, batch_size: int = 4) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Example key -> (token ids (n, k) int32, log-probs (n, k) fp16) at each supervised position."""
    out = {}
    for s in range(0, len(examples), batch_size):
        part = examples[s:s + batch_size]
        batch = collate(part, pad_id, model_device(teacher))
        h, _, head = supervised_hidden(teacher, batch)
        logp = torch.cat([F.log_softmax(head(h[c:c + CHUNK]).float(), -1) for c in range(0, len(h), CHUNK)])
        values, index = logp.topk(k, dim=-1)
        offset = 0
        for e in part:
            n = sum(1 for y in e.labels[1:] if y != IGNORE_INDEX)  # supervised after the one-position shift
            out[_key(e.input_ids)] = (index[offset:offset + n].to("cpu", torch.int32),
                                      values[offset:offset + n].to("cpu", torch.float16))
            offset += n
    return out


def save_topk(path: Path, table: dict[str, tuple[torch.Tensor, torch.Tensor]], teacher: str) -> None:
    keys = sorted(table)
    tensors = {"index": torch.cat([table[k][0] for k in keys]), "logprobs": torch.cat([table[k][1] for k in keys])}
    lengths = [len(table[k][0]) for k in keys]
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={"keys": json.dumps(keys), "lengths": json.dumps(lengths), "teacher": teacher})
    tmp.replace(path)


def load_topk(path: Path, teacher: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
    if not path.exists():
        return None
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = f.metadata()
    if meta.get("teacher") != teacher:
        return None
    tensors = load_file(path)
    out, offset = {}, 0
    for key, n in zip(json.loads(meta["keys"]), json.loads(meta["lengths"]), strict=True):
        out[key] = (tensors["index"][offset:offset + n], tensors["logprobs"][offset:offset + n])
        offset += n
    return out


class DistillLoss:
    """Called like ``token_loss_sum(model, batch)``: (loss summed over supervised tokens, their number)."""

    def __init__(self, teacher, alpha: float, temperature: float, kind: str,
                 topk: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None):
        self.teacher, self.alpha, self.temperature, self.kind, self.topk = teacher, alpha, temperature, kind, topk

    def __call__(self, model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        if _prompt_learning(model):
            raise MentorError("Logit distillation needs a student whose logits come from its own forward pass; "
                              "prompt-learning methods (prefix, prompt, ptuning) are not supported: use --mode seq.")
        h, y, head = supervised_hidden(model, batch)
        teacher = self._teacher_side(batch)
        total = h.new_zeros((), dtype=torch.float32)
        for s in range(0, y.numel(), CHUNK):
            part = (h[s:s + CHUNK], y[s:s + CHUNK], *(t[s:s + CHUNK] for t in teacher))
            if torch.is_grad_enabled():
                total = total + checkpoint(self._chunk, head, *part, use_reentrant=False)
            else:
                total = total + self._chunk(head, *part)
        return total, int(y.numel())

    def _teacher_side(self, batch) -> tuple[torch.Tensor, ...]:
        if self.topk is None:  # online: the teacher's hidden states; logits per chunk in _chunk
            with torch.no_grad():
                h, _, _ = supervised_hidden(self.teacher, batch)
            return (h,)
        rows = []
        for ids, mask in zip(batch["input_ids"].cpu(), batch["attention_mask"].cpu()):  # one copy, not one per row
            key = _key(ids[: int(mask.sum())])
            if key not in self.topk:
                raise MentorError("An example has no stored teacher log-probabilities (the data changed?); "
                                  "delete the run's teacher-topk file to compute them again.")
            rows.append(self.topk[key])
        device = batch["input_ids"].device  # fp16 -> fp32 first: CPU autocast refuses to cat fp16
        return (torch.cat([r[0].long() for r in rows]).to(device),
                torch.cat([r[1].float() for r in rows]).to(device))

    def _chunk(self, head, h, y, *teacher) -> torch.Tensor:
        logits = head(h).float()  # (n, V)
        ce = F.cross_entropy(logits, y, reduction="sum")
        student = F.log_softmax(logits / self.temperature, -1)
        if len(teacher) == 1:  # online, full vocabulary
            with torch.no_grad():
                target = F.log_softmax(self.teacher_head(teacher[0]).float() / self.temperature, -1)
        else:  # stored top-k: both distributions renormalised over the teacher's k tokens
            index, logp = teacher
            target = F.log_softmax(logp / self.temperature, -1)
            student = F.log_softmax(student.gather(-1, index), -1)
        kd = divergence(self.kind, target, student).sum()
        return self.alpha * ce + (1 - self.alpha) * self.temperature ** 2 * kd

    @property
    def teacher_head(self):
        from mentor.tune.loss import causal_lm

        return causal_lm(self.teacher).get_output_embeddings()


def distill_loss_for(config, ws, tokenizer, train_set, run_dir: Path, console, device: str = "cpu") -> DistillLoss:
    """The loss for ``mentor train --teacher``: loads the teacher, checks the tokenizers, and with
    ``teacher_topk`` computes (or re-uses) the stored top-k log-probabilities."""
    from mentor.generation import load_run_or_model

    teacher = load_run_or_model(config.teacher, ws, device)
    check_tokenizers(teacher.tokenizer, tokenizer, config.teacher, config.model)
    topk = None
    if config.teacher_topk:
        path = run_dir / f"teacher-topk-k{config.teacher_topk}.safetensors"
        topk = load_topk(path, config.teacher)
        if topk is None:
            with console.status(f"teacher top-{config.teacher_topk} log-probabilities for {len(train_set)} examples"):
                topk = precompute_topk(teacher.model, train_set, config.teacher_topk, tokenizer.pad_token_id,
                                       config.batch_size)
            run_dir.mkdir(parents=True, exist_ok=True)
            save_topk(path, topk, config.teacher)
    return DistillLoss(teacher.model, config.distill_alpha, config.distill_temperature, config.distill_divergence, topk)
