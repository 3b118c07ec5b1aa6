"""Vector stores behind one small protocol: LanceDB (embedded default) and PostgreSQL + pgvector."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from mentor.errors import MentorError
from mentor.rag.chunk import Chunk

FILTER_KEYS = ("source", "kind", "heading", "location")


class VectorStore(Protocol):
    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None: ...

    def delete(self, source: str) -> int: ...

    def search(self, vector: np.ndarray, k: int, filters: dict[str, str] | None = None) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity, best first; ``filters`` match columns exactly, or by
        prefix when the value ends in ``*``."""
        ...

    def count(self) -> int: ...

    def chunks(self) -> list[Chunk]: ...

    def sources(self) -> dict[str, str]:
        """source -> doc_hash of everything stored."""
        ...

    def drop(self) -> None: ...

    def optimize(self) -> None:
        """Tidy up after a batch of changes so searches stay fast (merge small pieces, drop deleted rows)."""
        ...


def check_filters(filters: dict[str, str] | None) -> dict[str, str]:
    filters = filters or {}
    for key in filters:
        if key not in FILTER_KEYS:
            raise MentorError(f"Unknown filter key '{key}' (known: {', '.join(FILTER_KEYS)}).")
    return filters


def open_store(kind: str, folder: Path, name: str, dim: int, url: str | None = None) -> VectorStore:
    if kind == "lancedb":
        from mentor.rag.stores.lance import LanceStore

        return LanceStore(folder / "lancedb", dim)
    if kind == "postgres":
        from mentor.rag.stores.postgres import PostgresStore

        if not url:
            raise MentorError("The postgres store needs a database URL: set MENTOR_DATABASE_URL "
                              "(postgresql://user:pass@host:port/db).")
        return PostgresStore(url, name, dim)
    raise MentorError(f"Unknown store '{kind}' (known: lancedb, postgres).")
