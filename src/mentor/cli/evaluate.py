"""`mentor eval`: score a model, a fine-tuned run or a predictions file; check for forgetting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from mentor.errors import MentorError
from mentor.evaluate.evaluation import EvalResult, evaluate_model, evaluate_predictions, save_result
from mentor.evaluate.scores import GENERATION_METRICS

METRICS = typer.Option(",".join(GENERATION_METRICS),
                       help="comma-separated: bleu, rouge1, rouge2, rougeL, exact_match, f1, json, regex, scorer")
JUDGE = typer.Option(None, help="LLM judge: a model alias / folder, or an OpenAI-compatible URL (http://host/v1)")
JUDGE_MODEL = typer.Option(None, "--judge-model", help="model name at the judge endpoint")
RUBRIC = typer.Option(None, help="judge rubric (text, or @file)")
LIMIT = typer.Option(None, help="only the first N examples")
MAX_NEW = typer.Option(256, "--max-new-tokens")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
    app.command("report")(report_cmd)


def eval_cmd(
    model: Optional[str] = typer.Option(None, help="alias, local folder or hub id (default: the run's base)"),
    run: Optional[str] = typer.Option(None, help="fine-tuned run to evaluate"),
    predictions: Optional[Path] = typer.Option(None, help="JSONL with prediction (+ reference) per line; no model needed"),
    data: Optional[Path] = typer.Option(None, help="conversations whose last assistant turn is the reference"),
    metrics: str = METRICS,
    regex: Optional[str] = typer.Option(None, help="task check: predictions must match this regular expression"),
    scorer: Optional[str] = typer.Option(None, help="task check: your function module:function or file.py:function"),
    json_schema: Optional[Path] = typer.Option(None, "--json-schema", help="for the json_schema metric: answers must "
                                               "parse as JSON and validate against this schema file"),
    judge: Optional[str] = JUDGE, judge_model: Optional[str] = JUDGE_MODEL, rubric: Optional[str] = RUBRIC,
    general: Optional[list[Path]] = typer.Option(None, help="forgetting check: MMLU/CMMLU-style question files or folders"),
    general_limit: int = typer.Option(200, help="questions taken from --general, spread over subjects"),
    limit: Optional[int] = LIMIT, max_new_tokens: int = MAX_NEW,
    as_json: bool = typer.Option(False, "--json", help="print machine-readable results"),
) -> None:
    """Loss, perplexity and generation metrics on --data (or a --predictions file), optional LLM judge,
    and with --general the base-vs-tuned forgetting check. Results are saved in the run folder."""
    from mentor.generation import GenerationOptions, load_for_inference
    from mentor.workspace import Workspace

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    schema = None
    if json_schema is not None:
        from mentor.files import read_json

        schema = read_json(json_schema, "--json-schema")
        names += [] if "json_schema" in names else ["json_schema"]
    console = Console(stderr=True)
    if predictions is not None:
        if model or run or general:
            raise MentorError("--predictions scores an existing file; it takes no --model, --run or --general.")
        result, lm = evaluate_predictions(predictions, names, regex, scorer, schema), None
    else:
        if data is None and not general:
            raise MentorError("Pass --data FILE (and/or --general FILES), or --predictions FILE.")
        lm = load_for_inference(model, run)
        if data is not None:
            with console.status("evaluating: loss on references, then generating answers"):
                result = evaluate_model(lm, data, names, GenerationOptions(max_new_tokens), limit, regex=regex,
                                        scorer=scorer, schema=schema)
        else:
            result = EvalResult("general", lm.name, lm.run.name if lm.run else None)
        if general:
            from mentor.evaluate.general import forgetting, load_questions

            with console.status("forgetting check: general-knowledge questions and probe text"):
                result.extra["forgetting"] = forgetting(lm, load_questions(general, general_limit))
    if judge:
        from mentor.evaluate.judge import DEFAULT_RUBRIC, Judge, score_samples

        if not result.samples:
            raise MentorError("The judge scores answers: pass --data (chat examples) or --predictions.")
        text = rubric[1:] if rubric and rubric.startswith("@") else None
        rubric_text = Path(text).read_text(encoding="utf-8") if text else (rubric or DEFAULT_RUBRIC)
        with console.status(f"judging {len(result.samples)} answers with {judge_model or judge}"):
            result.extra["judge"] = score_samples(Judge(judge, judge_model), result.samples, rubric_text)
    saved = save_result(result, Workspace(), lm.run if lm else None)
    if as_json:
        print(json.dumps({**result.to_json(), "saved": str(saved)}, ensure_ascii=False, indent=2))
        return
    print_result(result, Console())
    console.print(f"saved: {saved}")


def print_result(result: EvalResult, console: Console) -> None:
    who = f"{result.model or 'predictions'}{' + ' + result.run if result.run else ''}"
    if result.examples:
        console.print(f"[bold]{who}[/] on {result.data} ({result.examples} examples)", highlight=False)
        table = Table("metric", "value")
        for name, value in result.summary().items():
            table.add_row(name, f"{value:.4f}" if name in ("loss", "perplexity") else f"{value:.2f}")
        judge = result.extra.get("judge")
        if judge and judge["mean"] is not None:
            table.add_row("judge (1-10)", f"{judge['mean']:.2f}" + (f" ({judge['unparsed']} unparsed)" if judge["unparsed"] else ""))
        console.print(table)
    forgetting = result.extra.get("forgetting")
    if forgetting:
        console.print(forgetting_table(forgetting))


def forgetting_table(f: dict) -> Table:
    if "base" not in f:
        m = f["model"]
        table = Table("general check", "value", caption=f"{f['questions']} general-knowledge questions")
        if "accuracy" in m:
            table.add_row("accuracy %", f"{m['accuracy']:.1f}")
        for name, ppl in m["probe_perplexity"].items():
            table.add_row(f"perplexity {name}", f"{ppl:.3f}")
        return table
    base, tuned = f["base"], f["tuned"]
    table = Table("forgetting check", "base", "tuned", "delta", caption=f"{f['questions']} general-knowledge questions")
    for key in ("accuracy", "accuracy_en", "accuracy_zh"):
        if key in base:
            label = "accuracy %" + (f" ({key[-2:]})" if key != "accuracy" else "")
            table.add_row(label, f"{base[key]:.1f}", f"{tuned[key]:.1f}",
                          f"{tuned[key] - base[key]:+.1f}")
    for name, change in f["probe_perplexity_change_pct"].items():
        table.add_row(f"perplexity {name}", f"{base['probe_perplexity'][name]:.3f}",
                      f"{tuned['probe_perplexity'][name]:.3f}", f"{change:+.1f}%")
    return table


def compare_cmd(
    run: list[str] = typer.Option(..., help="fine-tuned run (repeat for several)"),
    data: Path = typer.Option(..., help="conversations whose last assistant turn is the reference"),
    model: Optional[str] = typer.Option(None, help="base model (default: the runs' base)"),
    judge: Optional[str] = JUDGE, judge_model: Optional[str] = JUDGE_MODEL, rubric: Optional[str] = RUBRIC,
    limit: Optional[int] = LIMIT, max_new_tokens: int = MAX_NEW,
    width: int = typer.Option(60, help="characters of each answer shown in the terminal (the HTML has all)"),
) -> None:
    """The same prompts answered by the base model and each run, side by side, with metric deltas."""
    from mentor.evaluate.compare import BASE, compare, save_comparison
    from mentor.generation import GenerationOptions
    from mentor.workspace import Workspace

    console = Console()
    ws = Workspace()
    with Console(stderr=True).status("answering with the base model and each run"):
        result = compare(run, data, model, GenerationOptions(max_new_tokens), limit, ws)
    if judge:
        from mentor.evaluate.judge import DEFAULT_RUBRIC, Judge, pairwise

        j = Judge(judge, judge_model)
        with Console(stderr=True).status(f"judging with {judge_model or judge}"):
            result.extra["judge"] = {c: pairwise(j, result.prompts, result.answers[BASE], result.answers[c],
                                                 rubric or DEFAULT_RUBRIC) for c in result.columns[1:]}
    json_path, html_path = save_comparison(result, ws.run_path(run[0]) / "evaluations")
    print_comparison(result, console, width)
    console.print(f"saved: {json_path}\nside by side in a browser: {html_path}")


def print_comparison(result, console: Console, width: int = 60) -> None:
    names = sorted({m for c in result.columns for m in result.metrics[c]}, key=lambda m: (m != "loss", m))
    console.print(f"[bold]base vs fine-tuned[/] on {result.data} ({len(result.prompts)} prompts)", highlight=False)
    table = Table("metric", *result.columns, *[f"Δ {c}" for c in result.columns[1:]])
    for m in names:
        digits = 4 if m == "loss" else 2
        cells = [f"{result.metrics[c].get(m, float('nan')):.{digits}f}" for c in result.columns]
        deltas = [f"{d:+.{digits}f}" if (d := result.delta(c, m)) is not None else "-" for c in result.columns[1:]]
        table.add_row(m, *cells, *deltas)
    for c, verdict in result.extra.get("judge", {}).items():
        table.add_row("judge win % vs base", *([""] * len(result.columns)), *(
            [f"{verdict['win_rate']:.1f}" if k == c else "" for k in result.columns[1:]]))
    console.print(table)
    side = Table("prompt", "reference", *result.columns, show_lines=True)
    clip = lambda s: " ".join((s or "").split())[:width] + ("…" if s and len(s) > width else "")  # noqa: E731
    for i, prompt in enumerate(result.prompts):
        cells = []
        for c in result.columns:
            rouge = result.per_example.get(c, {}).get("rougeL")
            cells.append(clip(result.answers[c][i]) + (f"\n[dim]ROUGE-L {rouge[i]:.1f}[/]" if rouge else ""))
        side.add_row(clip(prompt), clip(result.references[i]), *cells)
    console.print(side)


def report_cmd(
    run: str = typer.Argument(..., help="run name or folder"),
    data: Optional[Path] = typer.Option(None, help="held-out conversations: compare base and tuned on them first"),
    limit: Optional[int] = LIMIT, max_new_tokens: int = MAX_NEW,
    out: Optional[Path] = typer.Option(None, help="report folder (default: <run>/report)"),
) -> None:
    """One self-contained HTML report: loss curves, metrics, base-vs-tuned answers, forgetting, diagnosis."""
    from mentor.evaluate.report import build_report
    from mentor.workspace import Workspace

    ws = Workspace()
    if data is not None:
        from mentor.evaluate.compare import compare, save_comparison
        from mentor.generation import GenerationOptions

        with Console(stderr=True).status("answering the held-out prompts with base and tuned model"):
            save_comparison(compare([run], data, None, GenerationOptions(max_new_tokens), limit, ws),
                            ws.run_path(run) / "evaluations")
    report = build_report(run, ws, out)
    console = Console()
    styles = {"warning": "yellow", "info": "cyan", "ok": "green"}
    for f in report.findings:
        console.print(f"[{styles[f.severity]}]{f.severity}[/]: {f.message}")
    console.print(f"report: {report.html}" + "".join(f"\nplot: {p}" for p in report.images))
