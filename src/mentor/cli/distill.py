"""`mentor distill`: a smaller, faster student from a teacher; `mentor distill report DIR` compares them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from mentor.errors import MentorError

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="distill", help="Distil a teacher into a smaller student (sequences, logits or both).")


@app.callback()
def distill_cmd(
    ctx: typer.Context,
    teacher: Optional[str] = typer.Option(None, help="teacher: model alias / folder, or a run (with --teacher-run)"),
    teacher_run: Optional[str] = typer.Option(None, "--teacher-run", help="a fine-tuned run as the teacher"),
    student: Optional[str] = typer.Option(None, help="student model (logits/both: same tokenizer as the teacher)"),
    student_layers: Optional[int] = typer.Option(None, "--student-layers", help="build the student from N teacher layers"),
    layer_selection: str = typer.Option("block", "--layer-selection",
                                        help="block (drop the contiguous layers whose loss cost is least) or even"),
    data: Optional[str] = typer.Option(None, help="prompts (JSONL {\"prompt\": ...}) or conversations"),
    mode: str = typer.Option("seq", help="seq (teacher writes the data), logits (match its distributions) or both"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="output folder"),
    method: str = typer.Option("full", help="how the student trains (any tuning method)"),
    epochs: float = typer.Option(3.0),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    batch_size: int = typer.Option(4, "--batch-size"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr"),
    heldout: int = typer.Option(16, help="prompts kept out of training for the report"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="teacher answer length limit"),
    temperature: float = typer.Option(0.0, help="teacher sampling temperature (0: greedy)"),
    top_p: float = typer.Option(1.0, "--top-p", help="teacher nucleus sampling"),
    samples: int = typer.Option(1, help="teacher answers per prompt (more than one: set --temperature)"),
    alpha: float = typer.Option(0.5, help="logits: weight of cross-entropy (1 - alpha: divergence)"),
    kd_temperature: float = typer.Option(2.0, "--kd-temperature", help="logits: softening temperature"),
    divergence: str = typer.Option("forward_kl", help="logits: forward_kl, reverse_kl or jsd"),
    topk: int = typer.Option(0, help="logits: store the teacher's top-k log-probs once (0: teacher online)"),
    judge: Optional[str] = typer.Option(None, help="drop teacher answers this judge (model or URL) scores low"),
    min_judge_score: float = typer.Option(6.0, "--min-judge-score"),
    keep_truncated: bool = typer.Option(False, "--keep-truncated", help="keep teacher answers cut off at --max-new-tokens"),
    baseline: bool = typer.Option(False, help="also train the same student without the teacher, for the report"),
) -> None:
    """Distil TEACHER into a student, then run `mentor distill report OUTPUT`."""
    if ctx.invoked_subcommand:
        return
    from mentor.distill.pipeline import DistillSettings, distill

    name = teacher_run or teacher
    if name is None or data is None or output is None:
        raise MentorError("mentor distill needs --teacher (or --teacher-run), --data and --output "
                          "(and --student or --student-layers).")
    result = distill(DistillSettings(name, data, str(output), mode, student=student, student_layers=student_layers,
                                     layer_selection=layer_selection, method=method, epochs=epochs, max_steps=max_steps,
                                     batch_size=batch_size, learning_rate=learning_rate, heldout=heldout,
                                     max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                     samples=samples, alpha=alpha, kd_temperature=kd_temperature,
                                     divergence=divergence, topk=topk, judge=judge, min_judge_score=min_judge_score,
                                     keep_truncated=keep_truncated, baseline=baseline))
    Console().print(f"student trained: {result.student_run} ({result.train_examples} examples); "
                    f"compare with: mentor distill report {output}")


@app.command("report")
def report_cmd(folder: Path = typer.Argument(..., help="the distillation output folder"),
               max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens")) -> None:
    """Teacher vs student: parameters, size, tokens/s, memory, perplexity, ROUGE-L, quality retained."""
    from mentor.distill.report import distill_report

    report = distill_report(folder, max_new_tokens=max_new_tokens)
    table = Table("model", "params", "disk MB", "tok/s", "peak RSS MB", "ppl", "ROUGE-L ref", "ROUGE-L teacher")
    fmt = lambda v, f="{:.1f}": "-" if v is None else f.format(v)  # noqa: E731
    for m in report["models"]:
        table.add_row(m["name"], f"{m['parameters'] / 1e6:.1f}M", f"{m['disk_mb']:.0f}", f"{m['tokens_per_s']:.1f}",
                      f"{m['peak_rss_mb']:.0f}", fmt(m["perplexity"], "{:.2f}"), fmt(m["rougeL_reference"]),
                      f"{m['rougeL_teacher']:.1f}")
    console = Console()
    console.print(table)
    for name, r in report.get("ratios", {}).items():
        console.print(f"{name}: {fmt(r['speedup'], '{:.2f}')}x faster, quality retained: vs references "
                      f"{fmt(r['quality_retained_vs_reference'], '{:.0%}')}, vs the teacher's answers "
                      f"{fmt(r.get('quality_retained_vs_teacher'), '{:.0%}')} (ROUGE-L {r['rougeL_vs_teacher']:.1f})")
    console.print(f"written: {Path(folder) / 'report.md'}")
