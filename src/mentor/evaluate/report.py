"""`mentor report RUN`: one self-contained HTML file (plots embedded) plus the plots as PNG files."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from mentor.evaluate import html, plots
from mentor.evaluate.compare import comparison_sections
from mentor.evaluate.diagnosis import Finding, diagnose
from mentor.files import atomic_dir
from mentor.metrics_log import MetricsLog
from mentor.workspace import Workspace


@dataclass
class Report:
    folder: Path
    html: Path
    images: list[Path]
    findings: list[Finding]


def latest(run_dir: Path, pattern: str, key: str | None = None) -> dict | None:
    """The newest ``evaluations/<pattern>`` result (holding ``key`` if given)."""
    for path in sorted((run_dir / "evaluations").glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True):
        data = json.loads(path.read_text(encoding="utf-8"))
        if key is None or data.get(key):
            return data
    return None


def build_report(run: str, workspace: Workspace | None = None, out: Path | None = None) -> Report:
    ws = workspace or Workspace()
    run_dir = ws.run_path(run)
    info = json.loads((run_dir / "run.json").read_text())
    records = MetricsLog(run_dir / "metrics.jsonl").read()
    comparison = latest(run_dir, "compare-*.json")
    evaluation = latest(run_dir, "eval-*.json", "metrics")
    forgetting = (latest(run_dir, "*.json", "forgetting") or {}).get("forgetting")
    findings = diagnose(records, info.get("train_examples"), comparison, forgetting, _training_replies(run_dir),
                        info.get("task_metric"))
    images = {"loss.png": plots.loss_curves(records), "generation.png": plots.generation_curves(records)}
    images = {name: png for name, png in images.items() if png}
    sections = [_summary(info), html.section("Diagnosis", *(html.finding(f.severity, f.message) for f in findings)
                                              or ["<p>Not enough numbers yet for a diagnosis.</p>"])]
    curves = [html.image(png, name) for name, png in images.items()]
    sections.append(html.section("Training curves", *(curves or ["<p>No metrics logged.</p>"])))
    if evaluation:
        sections.append(_evaluation(evaluation))
    if comparison:
        sections += comparison_sections(comparison)
    else:
        sections.append(html.section("Base vs fine-tuned", f"<p>No comparison yet: run <code>mentor compare --run "
                                                          f"{html.esc(info['name'])} --data HELDOUT.jsonl</code>.</p>"))
    if forgetting:
        sections.append(_forgetting(forgetting))
    page = html.page(f"Run report: {info['name']}", f"{info.get('method')} on {info.get('base_model')}; "
                                                      f"status {info.get('status')}", sections)
    target = Path(out) if out else run_dir / "report"
    with atomic_dir(target) as tmp:
        (tmp / "report.html").write_text(page, encoding="utf-8")
        for name, png in images.items():
            (tmp / name).write_bytes(png)
    return Report(target, target / "report.html", [target / n for n in images], findings)


def _training_replies(run_dir: Path) -> list[str]:
    import yaml

    from mentor.data.formats import load
    from mentor.errors import MentorError

    path = (yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}).get("data")
    try:
        data = load(path) if path else None
    except MentorError:  # the training file may have moved since; memorisation is then not checked
        return []
    if data is None:
        return []
    return [m.content for ex in data.examples for m in ex.messages if m.role == "assistant"]


def _summary(info: dict) -> str:
    rows = []
    for label, key in (("method", "method"), ("base model", "base_model"), ("steps", "steps"),
                       ("training examples", "train_examples"), ("validation examples", "val_examples"),
                       ("trainable parameters", "trainable_parameters"), ("parameters", "parameters"),
                       ("precision", "precision"), ("real tokens/s", "real_tokens_per_second"),
                       ("training loss (last)", "train_loss"), ("validation loss before", "val_loss_before"),
                       ("validation loss after", "val_loss_after"), ("stopped early at step", "stopped_early_at"),
                       ("best step kept", "best_step")):
        value = info.get(key)
        if value is not None:
            text = (f"{value:,}" if isinstance(value, int) else f"{value:.1f}" if key == "real_tokens_per_second"
                    else f"{value:.4f}" if isinstance(value, float) else value)
            rows.append([html.cell(label), html.cell(text)])
    before, after = info.get("val_loss_before"), info.get("val_loss_after")
    if before is not None and after is not None:
        rows.append([html.cell("validation perplexity"), html.cell(f"{math.exp(before):.2f} -> {math.exp(after):.2f}")])
    return html.section("Run", html.table(None, rows))


def _evaluation(result: dict) -> str:
    rows = [[html.cell(k), html.num(result[k], 4)] for k in ("loss", "perplexity") if result.get(k) is not None]
    rows += [[html.cell(name), html.num(m["value"])] for name, m in result["metrics"].items()]
    judge = result.get("judge")
    if judge and judge.get("mean") is not None:
        rows.append([html.cell(f"judge 1-10 ({judge['judge']})"), html.num(judge["mean"])])
    return html.section(f"Evaluation on {Path(result['data']).name} ({result['examples']} examples)",
                        html.table(["metric", "value"], rows))


def _forgetting(f: dict) -> str:
    if "base" not in f:
        return ""
    base, tuned = f["base"], f["tuned"]
    rows = []
    for key in ("accuracy", "accuracy_en", "accuracy_zh"):
        if key in base:
            rows.append([html.cell(key.replace("_", " ") + " %"), html.num(base[key], 1), html.num(tuned[key], 1),
                         html.num(tuned[key] - base[key], 1, delta=True)])
    for name, change in f["probe_perplexity_change_pct"].items():
        rows.append([html.cell(f"perplexity on {name} probe"), html.num(base["probe_perplexity"][name], 3),
                     html.num(tuned["probe_perplexity"][name], 3), html.num(change, 1, delta=True, higher_is_better=False)])
    return html.section(f"Forgetting ({f['questions']} general-knowledge questions)",
                        html.table(["check", "base", "tuned", "change"], rows))
