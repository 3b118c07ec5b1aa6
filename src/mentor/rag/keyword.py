"""BM25 keyword search (bm25s) over Chinese-aware tokens: jieba words for Chinese, lower-cased
words for other text, plus single CJK characters so partial Chinese terms still match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mentor.evaluate.text import is_cjk, words
from mentor.files import atomic_dir
from mentor.rag.chunk import Chunk

_STOP = frozenset("a an and are as at be by for from has have how in is it its of on or that the this to was were "
                  "what when where which who why will with do does did can i you your we our they 的 了 是 在 和 "
                  "有 吗 呢 吧 啊 什么 怎么 哪些 如何".split())


def tokens(text: str) -> list[str]:
    out = []
    for w in words(text):
        if w in _STOP:
            continue
        out.append(w)
        if len(w) > 1 and is_cjk(w[0]):  # also the characters of a Chinese word
            out.extend(w)
    return out


class KeywordIndex:
    """A BM25 index over the knowledge base's chunks, saved in a folder with the chunks themselves
    and rebuilt when the knowledge base changes (bm25s has no in-place update; rebuilding 10k chunks
    takes about a second)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.chunks: list[Chunk] = []
        self._bm25 = None
        if (folder / "chunks.jsonl").exists():
            import bm25s

            lines = (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
            self.chunks = [Chunk(**json.loads(line)) for line in lines if line]
            if self.chunks:
                self._bm25 = bm25s.BM25.load(str(folder / "bm25"))
        self.by_id = {c.id: c for c in self.chunks}

    def rebuild(self, chunks: list[Chunk]) -> None:
        import bm25s

        bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index([tokens(c.for_embedding()) or ["\0"] for c in chunks], show_progress=False)
        with atomic_dir(self.folder) as tmp:
            if bm25 is not None:
                bm25.save(str(tmp / "bm25"))
            (tmp / "chunks.jsonl").write_text("".join(json.dumps(c.to_json(), ensure_ascii=False) + "\n"
                                                      for c in chunks), encoding="utf-8")
        self.chunks, self._bm25 = list(chunks), bm25
        self.by_id = {c.id: c for c in self.chunks}

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        if self._bm25 is None:
            return []
        q = [t for t in tokens(query) if t in self._bm25.vocab_dict]
        if not q:
            return []
        scores = self._bm25.get_scores(q)
        top = np.argsort(-scores)[:k]
        return [(self.chunks[i], float(scores[i])) for i in top if scores[i] > 0]
