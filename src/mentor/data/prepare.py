"""`mentor data prepare`: clean, de-duplicate, filter by length and split deterministically."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mentor.data.conversation import Conversation, Message
from mentor.data.formats import load
from mentor.data.template import encode
from mentor.files import atomic_dir
from mentor.workspace import Workspace

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200c\u200d\u2060\ufeff]")
# Full-width punctuation is normal in Chinese text (，：！？（）); NFKC would turn it into ASCII.
_CJK_PUNCT = re.compile(r"([\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65])")


@dataclass
class PrepareStats:
    source: str
    format: str
    read: int = 0
    invalid: int = 0
    empty: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    too_long: int = 0
    train: int = 0
    validation: int = 0


def clean_text(text: str) -> str:
    """NFKC (keeping full-width CJK punctuation), no control characters, tidy whitespace."""
    text = "".join(p if _CJK_PUNCT.fullmatch(p) else unicodedata.normalize("NFKC", p) for p in _CJK_PUNCT.split(text))
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "))
    lines = [re.sub(r"[ \u3000]+$", "", line) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def clean(conv: Conversation) -> Conversation | None:
    """A cleaned copy, or None when cleaning leaves nothing to learn."""
    if conv.is_text:
        text = clean_text(conv.text or "")
        return replace(conv, text=text) if text else None
    messages = tuple(Message(m.role, clean_text(m.content)) for m in conv.messages)
    if any(not m.content for m in messages if m.role != "system"):
        return None
    messages = tuple(m for m in messages if m.content)
    return replace(conv, messages=messages)


def split_key(conv: Conversation, seed: int) -> str:
    """Stable per-example key: the split does not move examples when others are added."""
    return hashlib.sha256(f"{seed}:{conv.fingerprint()}".encode()).hexdigest()


def split(examples: list[Conversation], val_ratio: float, seed: int) -> tuple[list[Conversation], list[Conversation]]:
    """(train, validation): the ``val_ratio`` share with the lowest split keys, at least one if any."""
    ordered = sorted(examples, key=lambda c: split_key(c, seed))
    n_val = round(len(ordered) * val_ratio) if val_ratio > 0 else 0
    if val_ratio > 0 and n_val == 0 and len(ordered) >= 2:
        n_val = 1
    by_line = lambda c: c.line  # noqa: E731
    return sorted(ordered[n_val:], key=by_line), sorted(ordered[:n_val], key=by_line)


def prepare(path: str | Path, out_dir: str | Path, tokenizer=None, max_length: int | None = None,
            val_ratio: float = 0.1, seed: int = 42, near_duplicate_threshold: float = 0.9,
            fmt: str | None = None, workspace: Workspace | None = None) -> PrepareStats:
    """Write ``train.jsonl``, ``validation.jsonl`` and ``stats.json`` (normalised OpenAI chat form).

    With a ``workspace``, the prepared set is registered there under the output folder's name.
    """
    result = load(path, fmt)
    stats = PrepareStats(str(result.path), result.format, read=len(result.examples) + len(result.errors),
                         invalid=len(result.errors))
    kept: list[Conversation] = []
    seen: set[str] = set()
    for ex in result.examples:
        cleaned = clean(ex)
        if cleaned is None:
            stats.empty += 1
            continue
        fp = cleaned.fingerprint()
        if fp in seen:
            stats.exact_duplicates += 1
            continue
        seen.add(fp)
        if tokenizer is not None and max_length and len(encode(cleaned, tokenizer, 10**9).input_ids) > max_length:
            stats.too_long += 1
            continue
        kept.append(cleaned)
    kept, stats.near_duplicates = _drop_near_duplicates(kept, near_duplicate_threshold)
    train, validation = split(kept, val_ratio, seed)
    stats.train, stats.validation = len(train), len(validation)
    with atomic_dir(Path(out_dir)) as tmp:
        _write_jsonl(tmp / "train.jsonl", train)
        if validation:
            _write_jsonl(tmp / "validation.jsonl", validation)
        (tmp / "stats.json").write_text(json.dumps(asdict(stats), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if workspace is not None:
        out = Path(out_dir)
        digest = hashlib.sha256((out / "train.jsonl").read_bytes()).hexdigest()
        workspace.save_dataset(out.resolve().name, out, result.format, stats.train + stats.validation, digest)
    return stats


def _drop_near_duplicates(examples: list[Conversation], threshold: float) -> tuple[list[Conversation], int]:
    kept = unique_indices([ex.plain() for ex in examples], threshold)
    return [examples[i] for i in kept], len(examples) - len(kept)


def unique_indices(texts: list[str], threshold: float) -> list[int]:
    """Indices of the texts kept when near-duplicates (estimated Jaccard >= ``threshold``) of an earlier text are
    dropped: MinHash LSH over character 5-grams (works for Chinese, which has no spaces)."""
    if threshold >= 1.0 or len(texts) < 2:
        return list(range(len(texts)))
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    kept = []
    for i, raw in enumerate(texts):
        text = re.sub(r"\s+", " ", raw.lower())
        mh = MinHash(num_perm=128, seed=1)
        mh.update_batch([text[j:j + 5].encode() for j in range(max(1, len(text) - 4))])
        if lsh.query(mh):
            continue
        lsh.insert(str(i), mh)
        kept.append(i)
    return kept


def _write_jsonl(path: Path, examples: list[Conversation]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
