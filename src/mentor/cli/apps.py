"""`mentor app ...` (apps: create, route, guard, run, logs, evaluate the router) and `mentor guard redact`."""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor.errors import MentorError

app = typer.Typer(no_args_is_help=True)
guard_app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="print JSON")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="app", help="Apps: a prompt, a router, flows, tools and a guard over a model.")
    root.add_typer(guard_app, name="guard", help="The safety guard without an app.")


def _ws():
    from mentor.workspace import Workspace

    return Workspace()


def _runtime(name: str, version: int | None = None):
    from mentor.engine.app import Apps
    from mentor.engine.generator import LocalGenerator

    ws = _ws()
    return Apps(ws, LocalGenerator(ws)).get(name, version)


def _print(value) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@app.command("create")
def create(config: Path = typer.Option(..., "--config", help="the app's YAML file"), as_json: bool = JSON) -> None:
    """Create an app from YAML, or store a changed YAML as the app's next version."""
    from mentor.engine import config as app_config
    from mentor.engine import store

    ws = _ws()
    new = app_config.load(config)
    try:
        before = store.get(new.name, ws)
    except MentorError:
        before = None
    stored, changed = store.save(new, ws)
    if changed and before is not None and before.note and before.config.model != new.model:
        Console(stderr=True).print(f"[yellow]note:[/] version {before.version} served {before.config.model} ({before.note}); "
                                   f"this version serves {new.model}. Name the run as model: in the YAML to keep it, "
                                   f"or: mentor app promote {new.name} --run {before.config.model} --force")
    if as_json:
        return _print({**store.dump(stored), "changed": changed})
    verb = "stored" if changed else "unchanged:"
    Console().print(f"{verb} app [bold]{stored.config.name}[/] version {stored.version} "
                    f"(model {stored.config.model}, flows {', '.join(_flow_names(stored.config))})")


def _flow_names(config) -> list[str]:
    return [f if isinstance(f, str) else f"rag:{f.rag}" for f in config.flows()]


@app.command("list")
def list_cmd(as_json: bool = JSON) -> None:
    """Apps in the workspace."""
    from mentor.engine import store

    apps = store.list_apps(_ws())
    if as_json:
        return _print([store.dump(a) for a in apps])
    table = Table("name", "version", "model", "flows", "guard", "updated", title="Apps")
    for a in apps:
        table.add_row(a.config.name, str(a.version), a.config.model, ", ".join(_flow_names(a.config)),
                      "yes" if a.config.guard else "no", time.strftime("%Y-%m-%d %H:%M", time.localtime(a.created)))
    Console().print(table)


@app.command("show")
def show(name: str, version: int = typer.Option(None, help="a stored version (default: the latest)"),
         as_json: bool = JSON) -> None:
    """An app's YAML (as stored)."""
    from mentor.engine import store

    stored = store.get(name, _ws(), version)
    if as_json:
        return _print(store.dump(stored))
    print(f"# {name} version {stored.version}")
    print(stored.config.to_yaml(), end="")


@app.command("history")
def history(name: str, as_json: bool = JSON) -> None:
    """Every stored version of an app, with what changed."""
    from mentor.engine import store

    versions = store.history(name, _ws())
    if as_json:
        return _print([store.dump(v) for v in versions])
    table = Table("version", "created", "model", "changed", "note", title=f"{name}: versions")
    before: dict = {}
    for v in versions:
        now = json.loads(v.config.model_dump_json())
        changed = [k for k in now if now.get(k) != before.get(k)] if before else ["(created)"]
        table.add_row(str(v.version), time.strftime("%Y-%m-%d %H:%M", time.localtime(v.created)), v.config.model,
                      ", ".join(changed), v.note or "")
        before = now
    Console().print(table)


@app.command("delete")
def delete(name: str) -> None:
    """Remove an app (its versions and audit log stay in the registry)."""
    from mentor.engine import store

    store.delete(name, _ws())
    Console().print(f"deleted app {name}")


@app.command("route")
def route(name: str, text: str, as_json: bool = JSON) -> None:
    """Which route the app's router picks for TEXT."""
    runtime = _runtime(name)
    if not runtime.config.router:
        raise MentorError(f"app '{name}' has no router (it always runs the flow '{_flow_names(runtime.config)[0]}').")
    decision = runtime.route(text)
    if as_json:
        return _print(decision.to_json())
    Console().print(f"route [bold]{decision.route}[/] (by {decision.by}, score {decision.score:.3f})")


@app.command("eval-router")
def eval_router(name: str, data: Path = typer.Option(..., help='JSONL rows {"q": text, "route": expected}'),
                as_json: bool = JSON) -> None:
    """The router's accuracy, confusion table and latency on labelled messages."""
    from mentor.engine.router import evaluate, read_labelled

    runtime = _runtime(name)
    if not runtime.config.router:
        raise MentorError(f"app '{name}' has no router to evaluate.")
    rows = read_labelled(data, [r.name for r in runtime.config.router.routes])
    result = evaluate(runtime.router, rows)
    if as_json:
        return _print(result)
    console = Console()
    console.print(f"accuracy {result['accuracy']:.1%} on {result['rows']} messages; decided by {result['by']}; "
                  f"latency p50 {result['latency_ms']['p50']:.1f} ms, p95 {result['latency_ms']['p95']:.1f} ms")
    names = list(result["confusion"])
    table = Table("expected \\ got", *names, title="confusion")
    for expected in names:
        table.add_row(expected, *(str(result["confusion"][expected].get(g, 0)) for g in names))
    console.print(table)


@app.command("guard")
def guard(name: str, text: str, output: bool = typer.Option(False, help="scan as the app's answer, not its input"),
          as_json: bool = JSON) -> None:
    """What the app's guard finds in TEXT: allowed or not, findings with spans, the text redacted."""
    runtime = _runtime(name)
    if runtime.guard is None:
        raise MentorError(f"app '{name}' has no guard section.")
    _verdict((runtime.guard.check_output if output else runtime.guard.check_input)(text), as_json)


@guard_app.command("redact")
def redact_cmd(text: str, as_json: bool = JSON) -> None:
    """TEXT with personal data (phone, e-mail, Chinese ID, card, IBAN) replaced."""
    from mentor.engine.guard import redact

    _verdict(redact(text), as_json)


def _verdict(verdict, as_json: bool) -> None:
    if as_json:
        return _print(verdict.to_json())
    console = Console()
    console.print(("[green]allowed[/]" if verdict.allowed else "[red]blocked[/]") +
                  "".join(f"\n  {f.kind} {f.label} [{f.start}:{f.end}]" for f in verdict.findings))
    print(verdict.text)


@app.command("run")
def run(name: str, text: str, as_json: bool = JSON) -> None:
    """Answer TEXT with the app (streamed; --json: the answer and what the engine did)."""
    from mentor.data.conversation import Message

    reply = _runtime(name).respond([Message("user", text)])
    for piece in reply.pieces:
        if not as_json:
            sys.stdout.write(piece)
            sys.stdout.flush()
    if as_json:
        return _print({"answer": reply.text, "mentor": reply.trace.to_json()})
    print()
    t = reply.trace
    Console(stderr=True).print(f"[dim]route {t.route or '-'} ({t.by or '-'}), flow {t.flow}, "
                               f"{len(t.tool_calls)} tool calls, {len(t.findings)} guard findings, id {t.response_id} "
                               f"(rate it: mentor app feedback {t.log_id} --rating 1|-1)[/]")


@app.command("logs")
def logs(name: str, since: str = typer.Option(None, help="e.g. 30m, 2h, 7d or 2026-12-01"),
         limit: int = typer.Option(50, min=1), as_json: bool = JSON) -> None:
    """The app's audit log, newest first."""
    from mentor.engine import audit, store

    ws = _ws()
    store.get(name, ws)
    rows = audit.read(ws, name, _since(since), limit)
    if as_json:
        return _print(rows)
    table = Table("id", "time", "v", "route", "flow", "blocked", "ms", "tokens", "question", "answer", title=f"{name}: requests")
    for r in rows:
        question = next((m["content"] for m in reversed(r["request"]) if m["role"] == "user"), "")
        table.add_row(str(r["id"]), time.strftime("%m-%d %H:%M:%S", time.localtime(r["created"])), str(r["version"]),
                      r["route"] or "-", r["flow"] or "-", "yes" if r["blocked"] else "", f"{r['latency'] * 1000:.0f}",
                      f"{r['prompt_tokens']}+{r['completion_tokens']}", question[:60], r["answer"][:60])
    Console().print(table)


def _since(text: str | None) -> float | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if m:
        return time.time() - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise MentorError(f"--since: '{text}' is not a duration (30m, 2h, 7d) or a date (2026-12-01).") from None


@app.command("eval")
def eval_cmd(name: str, data: Path = typer.Option(None, help='JSONL cases {"q", "reference", "contains", "regex", "route"} '
                                                             "(default: the app's evaluation.cases)"),
             version: list[int] = typer.Option(None, "--version", help="a stored version (repeat to compare; default: latest)"),
             model: list[str] = typer.Option(None, "--model", help="run the app on this model instead (repeat to compare)"),
             metrics: str = typer.Option("rougeL,f1", help="metrics against the cases' references"),
             json_schema: Path = typer.Option(None, "--json-schema", help="answers must fit this JSON schema"),
             judge: str = typer.Option(None, help="LLM judge: a model alias / folder, or an OpenAI-compatible URL"),
             judge_model: str = typer.Option(None, "--judge-model", help="model name at the judge endpoint"),
             out: Path = typer.Option(None, help="HTML report (default: <workspace>/reports/app-NAME.html)"),
             as_json: bool = JSON) -> None:
    """Run cases against prompt versions x models: checks passed, metrics, judge score, an HTML report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mentor.engine.app import Apps
    from mentor.engine.evaluation import html_report, read_cases, run_matrix
    from mentor.engine.generator import LocalGenerator
    from mentor.evaluate.judge import Judge
    from mentor.files import atomic_write_text, read_json

    ws = _ws()
    if data is None:
        from mentor.engine import store

        data = store.get(name, ws).config.evaluation.cases
        if data is None:
            raise MentorError(f"app '{name}' names no eval set: pass --data FILE or set evaluation.cases in its YAML.")
    cases = read_cases(data)
    versions, models = version or [None], model or [None]
    schema = read_json(json_schema, "--json-schema") if json_schema else None
    with Progress(TextColumn("cases"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("eval", total=len(cases) * len(versions) * len(models))
        columns = run_matrix(name, cases, Apps(ws, LocalGenerator(ws)), versions, models,
                             [m.strip() for m in metrics.split(",") if m.strip()], schema,
                             Judge(judge, judge_model) if judge else None, lambda: progress.advance(task))
    out = out or ws.home / "reports" / f"app-{name}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, html_report(name, cases, columns))
    if as_json:
        return _print({"report": str(out), "columns": [c.to_json() for c in columns]})
    names = sorted({m for c in columns for m in c.metrics})
    table = Table("variant", "score", "checks passed", *names, "judge", "s / case", title=f"{name}: {len(cases)} cases")
    for c in columns:
        table.add_row(c.label, "-" if c.score is None else f"{c.score:.1f}", "-" if c.passed is None else f"{c.passed:.1f}%", *(f"{c.metrics.get(m, 0):.2f}" for m in names),
                      "-" if c.judge is None else f"{c.judge:.2f}", f"{c.seconds / len(cases):.2f}")
    Console().print(table)
    Console().print(f"report: {out}")


@app.command("feedback")
def feedback_cmd(response_id: str = typer.Argument(..., help="the response's id (or its log id from mentor app logs)"),
                 rating: int = typer.Option(..., help="1 (thumbs up) or -1 (thumbs down)"),
                 comment: str = typer.Option(None, help="what was wrong or right"),
                 correction: str = typer.Option(None, help="the answer it should have given"),
                 as_json: bool = JSON) -> None:
    """Rate one app response (as POST /v1/feedback does); a correction becomes training data for the next round."""
    from mentor.apps.feedback import record

    row = record(_ws(), response_id, rating, comment, correction)
    if as_json:
        return _print(row)
    Console().print(f"feedback {row['id']} on {row['response_id']} ({row['app']}): rating {rating:+d}"
                    + "".join(f"\n[yellow]flagged:[/] {f}" for f in row["flags"]))


@app.command("metrics")
def metrics_cmd(name: str, days: int = typer.Option(None, help="only the last N days"), as_json: bool = JSON) -> None:
    """Per day: requests, conversations, turns, thumbs-up rate, feedback coverage, blocks, routes, latency, tokens."""
    from mentor.apps.feedback import metrics

    rows = metrics(_ws(), name, days)
    if as_json:
        return _print(rows)
    table = Table("day", "requests", "conversations", "turns / conv", "thumbs up", "feedback", "blocked", "errors",
                  "routes", "p50 s", "p95 s", "tokens in+out", title=f"{name}: metrics")
    for r in rows:
        table.add_row(r["day"], str(r["requests"]), str(r["conversations"]), f"{r['turns_per_conversation']:.2f}",
                      "-" if r["thumbs_up_rate"] is None else f"{r['thumbs_up_rate']:.0f}%", f"{r['feedback_coverage']:.0f}%",
                      str(r["blocked"]), str(r["errors"]), ", ".join(f"{k} {v}" for k, v in r["routes"].items()),
                      f"{r['latency_p50']:.2f}", f"{r['latency_p95']:.2f}", f"{r['prompt_tokens']}+{r['completion_tokens']}")
    Console().print(table)
    Console().print("[dim]a tool-type app optimises the thumbs-up rate; a companion-type app the turns per conversation[/]")


@app.command("promote")
def promote_cmd(name: str, run: str = typer.Option(..., "--run", help="the candidate run"),
                force: bool = typer.Option(False, help="promote without comparing"), as_json: bool = JSON) -> None:
    """Serve RUN if it beats the app's current model on its eval set and forgets at most iterate.max_forgetting."""
    from mentor.engine import store
    from mentor.apps import promote

    saved = promote(_ws(), name, run, force)
    if as_json:
        return _print(store.dump(saved))
    Console().print(f"app [bold]{name}[/] version {saved.version}: {saved.note}")


@app.command("rollback")
def rollback_cmd(name: str, as_json: bool = JSON) -> None:
    """Serve the model the app served before its current one."""
    from mentor.engine import store
    from mentor.apps import rollback

    saved = rollback(_ws(), name)
    if as_json:
        return _print(store.dump(saved))
    Console().print(f"app [bold]{name}[/] version {saved.version}: {saved.note}")


@app.command("new")
def new_cmd(name: str = typer.Argument(..., help="the new app's name"),
            template: str = typer.Option(..., help="qa, writer, viewpoints, tutor, titles or summary"),
            kb: str = typer.Option(None, help="the knowledge base (the qa template)"),
            model: str = typer.Option(None, help="the model (default: the embedded one)"),
            folder: Path = typer.Option(Path("."), "--dir", help="where the YAML and eval set are written"),
            create: bool = typer.Option(True, "--create/--no-create", help="also store the app now")) -> None:
    """Start an app from a template: its YAML and an English + Chinese eval set with a fitting metric."""
    from mentor.engine import config as app_config
    from mentor.engine import store
    from mentor.apps.templates import write

    app_file, cases = write(template, name, folder, kb, model)
    console = Console()
    console.print(f"wrote {app_file} and {cases}")
    if create:
        stored, _ = store.save(app_config.load(app_file), _ws())
        console.print(f"stored app [bold]{name}[/] version {stored.version}; try: mentor app eval {name}")
    else:
        console.print(f"edit it, then: mentor app create --config {app_file}")
