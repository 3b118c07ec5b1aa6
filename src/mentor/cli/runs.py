"""`mentor runs list|show`."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.table import Column, Table

from mentor.metrics_log import MetricsLog
from mentor.workspace import Workspace

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """All runs in the workspace."""
    table = Table(Column("name", no_wrap=True), "status", "method", "base model", "val loss", "updated", title="Runs")
    for r in Workspace().list_runs():
        val = r.summary.get("val_loss_after")
        table.add_row(r.name, r.status, r.method, r.base_model, f"{val:.4f}" if val else "-",
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(r.updated)))
    Console().print(table)


@app.command("show")
def show(run: str = typer.Argument(..., help="run name or folder")) -> None:
    """A run's status, config, results and latest metrics."""
    path = Workspace().run_path(run)
    console = Console()
    info = json.loads((path / "run.json").read_text())
    console.print(f"[bold]{info['name']}[/] ({info['status']}) at {path}")
    table = Table("key", "value", show_header=False)
    for key in ("base_model", "method", "steps", "parameters", "trainable_parameters", "val_loss_before",
                "val_loss_after", "train_loss", "real_tokens_per_second"):
        if key in info and info[key] is not None:
            table.add_row(key, str(info[key]))
    console.print(table)
    vals = [m for m in MetricsLog(path / "metrics.jsonl").read() if "val_loss" in m]
    if vals:
        console.print("validation loss: " + ", ".join(f"step {m['step']}: {m['val_loss']:.4f}" for m in vals))
    console.print(f"config: {path / 'config.yaml'}; adapter: {path / 'adapter'}")
