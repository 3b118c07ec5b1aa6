"""`mentor kb eval`: retrieval quality per search mode (hit@k, recall@k, MRR@10, nDCG@10) and, when
answers are given, answer quality (contains-answer, citation correctness)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mentor.data.formats import json_records
from mentor.errors import DataError
from mentor.rag.chunk import Chunk


@dataclass(frozen=True)
class Query:
    query: str
    relevant: tuple[str, ...]  # documents: a source path (or its tail), "source#location", or a chunk id
    answer: str | None = None
    line: int = 0


def load_queries(path: str | Path) -> list[Query]:
    """JSONL: ``query`` (or ``question``), ``relevant`` (string or list), optional ``answer``."""
    out = []
    for number, r in json_records(path):
        q = r.get("query", r.get("question")) if isinstance(r, dict) else None
        rel = r.get("relevant") if isinstance(r, dict) else None
        rel = [rel] if isinstance(rel, str) else rel
        if not isinstance(q, str) or not q.strip():
            raise DataError(f"{path}:{number}: query: missing or empty.")
        if rel is not None and (not isinstance(rel, list) or not all(isinstance(x, str) for x in rel)):
            raise DataError(f"{path}:{number}: relevant: must be a string or a list of strings.")
        out.append(Query(q, tuple(rel or ()), r.get("answer"), number))
    if not out:
        raise DataError(f"{path}: no queries.")
    return out


def doc_key(chunk: Chunk) -> str:
    return f"{chunk.source}#{chunk.location}" if chunk.location else chunk.source


def matches(chunk: Chunk, relevant: str) -> bool:
    key = doc_key(chunk)
    return relevant in (chunk.id, key, chunk.source) or key.endswith("/" + relevant) or chunk.source.endswith("/" + relevant)


def ranked_docs(chunks: list[Chunk]) -> list[Chunk]:
    """First chunk of each document, in rank order (several chunks of one document count once)."""
    seen, out = set(), []
    for c in chunks:
        if doc_key(c) not in seen:
            seen.add(doc_key(c))
            out.append(c)
    return out


def retrieval_scores(ranked: list[Chunk], relevant: tuple[str, ...], k: int) -> dict[str, float]:
    docs = ranked_docs(ranked)
    gains = [any(matches(c, r) for r in relevant) for c in docs]
    found = {r for r in relevant for c in docs[:k] if matches(c, r)}
    first = next((i for i, g in enumerate(gains[:10], 1) if g), None)
    dcg = sum(1 / math.log2(i + 1) for i, g in enumerate(gains[:10], 1) if g)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(relevant), 10) + 1))
    return {f"hit@{k}": float(any(gains[:k])), f"recall@{k}": len(found) / len(relevant),
            "mrr@10": 1 / first if first else 0.0, "ndcg@10": dcg / ideal if ideal else 0.0}


def evaluate_retrieval(kb, queries: list[Query], modes: list[str], k: int = 5, rephrase=None, progress=None) -> dict:
    from mentor.rag.retrieval import search

    out: dict[str, dict[str, float]] = {}
    judged = [q for q in queries if q.relevant]
    if not judged:
        raise DataError("No query has 'relevant' documents to score retrieval against.")
    for mode in modes:
        totals: dict[str, float] = {}
        for q in judged:
            hits = search(kb, q.query, mode, max(k, 10) * 3, rephrase=rephrase)
            for name, value in retrieval_scores([h.chunk for h in hits], q.relevant, k).items():
                totals[name] = totals.get(name, 0.0) + value
            if progress:
                progress(mode)
        out[mode] = {name: value / len(judged) for name, value in totals.items()}
    return out


def contains_answer(text: str, answer: str) -> bool:
    from mentor.evaluate.text import normalize_answer

    return normalize_answer(answer) in normalize_answer(text)


def evaluate_answers(kb, lm, queries: list[Query], mode: str = "hybrid", k: int = 4, options=None) -> dict:
    """Contains-answer rate and citation correctness (the cited sources include a relevant one)."""
    from mentor.rag.answer import ask

    with_answers = [q for q in queries if q.answer]
    contains, cited_ok, cited_any, declined = 0, 0, 0, 0
    for q in with_answers:
        result, pieces = ask(kb, lm, q.query, k, mode, options)
        for _ in pieces:
            pass
        declined += not result.relevant
        contains += contains_answer(result.text, q.answer)
        if result.cited:
            cited_any += 1
            cited_ok += any(matches(result.hits[n - 1].chunk, r) for n in result.cited for r in q.relevant)
    n = len(with_answers)
    return {"questions": n, "contains_answer": contains / n if n else None,
            "citation_correct": cited_ok / cited_any if cited_any else None,
            "answers_with_citations": cited_any / n if n else None, "declined": declined / n if n else None}
