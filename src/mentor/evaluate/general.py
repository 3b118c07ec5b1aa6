"""Forgetting checks: 0-shot multiple-choice accuracy (MMLU / CMMLU style files the user passes)
scored by the log-likelihood of each choice letter, and perplexity on a small fixed general text.

Both are measured for the base model and for the tuned run in one process (a peft adapter is
switched off for the base numbers), so the delta is what tuning cost.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from mentor.data.formats import json_records
from mentor.errors import DataError, MentorError
from mentor.evaluate.text import has_cjk
from mentor.precision import autocast_context, model_device

LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Question:
    subject: str
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    source: str  # file:line

    @property
    def chinese(self) -> bool:
        return has_cjk(self.question + "".join(self.choices))

    def prompt(self) -> str:
        options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(self.choices))
        if self.chinese:
            return f"以下是关于{self.subject}的单项选择题，请选出正确答案。\n\n{self.question}\n{options}\n答案："
        return (f"The following is a multiple choice question about {self.subject}.\n\n"
                f"{self.question}\n{options}\nAnswer:")


def load_questions(paths: list[str | Path], limit: int | None = None) -> list[Question]:
    """Questions from MMLU CSVs (no header), CMMLU CSVs (header ``,Question,A,B,C,D,Answer``) or JSONL
    (``question``, ``choices``, ``answer`` letter or index, optional ``subject``); folders are searched.
    With ``limit``, questions are taken round-robin over subjects so a small subset still covers them."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".csv", ".jsonl"))
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"General-knowledge file {p} does not exist.")
    if not files:
        raise DataError(f"No .csv or .jsonl question files in {', '.join(map(str, paths))}.")
    by_subject: dict[str, list[Question]] = {}
    for f in files:
        for q in (_read_jsonl(f) if f.suffix == ".jsonl" else _read_csv(f)):
            by_subject.setdefault(q.subject, []).append(q)
    if limit is None:
        return [q for qs in by_subject.values() for q in qs]
    chosen: list[Question] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(qs) for qs in by_subject.values()):
        chosen += [qs[depth] for _, qs in sorted(by_subject.items()) if depth < len(qs)][:limit - len(chosen)]
        depth += 1
    return chosen


def _subject(path: Path) -> str:
    stem = path.stem.removesuffix("_test").removesuffix("_dev")
    return stem.replace("_", " ")


def _read_csv(path: Path) -> list[Question]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    start = 1 if "question" in header else 0
    offset = header.index("question") if start else 0
    out = []
    for number, row in enumerate(rows[start:], start + 1):
        cells = row[offset:]
        if len(cells) < 4:
            raise DataError(f"{path}:{number}: expected question, choices and answer columns, got {len(cells)} cells.")
        question, choices, answer = cells[0], tuple(cells[1:-1]), cells[-1].strip().upper()
        if answer not in LETTERS[:len(choices)]:
            raise DataError(f"{path}:{number}: answer: {answer!r} is not one of {LETTERS[:len(choices)]}.")
        out.append(Question(_subject(path), question, choices, LETTERS.index(answer), f"{path}:{number}"))
    return out


def _read_jsonl(path: Path) -> list[Question]:
    out = []
    for number, r in json_records(path):
        choices = r.get("choices") if isinstance(r, dict) else None
        if not isinstance(choices, list) or not isinstance(r.get("question"), str) or not isinstance(choices, list) or not 2 <= len(choices) <= 8:
            raise DataError(f"{path}:{number}: needs 'question' (string) and 'choices' (2 to 8 strings).")
        answer = r.get("answer")
        index = LETTERS.find(answer.strip().upper()) if isinstance(answer, str) and answer.strip() else answer
        if not isinstance(index, int) or not 0 <= index < len(choices):
            raise DataError(f"{path}:{number}: answer: {answer!r} is neither a choice letter nor a choice index.")
        out.append(Question(str(r.get("subject") or _subject(path)), r["question"], tuple(map(str, choices)),
                            index, f"{path}:{number}"))
    return out


@torch.no_grad()
def choice_accuracy(model, tokenizer, questions: list[Question], batch_size: int = 8) -> list[bool]:
    """Whether the most likely next-token letter after each prompt is the right one."""
    letter_ids = {}
    for zh in (False, True):  # English prompts end in "Answer:" (letter follows a space), Chinese in "答案："
        ids = [tokenizer((l if zh else " " + l), add_special_tokens=False)["input_ids"] for l in LETTERS]
        if any(len(i) != 1 for i in ids):
            raise MentorError("This tokenizer splits choice letters into several tokens; letter scoring needs one each.")
        letter_ids[zh] = [i[0] for i in ids]
    prompts = [q.prompt() for q in questions]
    order = sorted(range(len(questions)), key=lambda i: len(prompts[i]))  # similar lengths, little padding
    correct = [False] * len(questions)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # the last position is each prompt's own end
    try:
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(model_device(model))
            logits = model(**enc, logits_to_keep=1).logits[:, -1].float()  # (B, vocab): the last position only
            for row, i in enumerate(idx):
                q = questions[i]
                correct[i] = int(logits[row, letter_ids[q.chinese][:len(q.choices)]].argmax()) == q.answer
    finally:
        tokenizer.padding_side = side
    return correct


def probe_texts() -> dict[str, str]:
    folder = resources.files("mentor.evaluate") / "probe"
    return {p.name.removesuffix(".txt"): p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name.endswith(".txt")}


@torch.no_grad()
def text_perplexity(model, tokenizer, text: str, window: int = 512) -> float:
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"][0].to(model_device(model))
    total, count = 0.0, 0
    for s in range(0, len(ids) - 1, window):
        chunk = ids[s:s + window + 1].unsqueeze(0)
        logits = model(input_ids=chunk[:, :-1]).logits.float()
        total += torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
        count += chunk.shape[1] - 1
    return math.exp(total / max(count, 1))


def measure(lm, questions: list[Question]) -> dict:
    """Accuracy (overall and per language) and probe perplexities for the model as loaded now.
    Forward passes run under bf16 autocast where the hardware has bf16 (1.7x faster on this CPU), the
    same for base and tuned."""
    with autocast_context("auto", model_device(lm.model).type):
        correct = choice_accuracy(lm.model, lm.tokenizer, questions) if questions else []
        out: dict = {"probe_perplexity": {name: text_perplexity(lm.model, lm.tokenizer, text)
                                          for name, text in sorted(probe_texts().items())}}
    if questions:
        out["accuracy"] = 100.0 * sum(correct) / len(correct)
        for lang, zh in (("en", False), ("zh", True)):
            mine = [c for c, q in zip(correct, questions) if q.chinese == zh]
            if mine:
                out[f"accuracy_{lang}"] = 100.0 * sum(mine) / len(mine)
    return out


def forgetting(lm, questions: list[Question]) -> dict:
    """Base vs tuned general-knowledge accuracy and probe perplexity, with deltas."""
    tuned = measure(lm, questions)
    if lm.run is None:
        return {"questions": len(questions), "model": tuned}
    with lm.base_only() as base_lm:
        base = measure(base_lm, questions)
    result = {"questions": len(questions), "base": base, "tuned": tuned}
    if questions:
        result["accuracy_delta"] = tuned["accuracy"] - base["accuracy"]
    result["probe_perplexity_change_pct"] = {
        name: 100.0 * (tuned["probe_perplexity"][name] / base["probe_perplexity"][name] - 1)
        for name in base["probe_perplexity"]}
    return result
