"""`mentor models list`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Column, Table

from mentor.models import list_models

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """Aliases, where they load from, and parameter counts."""
    table = Table("kind", "parameters", "loads from", "cache", title="Models")
    table.columns.insert(0, Column("alias", no_wrap=True))
    for m in list_models():
        params = f"{m.parameters / 1e6:.1f}M" if m.parameters else "?"
        table.add_row(m.name, m.kind, params, m.source, m.cached or "-")
    Console().print(table)
    Console().print("Also: any local Hugging Face model folder, or a hub id (org/name) when online.")
