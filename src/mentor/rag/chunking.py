"""Structure- and sentence-aware chunking, sized in tokens with overlap.

Markdown headings split a document into sections (each chunk keeps its heading path);
paragraphs, then sentences (Chinese 。！？；and English .!?) are packed up to ``size`` tokens;
a sentence longer than that is cut by tokens. Consecutive chunks share about ``overlap``
tokens of whole sentences.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mentor.evaluate.text import is_cjk

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# A sentence ends after Chinese 。！？；… (plus closing quotes) or after English .!? followed by space.
_SENTENCE = re.compile(r"(?<=[。！？；…])[”’」』）)\"']*|(?<=[.!?])[\"')\]]*(?=\s)")


@dataclass(frozen=True)
class Piece:
    text: str
    heading: str  # "Title > Section > Subsection"


_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|vs|etc|e\.g|i\.e|No|Fig|Inc|Ltd|Co)|\b[A-Z])\.$")


def split_sentences(text: str) -> list[str]:
    out, last = [], 0
    for m in _SENTENCE.finditer(text):
        end = m.end()
        if end > last and text[last:end].strip() and not _ABBREVIATION.search(text[last:end]):
            out.append(text[last:end])
            last = end
    if text[last:].strip():
        out.append(text[last:])
    return [s.strip() for s in out if s.strip()]


def _blocks(text: str) -> list[tuple[str, str]]:
    """(heading path, paragraph) in order; heading lines themselves are not paragraphs."""
    path: list[tuple[int, str]] = []
    out: list[tuple[str, str]] = []
    para: list[str] = []

    def flush() -> None:
        if para and "".join(para).strip():
            out.append((" > ".join(h for _, h in path), "\n".join(para).strip()))
        para.clear()

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            path = [(lv, h) for lv, h in path if lv < level] + [(level, m.group(2))]
        elif not line.strip():
            flush()
        else:
            para.append(line)
    flush()
    return out


def chunk_text(text: str, count_tokens: Callable[[str], int], size: int = 200, overlap: int = 30,
               cut: Callable[[str, int], list[str]] | None = None) -> list[Piece]:
    """Chunks of at most ``size`` tokens (as counted by ``count_tokens``)."""
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    cut = cut or _cut_by_chars
    pieces: list[Piece] = []
    for heading, para in _group_by_heading(_blocks(text)):
        units: list[tuple[str, int]] = []
        for paragraph in para:
            for sentence in split_sentences(paragraph):
                n = count_tokens(sentence)
                if n <= size:
                    units.append((sentence, n))
                else:
                    units += [(part, count_tokens(part)) for part in cut(sentence, size)]
            if units:
                units[-1] = (units[-1][0] + "\n\n", units[-1][1])  # keep paragraph breaks inside a chunk
        pieces += _pack(units, heading, size, overlap)
    return pieces


def _group_by_heading(blocks: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for heading, para in blocks:
        if out and out[-1][0] == heading:
            out[-1][1].append(para)
        else:
            out.append((heading, [para]))
    return out


def _pack(units: list[tuple[str, int]], heading: str, size: int, overlap: int) -> list[Piece]:
    pieces, current, tokens = [], [], 0
    for i, (text, n) in enumerate(units):
        if current and tokens + n > size:
            pieces.append(Piece(_join(units[j][0] for j in current), heading))
            kept, kept_tokens = [], 0  # carry whole trailing sentences of up to `overlap` tokens
            for j in reversed(current):
                if kept_tokens + units[j][1] > overlap or kept_tokens + units[j][1] + n > size:
                    break
                kept.insert(0, j)
                kept_tokens += units[j][1]
            current, tokens = kept, kept_tokens
        current.append(i)
        tokens += n
    if current:
        pieces.append(Piece(_join(units[j][0] for j in current), heading))
    return pieces


def _join(parts) -> str:
    text = ""
    for p in parts:
        if text and not text.endswith("\n") and not (is_cjk(text[-1]) and p and is_cjk(p[0])):
            text += " "
        text += p
    return text.strip()


def _cut_by_chars(sentence: str, size: int) -> list[str]:
    """Fallback cut of an over-long sentence: ``size`` characters each (callers pass a token-exact cut)."""
    return [sentence[i:i + size] for i in range(0, len(sentence), size)]
