"""Tokenising for metrics, right for Chinese and English alike.

Chinese has no spaces, so whitespace-split metrics see a whole Chinese sentence as one "word"
and score near zero. Here CJK runs are segmented with jieba (for ROUGE) or split into
characters (for token F1, as the CMRC 2018 official scorer does); other text is lower-cased
alphanumeric words, the same rule as rouge-score's default tokenizer.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_RUNS = re.compile(f"([{_CJK}]+)")
_WORD = re.compile(r"[a-z0-9]+")
_HAS_CJK = re.compile(f"[{_CJK}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def has_cjk(text: str) -> bool:
    return bool(_HAS_CJK.search(text))


def is_cjk(char: str) -> bool:
    """A character of the CJK blocks, full-width punctuation included (text joins without spaces there)."""
    return char >= "\u2e80"


def words(text: str) -> list[str]:
    """Words for ROUGE: jieba segments of CJK runs, lower-cased [a-z0-9]+ words elsewhere."""
    out: list[str] = []
    for i, run in enumerate(_RUNS.split(text)):
        if i % 2:  # odd pieces are the CJK runs captured by the split
            import jieba

            jieba.setLogLevel(logging.WARNING)  # it logs "Building prefix dict..." on first use
            out.extend(w for w in jieba.lcut(run) if w.strip())
        else:
            out.extend(_WORD.findall(unicodedata.normalize("NFKC", run).lower()))
    return out


def normalize_answer(text: str) -> str:
    """SQuAD / CMRC answer normalisation: lower case, no punctuation (any script), no English
    articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c).startswith("P") or c in string.punctuation else c for c in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    """Tokens for token-level F1: each CJK character alone, other words whole (after normalising)."""
    out: list[str] = []
    for i, run in enumerate(_RUNS.split(normalize_answer(text))):
        out.extend(list(run) if i % 2 else run.split())
    return out
