"""`mentor iterate APP` (one round of the loop) and its steps: `mine`, `dataset`, `compare`, `list`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup


class _AppOrStep(TyperGroup):
    """`mentor iterate APP` runs a round; `mentor iterate STEP ...` runs one step."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["round", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_AppOrStep, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="print JSON")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="iterate", help="The iteration loop: online bad cases -> next dataset -> continue "
                                             "fine-tuning -> compare -> promote.")


def _ws():
    from mentor.workspace import Workspace

    return Workspace()


def _print(value) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _teacher(teacher: str | None, model: str | None):
    from mentor.evaluate.judge import Judge

    return Judge(teacher, model) if teacher else None


@app.command("round")
def round_cmd(name: str = typer.Argument(..., help="the app"),
              teacher: str = typer.Option(None, help="answers cases without a correction: a model alias / run, or an "
                                                     "OpenAI-compatible URL (its answers are unreviewed)"),
              teacher_model: str = typer.Option(None, "--teacher-model", help="model name at the teacher endpoint"),
              judge: str = typer.Option(None, help="keeps teacher answers it scores 7/10 or more"),
              accept_unreviewed: bool = typer.Option(False, "--accept-unreviewed", help="train on unreviewed answers too"),
              force: bool = typer.Option(False, help="promote even a candidate that does not win"),
              no_promote: bool = typer.Option(False, "--no-promote", help="stop at the comparison"),
              as_json: bool = JSON) -> None:
    """One round: mine, build the dataset, train from the current model, compare, promote a winner."""
    from mentor.apps import run_round

    console = Console(stderr=True)
    result = run_round(_ws(), name, _teacher(teacher, teacher_model), _teacher(judge, None), accept_unreviewed, force,
                       not no_promote, log=lambda m: console.print(m, highlight=False, soft_wrap=True))
    if as_json:
        return _print(result)
    Console().print(f"round {result['id']}: [bold]{result['status']}[/] ({result.get('reason', '')})")


@app.command("mine")
def mine_cmd(name: str, out: Path = typer.Option(..., help="cases JSONL to write"),
             since: str = typer.Option(None, help="only requests since: 30m, 2h, 7d or 2026-12-01"),
             include_used: bool = typer.Option(False, "--include-used", help="also feedback trained on in earlier rounds"),
             as_json: bool = JSON) -> None:
    """Collect the cases worth fixing: thumbs-down, failed checks, low-confidence routes, refusals, errors."""
    from collections import Counter

    from mentor.cli.apps import _since
    from mentor.apps.cases import mine, write_cases

    cases = mine(_ws(), name, _since(since), include_used)
    write_cases(cases, out)
    if as_json:
        return _print({"cases": len(cases), "out": str(out)})
    reasons = Counter(r.split(":")[0] for c in cases for r in c["reasons"])
    topics = Counter(c["topic"] for c in cases if c.get("topic"))
    console = Console()
    console.print(f"{len(cases)} cases -> {out} ({sum(c['reviewed'] for c in cases)} reviewed)")
    table = Table("why", "cases", title="reasons")
    for reason, n in reasons.most_common():
        table.add_row(reason, str(n))
    console.print(table)
    console.print(f"{len(topics)} topics; largest: " + "; ".join(f"{t[:40]} ({n})" for t, n in topics.most_common(3)))


@app.command("dataset")
def dataset_cmd(cases: Path = typer.Argument(..., help="mined (and reviewed) cases"),
                out: Path = typer.Option(..., help="SFT rows to write (held-out cases go to OUT.held.jsonl)"),
                app_name: str = typer.Option(None, "--app", help="the app (default: the cases' own)"),
                teacher: str = typer.Option(None, help="answers cases without a correction (unreviewed)"),
                teacher_model: str = typer.Option(None, "--teacher-model"),
                judge: str = typer.Option(None, help="keeps teacher answers it scores 7/10 or more"),
                accept_unreviewed: bool = typer.Option(False, "--accept-unreviewed"),
                replay: list[str] = typer.Option(None, help="earlier training data to mix in (default: the app's run's)"),
                replay_share: float = typer.Option(None, "--replay-share", help="share of replayed rows (default 0.2)"),
                hold_out: float = typer.Option(None, "--hold-out", help="share of cases held out for compare (default 0.2)"),
                as_json: bool = JSON) -> None:
    """Turn reviewed cases into the next training set: corrections, teacher answers, replay against forgetting."""
    from mentor.errors import MentorError
    from mentor.apps.cases import build_dataset, read_cases_file

    rows = read_cases_file(cases)
    name = app_name or rows[0].get("app")
    if not name:
        raise MentorError(f"{cases}: the cases name no app; pass --app NAME.")
    stats = build_dataset(_ws(), name, rows, out, _teacher(teacher, teacher_model), _teacher(judge, None),
                          accept_unreviewed, replay or None, replay_share, hold_out)
    stats.pop("trained_ids")
    if as_json:
        return _print(stats)
    Console().print(f"{stats['rows']} rows -> {out}: {stats['new_rows']} new ({stats['corrections']} corrections, "
                    f"{stats['teacher']} teacher answers), {stats['replay']} replayed; {stats['held_out']} held out; "
                    f"skipped {stats['unreviewed_skipped']} unreviewed, {stats['flagged_skipped']} flagged, "
                    f"{stats['no_answer']} without an answer")


@app.command("compare")
def compare_cmd(name: str, candidate: str = typer.Option(..., help="the candidate run"),
                held: Path = typer.Option(None, help="held-out cases ({q, reference} JSONL) scored besides the eval set"),
                as_json: bool = JSON) -> None:
    """The app on its current model and on the candidate: eval set, held-out cases, forgetting; HTML side by side."""
    from mentor.apps import compare

    result = compare(_ws(), name, candidate, held)
    if as_json:
        return _print(result)
    table = Table("set", "cases", "current", "candidate", title=f"{name}: {result['current']} vs {candidate}")
    for label, s in result["sets"].items():
        table.add_row(label, str(s["cases"]), f"{s['current'] or 0:.1f}", f"{s['candidate'] or 0:.1f}")
    f = result["forgetting"]
    if f.get("drop") is not None:
        table.add_row("general knowledge (accuracy)", str(f["questions"]), f"{f['current']:.1f}", f"{f['candidate']:.1f}")
    console = Console()
    console.print(table)
    console.print(("[green]promote[/]: " if result["promote"] else "[yellow]keep the current model[/]: ") + result["reason"])
    console.print(f"report: {result['report']}")


@app.command("list")
def list_cmd(name: str, as_json: bool = JSON) -> None:
    """The app's iteration rounds."""
    import time

    from mentor.apps import iterations

    rows = iterations(_ws(), name)
    if as_json:
        return _print(rows)
    table = Table("round", "time", "status", "model", "mined", "rows", "run", "why", title=f"{name}: iterations")
    for r in rows:
        table.add_row(str(r["id"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])), r["status"],
                      r.get("model", "-"), str(r.get("mined", "-")), str(r.get("dataset", {}).get("rows", "-")),
                      r.get("run", "-"), r.get("reason", ""))
    Console().print(table)
