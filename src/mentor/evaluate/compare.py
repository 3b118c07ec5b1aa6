"""`mentor compare`: the same prompts answered by the base model and each tuned run, side by side,
with per-example metric deltas (terminal table, JSON and a self-contained HTML page)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mentor.evaluate import html
from mentor.data.formats import load_examples
from mentor.evaluate.evaluation import reference_loss
from mentor.evaluate.scores import score
from mentor.files import atomic_write_json, atomic_write_text
from mentor.workspace import Workspace

COMPARE_METRICS = ("rougeL", "bleu", "f1")
BASE = "base"


@dataclass
class Comparison:
    data: str
    model: str
    columns: list[str]  # "base", then run names
    prompts: list[str]
    references: list[str | None]
    answers: dict[str, list[str]]
    per_example: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # column -> metric -> values
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # column -> metric (and loss) -> value
    extra: dict = field(default_factory=dict)  # judge win rates

    def delta(self, column: str, metric: str) -> float | None:
        if metric not in self.metrics.get(column, {}) or metric not in self.metrics.get(BASE, {}):
            return None
        return self.metrics[column][metric] - self.metrics[BASE][metric]

    def to_json(self) -> dict:
        return {"data": self.data, "model": self.model, "columns": self.columns, "created": time.time(),
                "metrics": self.metrics, "samples": [
                    {"prompt": p, "reference": r, "answers": {c: self.answers[c][i] for c in self.columns},
                     "scores": {c: {m: v[i] for m, v in self.per_example.get(c, {}).items()} for c in self.columns}}
                    for i, (p, r) in enumerate(zip(self.prompts, self.references))], **self.extra}


def compare(runs: Sequence[str], data: str | Path, model: str | None = None, options=None, limit: int | None = None,
            workspace: Workspace | None = None, metrics: Sequence[str] = COMPARE_METRICS,
            with_loss: bool = True) -> Comparison:
    """Answer every prompt of ``data`` with the base model and with each run (greedy by default)."""
    from mentor.generation import GenerationOptions, load_for_inference

    ws = workspace or Workspace()
    options = options or GenerationOptions()
    examples = [ex for ex in load_examples(data) if not ex.is_text][:limit]
    pairs = [ex.prompt_and_reference() for ex in examples]
    convs = [p for p, _ in pairs]
    result = Comparison(str(data), model or "", [BASE], [c.messages[-1].content for c in convs],
                        [r for _, r in pairs], {})
    for i, run in enumerate(runs):
        lm = load_for_inference(model, run, ws)
        result.model = lm.name
        if i == 0:  # the base answers once, through the first run (a peft adapter is just switched off)
            with lm.base_only() as base:
                _answer(result, BASE, base, convs, examples, options, metrics, with_loss)
        name = lm.run.name
        result.columns.append(name)
        _answer(result, name, lm, convs, examples, options, metrics, with_loss)
    return result


def _answer(result: Comparison, column: str, lm, convs, examples, options, metrics, with_loss: bool) -> None:
    from mentor.generation import generate

    answers = generate(lm, convs, options)
    result.answers[column] = answers
    scored = score(answers, result.references, metrics) if any(r is not None for r in result.references) else {}
    result.per_example[column] = {m: s.per_example for m, s in scored.items()}
    result.metrics[column] = {m: s.value for m, s in scored.items()}
    if with_loss:
        loss = reference_loss(lm, examples)
        if loss is not None:
            result.metrics[column]["loss"] = loss


def save_comparison(result: Comparison, folder: Path) -> tuple[Path, Path]:
    """``compare-<data>-<time>.json`` and ``.html`` in ``folder`` (a run's evaluations folder)."""
    stem = folder / f"compare-{Path(result.data).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    atomic_write_json(json_path, result.to_json())
    atomic_write_text(html_path, html.page(f"Base vs fine-tuned: {Path(result.data).name}",
                                           f"{result.model}; {len(result.prompts)} prompts", comparison_sections(result.to_json())))
    return json_path, html_path


def comparison_sections(saved: dict) -> list[str]:
    """HTML sections for a saved comparison (also used by the run report)."""
    columns = saved["columns"]
    metric_names = sorted({m for c in columns for m in saved["metrics"].get(c, {})}, key=lambda m: (m != "loss", m))
    rows = []
    for m in metric_names:
        base = saved["metrics"][BASE].get(m)
        row = [html.cell(m)] + [html.num(saved["metrics"][c].get(m), 4 if m == "loss" else 2) for c in columns]
        for c in columns[1:]:
            value = saved["metrics"][c].get(m)
            row.append(html.num(None if base is None or value is None else value - base, 4 if m == "loss" else 2,
                                delta=True, higher_is_better=m != "loss"))
        rows.append(row)
    summary = html.table(["metric"] + columns + [f"Δ {c}" for c in columns[1:]], rows)
    main = "rougeL" if any("rougeL" in s["scores"].get(BASE, {}) for s in saved["samples"]) else None
    sample_rows = []
    for s in saved["samples"]:
        row = [html.cell(s["prompt"], "answer"), html.cell(s["reference"] or "", "answer")]
        for c in columns:
            text = s["answers"][c]
            if main:
                value, base = s["scores"][c].get(main), s["scores"][BASE].get(main)
                note = f"\n[ROUGE-L {value:.1f}" + (f", Δ {value - base:+.1f}]" if c != BASE else "]")
                cls = "answer" + ("" if c == BASE or abs(value - base) < 0.05 else (" up" if value > base else " down"))
                row.append(html.cell(text + note, cls))
            else:
                row.append(html.cell(text, "answer"))
        sample_rows.append(row)
    samples = html.table(["prompt", "reference"] + columns, sample_rows)
    return [html.section("Metrics, base vs fine-tuned", summary), html.section("Answers side by side", samples)]
