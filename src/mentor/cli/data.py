"""`mentor data check|prepare`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from mentor.data import check as check_data
from mentor.data import prepare as prepare_data
from mentor.models import DEFAULT_LLM, load_tokenizer
from mentor.models.catalog import list_models
from mentor.workspace import Workspace

app = typer.Typer(no_args_is_help=True)


@app.command("check")
def check(
    file: Path = typer.Argument(..., help="JSONL/JSON (OpenAI chat, Alpaca, ShareGPT) or .txt"),
    model: str = typer.Option(DEFAULT_LLM, help="model whose tokenizer and chat template measure lengths"),
    max_length: int = typer.Option(1024, "--max-length", help="longest example in tokens"),
    fmt: Optional[str] = typer.Option(None, "--format", help="openai, alpaca, sharegpt or text (default: detect)"),
    no_tokens: bool = typer.Option(False, "--no-tokens", help="skip token statistics (no tokenizer load)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Validate every example (file, line, field for each problem) and print statistics. Exit 1 on errors."""
    tokenizer = None if no_tokens else load_tokenizer(model)
    report = check_data(file, tokenizer, max_length, fmt)
    summary = report.summary()
    params = next((m.parameters for m in list_models() if m.name == model), None)
    if tokenizer is not None:
        summary["estimated_seconds_per_epoch"] = round(report.estimated_seconds_per_epoch(params or 134.5e6))
    if as_json:
        summary["problems"] = [asdict(p) for p in report.problems]
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        raise typer.Exit(1 if report.errors else 0)
    console = Console()
    for p in report.problems:
        style = "red" if p.severity == "error" else "yellow"
        console.print(f"[{style}]{p.severity}[/] {p}", highlight=False, soft_wrap=True)
    table = Table("statistic", "value", title=f"{file.name} ({report.result.format})", show_header=False)
    table.add_row("examples (valid)", str(summary["examples"]))
    table.add_row("errors / warnings", f"{summary['errors']} / {summary['warnings']}")
    if tokenizer is not None and report.lengths:
        table.add_row("tokens per example", "  ".join(f"{k} {v}" for k, v in summary["token_lengths"].items()))
        table.add_row("training tokens per epoch", f"{summary['tokens_per_epoch']:,}")
        table.add_row("trained (loss) tokens per epoch", f"{summary['trained_tokens_per_epoch']:,}")
        table.add_row("estimated time per epoch (LoRA, this CPU)", f"~{_duration(summary['estimated_seconds_per_epoch'])}")
    console.print(table)
    if report.errors:
        console.print(f"[red]{len(report.errors)} error(s): these examples would be skipped.")
        raise typer.Exit(1)


@app.command("prepare")
def prepare(
    file: Path = typer.Argument(..., help="data file to clean and split"),
    out: Path = typer.Option(..., "--out", help="output folder (train.jsonl, validation.jsonl, stats.json)"),
    model: str = typer.Option(DEFAULT_LLM, help="tokenizer for the length filter"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="drop examples longer than this (tokens)"),
    val_ratio: float = typer.Option(0.1, "--val-ratio", help="share held out for validation"),
    seed: int = typer.Option(42, help="seed of the deterministic split"),
    near_duplicates: float = typer.Option(0.9, "--near-duplicates", help="MinHash similarity to drop as near-duplicate (1 = off)"),
    fmt: Optional[str] = typer.Option(None, "--format", help="input format (default: detect)"),
) -> None:
    """Clean (NFKC, whitespace, control chars), de-duplicate, filter and split into normalised JSONL."""
    tokenizer = load_tokenizer(model) if max_length else None
    stats = prepare_data(file, out, tokenizer, max_length, val_ratio, seed, near_duplicates, fmt, Workspace())
    table = Table("step", "examples", title=f"{file.name} -> {out}")
    for key, value in asdict(stats).items():
        if key not in ("source", "format"):
            table.add_row(key.replace("_", " "), str(value))
    Console().print(table)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
