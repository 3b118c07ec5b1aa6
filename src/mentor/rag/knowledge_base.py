"""A knowledge base: a folder in the workspace (``kb/<name>/``) with its settings, a vector store
and a BM25 index. Files are added incrementally by content hash."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mentor.errors import DataError, MentorError
from mentor.files import atomic_write_json
from mentor.evaluate.text import has_cjk
from mentor.models.aliases import DEFAULT_EMBEDDER, reads_chinese
from mentor.rag.chunk import Chunk
from mentor.rag.chunking import chunk_text, split_sentences
from mentor.rag.documents import file_hash, find_files, read_sections
from mentor.rag.keyword import KeywordIndex
from mentor.rag.stores import VectorStore, open_store
from mentor.workspace import Workspace


@dataclass
class Settings:
    name: str
    embedder: str = DEFAULT_EMBEDDER
    store: str = "lancedb"
    dim: int = 0
    chunk_size: int = 200  # tokens of the embedder
    chunk_overlap: int = 30
    created: float = 0.0


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # advice for the user, e.g. on the embedder


class KnowledgeBase:
    def __init__(self, settings: Settings, folder: Path, workspace: Workspace):
        self.settings, self.folder, self.workspace = settings, folder, workspace
        self._embedder = None
        self.store: VectorStore = open_store(settings.store, folder, settings.name, settings.dim,
                                             os.environ.get("MENTOR_DATABASE_URL"))
        self.keywords = KeywordIndex(folder / "keyword")

    # -- lifecycle ---------------------------------------------------------------------------
    @staticmethod
    def create(name: str, embedder: str = DEFAULT_EMBEDDER, store: str = "lancedb", workspace: Workspace | None = None,
               chunk_size: int = 200, chunk_overlap: int = 30) -> KnowledgeBase:
        ws = workspace or Workspace()
        _check_name(name)
        folder = ws.home / "kb" / name
        if (folder / "kb.json").exists():
            raise MentorError(f"Knowledge base '{name}' already exists ({folder}).")
        if chunk_overlap >= chunk_size:
            raise MentorError(f"chunk overlap ({chunk_overlap}) must be smaller than chunk size ({chunk_size}).")
        from mentor.rag.embedding import Embedder

        model = Embedder(embedder, ws)
        size = min(chunk_size, model.max_tokens - 2)  # room for [CLS]/[SEP]: longer chunks would be truncated
        settings = Settings(name, embedder, store, model.dim, size, chunk_overlap, time.time())
        kb = KnowledgeBase(settings, folder, ws)  # opens the store first: a bad database URL fails here
        kb._embedder = model
        atomic_write_json(folder / "kb.json", asdict(settings))
        return kb

    @staticmethod
    def open(name: str, workspace: Workspace | None = None) -> KnowledgeBase:
        ws = workspace or Workspace()
        folder = ws.home / "kb" / name
        if not (folder / "kb.json").exists():
            known = ", ".join(list_names(ws)) or "none yet"
            raise MentorError(f"No knowledge base '{name}' (known: {known}); create it with: mentor kb create {name}")
        return KnowledgeBase(Settings(**json.loads((folder / "kb.json").read_text())), folder, ws)

    @property
    def embedder(self):
        if self._embedder is None:
            from mentor.rag.embedding import Embedder

            self._embedder = Embedder(self.settings.embedder, self.workspace)
        return self._embedder

    # -- content -----------------------------------------------------------------------------
    def chunk_file(self, path: Path, digest: str) -> list[Chunk]:
        source = str(path.resolve())
        chunks: list[Chunk] = []
        for section in read_sections(path):
            pieces = chunk_text(section.text, self.embedder.count_tokens, self.settings.chunk_size,
                                self.settings.chunk_overlap, self.embedder.cut)
            first = split_sentences(section.text)[:1]
            for i, piece in enumerate(pieces):
                heading = " > ".join(h for h in (section.title, piece.heading) if h)
                context = first[0][:150] if first and i > 0 and not heading else ""
                chunks.append(Chunk.make(source, digest, len(chunks), section.location, heading, piece.text, context))
        return chunks

    def add(self, paths: list[str | Path], progress: Callable[[str, int], None] | None = None) -> AddReport:
        """Index new and changed files (changed: old chunks replaced); unchanged files are skipped;
        unreadable ones are reported in ``failed`` and the rest is indexed."""
        started = time.perf_counter()
        report = AddReport()
        stored = self.store.sources()
        files = find_files(paths)
        for path in files:
            source = str(path.resolve())
            if progress:
                progress(source, len(files))
            try:
                digest = file_hash(path)
                if stored.get(source) == digest:
                    report.unchanged.append(source)
                    continue
                chunks = self.chunk_file(path, digest)
            except (DataError, OSError) as e:
                report.failed.append((str(path), str(e)))
                continue
            if not report.notes and not reads_chinese(self.settings.embedder) and any(has_cjk(c.text) for c in chunks):
                report.notes.append(
                    f"{self.settings.embedder} reads English only: Chinese text is found by keyword search alone here. "
                    f"For meaning-based Chinese search create the knowledge base with --embedder me5-small.")
            vectors = self.embedder.embed([c.for_embedding() for c in chunks])
            if source in stored:
                report.chunks_removed += self.store.delete(source)
                report.updated.append(source)
            else:
                report.added.append(source)
            self.store.add(chunks, vectors)
            report.chunks_added += len(chunks)
        if report.added or report.updated:
            self._changed()
        report.seconds = time.perf_counter() - started
        return report

    def remove(self, path: str | Path) -> int:
        """Delete a file's chunks (or every file under a folder); the file itself need not exist any more."""
        target = str(Path(path).resolve())
        sources = [s for s in self.store.sources() if s == target or s.startswith(target.rstrip("/") + "/")]
        if not sources:
            raise MentorError(f"Nothing from {path} is in knowledge base '{self.settings.name}'.")
        removed = sum(self.store.delete(s) for s in sources)
        self._changed()
        return removed

    def sync(self, folder: str | Path, progress: Callable[[str, int], None] | None = None) -> AddReport:
        """Make the knowledge base mirror ``folder``: add new/changed files, remove deleted ones."""
        root = Path(folder).resolve()
        if not root.is_dir():
            raise MentorError(f"{folder} is not a folder.")
        files = find_files([root])
        report = self.add(files, progress)
        present = {str(p.resolve()) for p in files}
        gone = [s for s in self.store.sources() if s.startswith(str(root) + "/") and s not in present]
        for source in gone:
            report.chunks_removed += self.store.delete(source)
            report.removed.append(source)
        if gone:
            self._changed()
        return report

    def _changed(self) -> None:
        """After chunks were added or removed: compact the vector store, rebuild the BM25 index (from the
        compacted version, which the next search reads too)."""
        self.store.optimize()
        self.keywords.rebuild(self.store.chunks())

    def count(self) -> int:
        return self.store.count()

    def delete(self) -> None:
        import shutil

        self.store.drop()
        shutil.rmtree(self.folder)


def list_names(ws: Workspace) -> list[str]:
    root = ws.home / "kb"
    return sorted(p.parent.name for p in root.glob("*/kb.json")) if root.exists() else []


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise MentorError(f"Knowledge base name '{name}' may only hold letters, digits, '-' and '_'.")
