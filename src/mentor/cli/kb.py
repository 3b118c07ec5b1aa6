"""`mentor kb ...` (knowledge bases) and `mentor ask`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mentor.errors import MentorError
from mentor.models.aliases import DEFAULT_EMBEDDER

app = typer.Typer(no_args_is_help=True)
MODE = typer.Option("hybrid", help="dense, keyword, hybrid (both, fused) or fusion (LLM rephrasings, fused)")
FILTER = typer.Option(None, "--filter", help="KEY=VALUE on source, kind, heading or location (VALUE* = prefix)")
RERANK = typer.Option(None, help="cross-encoder model folder to rerank the candidates")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kb", help="Knowledge bases: add documents, search, evaluate retrieval.")
    root.command("ask")(ask_cmd)


def _kb(name: str):
    from mentor.rag.knowledge_base import KnowledgeBase

    return KnowledgeBase.open(name)


def _filters(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise MentorError(f"--filter expects KEY=VALUE, got '{pair}'.")
        out[key.strip()] = value.strip()
    return out


@app.command("create")
def create(name: str, embedder: str = typer.Option(DEFAULT_EMBEDDER, help="alias (minilm-l6: English, fast; "
                                                   "me5-small: Chinese, English and ~100 more) or sentence-transformers folder"),
           store: str = typer.Option("lancedb", help="lancedb (embedded) or postgres (MENTOR_DATABASE_URL)"),
           chunk_size: int = typer.Option(200, help="tokens per chunk"),
           chunk_overlap: int = typer.Option(30, help="tokens shared by neighbouring chunks")) -> None:
    """Create an empty knowledge base."""
    from mentor.rag.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.create(name, embedder, store, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    Console().print(f"created knowledge base [bold]{name}[/] ({store}, embedder {embedder}, "
                    f"{kb.settings.chunk_size}-token chunks) at {kb.folder}")


@app.command("list")
def list_cmd() -> None:
    """Knowledge bases in the workspace."""
    from mentor.rag.knowledge_base import KnowledgeBase, list_names
    from mentor.workspace import Workspace

    table = Table("name", "store", "embedder", "chunks", "files")
    for name in list_names(Workspace()):
        kb = KnowledgeBase.open(name)
        table.add_row(name, kb.settings.store, kb.settings.embedder, str(kb.count()), str(len(kb.store.sources())))
    Console().print(table)


def _with_progress(work, total_hint: str):
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[file]}"), TimeRemainingColumn(), console=Console(stderr=True))
    with progress:
        task = progress.add_task(total_hint, total=None, file="")

        def tick(source: str, total: int) -> None:
            progress.update(task, total=total, advance=1, file=Path(source).name)

        return work(tick)


def _print_report(report, console: Console) -> None:
    console.print(f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
                  f"{len(report.removed)} removed, {len(report.failed)} failed; {report.chunks_added} chunks added, "
                  f"{report.chunks_removed} removed in {report.seconds:.1f} s")
    for path, reason in report.failed:
        console.print(f"[yellow]skipped[/] {reason}", highlight=False)
    for note in report.notes:
        console.print(f"[cyan]note[/] {note}", highlight=False)


@app.command("add")
def add(name: str, paths: list[Path] = typer.Argument(..., help="files or folders")) -> None:
    """Index files (.txt .md .html .pdf .docx .jsonl .csv); changed files are re-indexed, unchanged skipped."""
    kb = _kb(name)
    report = _with_progress(lambda tick: kb.add(paths, tick), "indexing")
    _print_report(report, Console())
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@app.command("remove")
def remove(name: str, path: Path) -> None:
    """Delete a file's (or a folder's) chunks."""
    n = _kb(name).remove(path)
    Console().print(f"removed {n} chunks of {path}")


@app.command("sync")
def sync(name: str, folder: Path) -> None:
    """Mirror a folder: add new and changed files, remove the chunks of deleted ones."""
    kb = _kb(name)
    _print_report(_with_progress(lambda tick: kb.sync(folder, tick), "syncing"), Console())


@app.command("delete")
def delete(name: str, yes: bool = typer.Option(False, "--yes", help="no confirmation")) -> None:
    """Delete a knowledge base (the indexed files themselves are not touched)."""
    if not yes and not typer.confirm(f"Delete knowledge base {name}?"):
        raise typer.Exit(1)
    _kb(name).delete()
    Console().print(f"deleted {name}")


@app.command("search")
def search_cmd(name: str, query: str, mode: str = MODE, k: int = typer.Option(5, "--k"),
               filter_: Optional[list[str]] = FILTER, rerank: Optional[str] = RERANK,
               model: Optional[str] = typer.Option(None, help="LLM for --mode fusion"),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """Search a knowledge base (no answer generation)."""
    from mentor.rag.retrieval import load_reranker, search

    kb = _kb(name)
    rephrase = None
    if mode == "fusion":
        from mentor.generation import load_for_inference
        from mentor.rag.answer import rephrasings

        lm = load_for_inference(model)
        rephrase = lambda q: rephrasings(lm, q)  # noqa: E731
    hits = search(kb, query, mode, k, _filters(filter_), rephrase, load_reranker(rerank) if rerank else None)
    if as_json:
        print(json.dumps([{"rank": i, "score": h.score, **h.chunk.to_json()} for i, h in enumerate(hits, 1)],
                         ensure_ascii=False, indent=2))
        return
    table = Table("#", "score", "source", "text", show_lines=True)
    for i, h in enumerate(hits, 1):
        table.add_row(str(i), f"{h.score:.3f}", h.chunk.citation(), h.chunk.text[:300])
    Console().print(table)


@app.command("eval")
def eval_cmd(name: str, queries: Path = typer.Option(..., help="JSONL: query, relevant (sources), optional answer"),
             modes: str = typer.Option("dense,keyword,hybrid", help="comma-separated; fusion needs --model"),
             k: int = typer.Option(5, "--k"), model: Optional[str] = typer.Option(None, help="LLM for answers / fusion"),
             run: Optional[str] = typer.Option(None, help="fine-tuned run to answer with"),
             answers: bool = typer.Option(False, "--answers", help="also answer the questions and score them"),
             max_new_tokens: int = typer.Option(128, "--max-new-tokens"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Retrieval metrics per search mode (hit@k, recall@k, MRR@10, nDCG@10); with --answers, answer metrics."""
    from mentor.rag.evaluation import evaluate_answers, evaluate_retrieval, load_queries

    kb = _kb(name)
    qs = load_queries(queries)
    names = [m.strip() for m in modes.split(",") if m.strip()]
    lm = None
    from mentor.generation import GenerationOptions, load_for_inference

    if "fusion" in names or answers:
        lm = load_for_inference(model, run)
    from mentor.rag.answer import rephrasings

    with Console(stderr=True).status(f"searching {len(qs)} queries x {len(names)} modes"):
        result = {"retrieval": evaluate_retrieval(kb, qs, names, k, (lambda q: rephrasings(lm, q)) if lm else None)}
    if answers:
        with Console(stderr=True).status("answering"):
            result["answers"] = evaluate_answers(kb, lm, qs, options=GenerationOptions(max_new_tokens,
                                                                                        repetition_penalty=1.05))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    metric_names = list(next(iter(result["retrieval"].values())))
    table = Table("mode", *metric_names, title=f"{name}: {len(qs)} queries")
    for mode, values in result["retrieval"].items():
        table.add_row(mode, *(f"{values[m]:.3f}" for m in metric_names))
    Console().print(table)
    if answers:
        Console().print(result["answers"])


def ask_cmd(kb_name: str = typer.Argument(..., metavar="KB"), question: str = typer.Argument(...),
            model: Optional[str] = typer.Option(None, help="LLM (default: the run's base, else smollm2-135m-instruct)"),
            run: Optional[str] = typer.Option(None, help="fine-tuned run to answer with"),
            mode: str = MODE, k: int = typer.Option(3, "--k"), filter_: Optional[list[str]] = FILTER,
            rerank: Optional[str] = RERANK, max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Answer from a knowledge base, streamed, with numbered citations; says it does not know when
    nothing relevant is found."""
    from mentor.generation import GenerationOptions, load_for_inference
    from mentor.rag.answer import ask
    from mentor.rag.retrieval import load_reranker

    kb = _kb(kb_name)
    lm = load_for_inference(model, run)
    result, pieces = ask(kb, lm, question, k, mode, GenerationOptions(max_new_tokens, repetition_penalty=1.05),
                         _filters(filter_),
                         load_reranker(rerank) if rerank else None)
    console = Console()
    if as_json:
        for _ in pieces:
            pass
        print(json.dumps({"question": question, "answer": result.text, "relevant": result.relevant,
                          "cited": result.cited, "sources": result.sources()}, ensure_ascii=False, indent=2))
        return
    for piece in pieces:
        console.print(piece, end="", highlight=False, markup=False)
    console.print()
    if result.relevant:
        console.print("[bold]Sources[/]")
        for i, h in enumerate(result.hits, 1):
            mark = "[green]*[/]" if i in result.cited else " "
            console.print(f"{mark}[{i}] {h.chunk.citation()}", highlight=False)
