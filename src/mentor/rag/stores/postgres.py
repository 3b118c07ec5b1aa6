"""PostgreSQL + pgvector (HNSW, cosine): the store for a team that outgrows one machine."""

from __future__ import annotations

import re

import numpy as np

from mentor.errors import MentorError
from mentor.rag.chunk import Chunk
from mentor.rag.stores import check_filters

_COLUMNS = "id, source, doc_hash, position, location, heading, text, context"


class PostgresStore:
    def __init__(self, url: str, name: str, dim: int):
        import psycopg

        self.table = "mentor_kb_" + re.sub(r"[^a-z0-9_]", "_", name.lower())
        self.dim = dim
        try:
            self.con = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as e:
            raise MentorError(f"Cannot connect to PostgreSQL at {_redact(url)}: {str(e).strip().splitlines()[0]}") from None
        with self.con.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (id TEXT PRIMARY KEY, source TEXT NOT NULL, "
                        "doc_hash TEXT NOT NULL, position INTEGER NOT NULL, location TEXT NOT NULL, "
                        f"heading TEXT NOT NULL, text TEXT NOT NULL, context TEXT NOT NULL, kind TEXT NOT NULL, "
                        f"embedding vector({dim}) NOT NULL)")
            cur.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw ON {self.table} "
                        "USING hnsw (embedding vector_cosine_ops)")
            cur.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_source ON {self.table} (source)")

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        rows = [(c.id, c.source, c.doc_hash, c.position, c.location, c.heading, c.text, c.context, c.kind, _vector(v))
                for c, v in zip(chunks, vectors, strict=True)]
        with self.con.cursor() as cur, self.con.transaction():
            cur.executemany(f"INSERT INTO {self.table} ({_COLUMNS}, kind, embedding) VALUES "
                            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector) ON CONFLICT (id) DO NOTHING", rows)

    def delete(self, source: str) -> int:
        with self.con.cursor() as cur:
            cur.execute(f"DELETE FROM {self.table} WHERE source = %s", (source,))
            return cur.rowcount

    def search(self, vector: np.ndarray, k: int, filters: dict[str, str] | None = None) -> list[tuple[Chunk, float]]:
        clauses, params = [], []
        for key, value in check_filters(filters).items():
            if value.endswith("*"):
                clauses.append(f"{key} LIKE %s")
                params.append(value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            else:
                clauses.append(f"{key} = %s")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        q = _vector(vector)
        with self.con.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS}, 1 - (embedding <=> %s::vector) FROM {self.table} {where} "
                        "ORDER BY embedding <=> %s::vector LIMIT %s", (q, *params, q, k))
            return [(Chunk(*row[:8]), float(row[8])) for row in cur.fetchall()]

    def count(self) -> int:
        with self.con.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self.table}")
            return cur.fetchone()[0]

    def chunks(self) -> list[Chunk]:
        with self.con.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM {self.table} ORDER BY source, position")
            return [Chunk(*row) for row in cur.fetchall()]

    def sources(self) -> dict[str, str]:
        with self.con.cursor() as cur:
            cur.execute(f"SELECT DISTINCT source, doc_hash FROM {self.table}")
            return dict(cur.fetchall())

    def optimize(self) -> None:
        pass  # the HNSW index is maintained on every insert and delete

    def drop(self) -> None:
        with self.con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")


def _vector(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, dtype=np.float32)) + "]"


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
