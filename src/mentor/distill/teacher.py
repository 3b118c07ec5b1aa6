"""The teacher's side of sequence-level distillation: read prompts, answer them in batches with the
answers cached on disk (an interrupted run resumes where it stopped), filter the answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mentor.data.conversation import Conversation, Message
from mentor.data.formats import json_records, load_examples
from mentor.errors import DataError
from mentor.files import atomic_write_text


@dataclass(frozen=True)
class Prompt:
    conversation: Conversation  # ends where the assistant should answer
    reference: str | None  # the data's own answer, when it has one
    line: int

    @property
    def key(self) -> str:
        return self.conversation.fingerprint()


def read_prompts(path: str | Path) -> list[Prompt]:
    """Prompts from JSONL ``{"prompt": ...}`` lines, or from conversations in any training format (their
    last assistant turn becomes the reference)."""
    path = Path(path)
    records = list(json_records(path)) if path.suffix == ".jsonl" else []
    if records and all(isinstance(obj, dict) and "prompt" in obj for _, obj in records):
        out = []
        for line, obj in records:
            if not isinstance(obj["prompt"], str) or not obj["prompt"].strip():
                raise DataError(f"{path}:{line}: prompt: expected a non-empty string.")
            out.append(Prompt(Conversation((Message("user", obj["prompt"]),), line=line), obj.get("reference"), line))
        return out
    out = []
    for ex in load_examples(path):
        if ex.is_text:
            raise DataError(f"{path}:{ex.line}: plain text has no prompt to answer; distillation needs prompts or conversations.")
        prompt, reference = ex.prompt_and_reference()
        out.append(Prompt(prompt, reference, ex.line))
    return out


@dataclass
class Answer:
    key: str
    messages: list[dict]
    answer: str
    tokens: int
    finished: bool  # ended before max_new_tokens

    def to_json(self) -> dict:
        return {"key": self.key, "messages": self.messages, "answer": self.answer, "tokens": self.tokens,
                "finished": self.finished}


def read_cache(path: Path) -> dict[str, Answer]:
    """Answers written so far; a last line cut off by a crash is ignored (it is answered again)."""
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[obj["key"]] = Answer(**obj)
    return out


def sample_key(prompt_key: str, sample: int) -> str:
    """The cache key of the teacher's ``sample``-th answer to a prompt (the first: the prompt's own key)."""
    return prompt_key if sample == 0 else f"{prompt_key}#{sample}"


def teacher_answers(lm, prompts: list[Prompt], cache: Path, options, samples: int = 1, batch_size: int = 32,
                    progress: Callable[[int, int], None] | None = None) -> tuple[dict[str, Answer], int]:
    """``samples`` answers to every prompt (sampled: ``options.temperature`` > 0), those not in ``cache`` yet
    generated now and appended to it as they finish. Returns (all answers by ``sample_key``, how many were
    generated now)."""
    from dataclasses import replace

    from mentor.generation import generate

    done = read_cache(cache)
    if cache.exists() and not cache.read_bytes().endswith(b"\n"):  # cut off mid-line: keep the whole lines only
        atomic_write_text(cache, "".join(json.dumps(a.to_json(), ensure_ascii=False) + "\n" for a in done.values()))
    unique = {p.key: p for p in prompts}.values()
    todo = [(sample_key(p.key, j), p) for p in unique for j in range(samples) if sample_key(p.key, j) not in done]
    cache.parent.mkdir(parents=True, exist_ok=True)
    made = 0
    for s in range(0, len(todo), 4 * batch_size):  # written to the cache every 4 batches' worth
        part = todo[s:s + 4 * batch_size]
        # every row its own seed (generate adds the row's index): a prompt's samples differ
        step = options if options.seed is None else replace(options, seed=options.seed + s)
        replies = generate(lm, [p.conversation for _, p in part], step, batch_size)
        with open(cache, "a", encoding="utf-8") as f:
            for (key, p), reply in zip(part, replies, strict=True):
                n = len(lm.tokenizer(reply, add_special_tokens=False)["input_ids"])
                answer = Answer(key, p.conversation.to_json()["messages"], reply, n, n < options.max_new_tokens)
                done[key] = answer
                f.write(json.dumps(answer.to_json(), ensure_ascii=False) + "\n")
            f.flush()
        made += len(part)
        if progress:
            progress(made, len(todo))
    return done, made


def keep_answer(answer: Answer, seen: set[str], min_judge: float | None = None, score: float | None = None,
                keep_truncated: bool = False) -> str | None:
    """Why an answer is dropped (None: kept): empty, word for word the same as an earlier kept answer
    (``seen``: a generic reply the teacher gives to anything), cut off at the token limit, or below the
    judge's minimum score."""
    if not answer.answer.strip():
        return "empty"
    if answer.answer.strip() in seen:
        return "duplicate"
    if not answer.finished and not keep_truncated:
        return "too long"
    if min_judge is not None and (score is None or score < min_judge):
        return "low judge score"
    return None
