"""Search a knowledge base: dense, keyword (BM25), hybrid (score fusion of both), fusion (RAG-Fusion:
the LLM rephrases the question, every version is searched, results fused), with an optional
cross-encoder reranker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mentor.errors import MentorError
from mentor.evaluate.text import has_cjk
from mentor.models.aliases import reads_chinese
from mentor.rag.chunk import Chunk
from mentor.rag.stores import check_filters

MODES = ("dense", "keyword", "hybrid", "fusion")


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
        hits = _fuse([_dense(kb, query, pool, filters), _keyword(kb, query, pool, filters)],
                     [_dense_weight(kb, query), 1.0])
    else:
        if rephrase is None:
            raise MentorError("fusion search needs a model to rephrase the question.")
        extra = [q for q in rephrase(query) if q.strip() and q.strip() != query][:3]
        # the user's own question weighs as much as all rephrasings together: a small model's
        # rewordings drift (on cmrc2018 equal weights cost 20 points of recall@5 with SmolLM2-135M)
        rankings = [_dense(kb, query, pool, filters), _keyword(kb, query, pool, filters)]
        weights = [max(len(extra), 1) * _dense_weight(kb, query), max(len(extra), 1)]
        for q in extra:
            rankings += [_dense(kb, q, pool, filters), _keyword(kb, q, pool, filters)]
            weights += [_dense_weight(kb, q), 1]
        hits = _fuse(rankings, weights)
    if reranker is not None and hits:
        scores = reranker.predict([(query, h.chunk.for_embedding()) for h in hits], show_progress_bar=False)
        hits = [Hit(h.chunk, float(s), h.dense) for s, h in sorted(zip(scores, hits), key=lambda x: -x[0])]
    return hits[:k]


def _dense_weight(kb, query: str) -> float:
    """How much the dense ranking counts in hybrid and fusion search. An embedder that cannot read the
    question's language ranks noise (all-MiniLM-L6-v2, English-only: recall@5 0.29 on cmrc2018 against
    BM25's 0.99), so a Chinese question is ranked by BM25 alone; its cosine scores still inform
    ``mentor ask``'s relevance check. A multilingual embedder (me5-small: dense 0.99) keeps its weight."""
    return 0.0 if has_cjk(query) and not reads_chinese(kb.settings.embedder) else 1.0


def _dense(kb, query: str, k: int, filters: dict[str, str]) -> list[Hit]:
    vector = kb.embedder.embed([query], role="query")[0]
    return [Hit(c, s, s) for c, s in kb.store.search(vector, k, filters)]


def _keyword(kb, query: str, k: int, filters: dict[str, str]) -> list[Hit]:
    if not filters:
        return [Hit(c, s) for c, s in kb.keywords.search(query, k)]
    found = kb.keywords.search(query, k * 10)  # filter after ranking; widen the pool so k survive
    return [Hit(c, s) for c, s in found if _matches(c, filters)][:k]


def _matches(chunk: Chunk, filters: dict[str, str]) -> bool:
    for key, value in filters.items():
        have = getattr(chunk, key)
        ok = have.startswith(value[:-1]) if value.endswith("*") else have == value
        if not ok:
            return False
    return True


def _fuse(rankings: list[list[Hit]], weights: list[float] | None = None) -> list[Hit]:
    """Distribution-based score fusion: each ranking's scores become z-scores over its candidates
    (a document missing from a ranking gets that ranking's lowest), summed. A retriever whose top hit
    stands far above the rest counts more for that query than one with a flat list (on clapnq
    0.988 recall@5 for reciprocal rank fusion, 1.000 for this; see bench/rag.py)."""
    best: dict[str, Hit] = {}
    normalised = []
    for ranking in rankings:
        scores = np.array([h.score for h in ranking], dtype=np.float64)
        z = (scores - scores.mean()) / scores.std() if len(scores) > 1 and scores.std() > 0 else np.zeros(len(scores))
        normalised.append(({h.chunk.id: float(v) for h, v in zip(ranking, z)}, float(z.min()) if len(z) else 0.0))
        for h in ranking:
            if h.chunk.id not in best or (best[h.chunk.id].dense is None and h.dense is not None):
                best[h.chunk.id] = h
    weights = weights or [1.0] * len(rankings)
    fused = {cid: sum(w * z.get(cid, floor) for w, (z, floor) in zip(weights, normalised)) for cid in best}
    return [Hit(best[c].chunk, fused[c], best[c].dense) for c in sorted(fused, key=lambda c: -fused[c])]


def load_reranker(folder: str):
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(folder, local_files_only=True)
    except OSError as e:
        raise MentorError(f"Cannot load the reranker from {folder}: {str(e).splitlines()[0]}") from None
