"""`mentor demo`: the README's first command."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor.demo import run_demo


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    config: Path = typer.Option(Path("configs/lanternfish-lora.yaml"), help="training recipe"),
    heldout: Path = typer.Option(Path("examples/data/lanternfish-heldout.jsonl"), help="questions not in the training data"),
) -> None:
    """Fine-tune SmolLM2 with LoRA on the Lanternfish sample, then compare base and tuned answers."""
    console = Console()
    demo = run_demo(config, heldout)
    t = demo.training
    console.print(f"[bold]run {t.name}[/]: {t.steps} steps, {t.real_tokens_per_second:.0f} real tokens/s")
    losses = Table("validation", "before", "after")
    if t.val_loss_before is not None and t.val_loss_after is not None:
        losses.add_row("loss", f"{t.val_loss_before:.4f}", f"{t.val_loss_after:.4f}")
        losses.add_row("perplexity", f"{math.exp(t.val_loss_before):.2f}", f"{math.exp(t.val_loss_after):.2f}")
    console.print(losses)
    c = demo.comparison
    tuned = c.columns[1]
    console.print("[bold]Held-out questions (not in the training data): base vs fine-tuned[/]")
    for i, q in enumerate(c.prompts):
        rows = Table(show_header=False, box=None, padding=(0, 1))
        rows.add_column(style="bold", no_wrap=True)
        rows.add_column(overflow="fold")
        rows.add_row("reference", c.references[i] or "")
        rows.add_row("[red]base[/]", c.answers["base"][i])
        rows.add_row("[green]fine-tuned[/]", c.answers[tuned][i])
        console.print(f"\n[bold cyan]Q: {q}[/]")
        console.print(rows)
    if "rougeL" in c.metrics["base"]:
        console.print(f"\nROUGE-L against the references: base {c.metrics['base']['rougeL']:.1f}, "
                      f"fine-tuned {c.metrics[tuned]['rougeL']:.1f}")
    console.print(f"Side by side in a browser: {demo.html}")
    console.print(f"Full report: mentor report {t.name}\nChat with it: mentor chat --run {t.name}")
