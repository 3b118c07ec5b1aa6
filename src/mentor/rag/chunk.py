"""The unit of retrieval."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str  # file path as added (relative to where the user ran mentor, or absolute)
    doc_hash: str  # sha256 of the file: an unchanged file is skipped on re-add
    position: int  # chunk number within the file
    location: str  # "page 3", "line 12", "row 4" or ""
    heading: str  # Markdown heading path, "" if none
    text: str
    context: str = ""  # without a heading: the section's first sentence, for chunks after its first

    @staticmethod
    def make(source: str, doc_hash: str, position: int, location: str, heading: str, text: str,
             context: str = "") -> Chunk:
        cid = hashlib.sha1(f"{source}\0{doc_hash}\0{position}".encode()).hexdigest()[:20]
        return Chunk(cid, source, doc_hash, position, location, heading, text, context)

    @property
    def kind(self) -> str:
        return self.source.rsplit(".", 1)[-1].lower() if "." in self.source else ""

    def for_embedding(self) -> str:
        """Heading path (or context) + text: a chunk about "Install" under "Guide" is found by both words,
        and the middle of a long answer still carries what the answer is about (medquad dense recall@5
        0.893 -> 0.920 with the first sentence as context)."""
        return "\n".join(x for x in (self.heading, self.context, self.text) if x)

    def citation(self) -> str:
        """Where the chunk came from, for people: the path (relative to the current folder when
        inside it), page/line/row, heading."""
        where = ", ".join(x for x in (self.location, self.heading) if x)
        return _shown(self.source) + (f" ({where})" if where else "")

    def to_json(self) -> dict:
        return asdict(self)


def _shown(source: str) -> str:
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source
