"""Search a knowledge base: dense, keyword (BM25), hybrid (reciprocal rank fusion of both), fusion
(RAG-Fusion: the LLM rephrases the question, every version is searched, results fused), with an
optional cross-encoder reranker."""

from __future__ import annotations

from dataclasses import dataclass

from mentor.errors import MentorError
from mentor.rag.chunk import Chunk
from mentor.rag.stores import check_filters

MODES = ("dense", "keyword", "hybrid", "fusion")
RRF_K = 60  # the constant of Cormack et al. (2009)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # the mode's own score (cosine, BM25 or fused)
    dense: float | None = None  # cosine similarity to the question when known


def search(kb, query: str, mode: str = "hybrid", k: int = 5, filters: dict[str, str] | None = None,
           rephrase=None, reranker=None) -> list[Hit]:
    """Top ``k`` chunks for ``query``. ``rephrase(query) -> list[str]`` is needed for ``fusion``;
    ``reranker`` (a sentence-transformers CrossEncoder) reorders the candidates."""
    if mode not in MODES:
        raise MentorError(f"Unknown search mode '{mode}' (known: {', '.join(MODES)}).")
    filters = check_filters(filters)
    pool = max(4 * k, 20) if (mode in ("hybrid", "fusion") or reranker) else k
    if mode == "dense":
        hits = _dense(kb, query, pool, filters)
    elif mode == "keyword":
        hits = _keyword(kb, query, pool, filters)
    elif mode == "hybrid":
        hits = _fuse([_dense(kb, query, pool, filters), _keyword(kb, query, pool, filters)])
    else:
        if rephrase is None:
            raise MentorError("fusion search needs a model to rephrase the question.")
        queries = [query] + [q for q in rephrase(query) if q.strip() and q.strip() != query][:3]
        hits = _fuse([h for q in queries for h in (_dense(kb, q, pool, filters), _keyword(kb, q, pool, filters))])
    if reranker is not None and hits:
        scores = reranker.predict([(query, h.chunk.for_embedding()) for h in hits], show_progress_bar=False)
        hits = [Hit(h.chunk, float(s), h.dense) for s, h in sorted(zip(scores, hits), key=lambda x: -x[0])]
    return hits[:k]


def _dense(kb, query: str, k: int, filters: dict[str, str]) -> list[Hit]:
    vector = kb.embedder.embed([query])[0]
    return [Hit(c, s, s) for c, s in kb.store.search(vector, k, filters)]


def _keyword(kb, query: str, k: int, filters: dict[str, str]) -> list[Hit]:
    if not filters:
        return [Hit(c, s) for c, s in kb.keywords.search(query, k)]
    found = kb.keywords.search(query, k * 10)  # filter after ranking; widen the pool so k survive
    return [Hit(c, s) for c, s in found if _matches(c, filters)][:k]


def _matches(chunk: Chunk, filters: dict[str, str]) -> bool:
    for key, value in filters.items():
        have = getattr(chunk, key)
        if value.endswith("*") and not have.startswith(value[:-1]) or not value.endswith("*") and have != value:
            return False
    return True


def _fuse(rankings: list[list[Hit]]) -> list[Hit]:
    """Reciprocal rank fusion: score = sum over rankings of 1 / (60 + rank)."""
    scores: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            cid = hit.chunk.id
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            if cid not in best or (best[cid].dense is None and hit.dense is not None):
                best[cid] = hit
    order = sorted(scores, key=lambda c: -scores[c])
    return [Hit(best[c].chunk, scores[c], best[c].dense) for c in order]


def load_reranker(folder: str):
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(folder, local_files_only=True)
    except OSError as e:
        raise MentorError(f"Cannot load the reranker from {folder}: {str(e).splitlines()[0]}") from None
