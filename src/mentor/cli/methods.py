"""`mentor methods`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Column, Table

from mentor.models import DEFAULT_LLM
from mentor.tune.catalog import describe_methods


def register(app: typer.Typer) -> None:
    app.command("methods")(methods_cmd)


def methods_cmd(
    model: str = typer.Option(DEFAULT_LLM, help="model to measure the methods on"),
    batch_size: int = typer.Option(4, "--batch-size"),
    seq_len: int = typer.Option(512, "--seq-len"),
) -> None:
    """Every tuning method on MODEL: trainable parameters, share of the total, mergeable, training memory."""
    rows = describe_methods(model, batch_size=batch_size, seq_len=seq_len)
    table = Table(Column("method", no_wrap=True), "trainable", "% of total", "mergeable", "train memory (est.)",
                  "what it trains", title=f"Tuning methods on {model} ({rows[0].total / 1e6:.1f}M parameters)")
    for r in rows:
        merge = "yes" if r.mergeable else f"no: {r.why_not}"
        table.add_row(r.name, f"{r.trainable:,}", f"{r.percent:.3f}%", merge, f"{r.train_memory_gb:.2f} GB", r.description)
    Console().print(table)
    Console().print(f"memory: batch {batch_size} x {seq_len} tokens, fp32 (QLoRA: 4-bit base), AdamW")
