"""The quick-start job: LoRA on the embedded model with the sample data, then base vs tuned side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentor.evaluate.compare import Comparison, compare, save_comparison
from mentor.generation import GenerationOptions
from mentor.tune import TrainResult, load_config, train
from mentor.workspace import Workspace


@dataclass
class DemoResult:
    training: TrainResult
    comparison: Comparison  # base and tuned answers to the held-out questions, with metrics
    html: Path  # the comparison as a page


def run_demo(config: str | Path, heldout: str | Path, workspace: Workspace | None = None,
             show_progress: bool = True, **overrides) -> DemoResult:
    """Fine-tune with ``config`` and answer the ``heldout`` questions with the base and the tuned model."""
    ws = workspace or Workspace()
    result = train(load_config(config, **overrides), ws, show_progress=show_progress)
    comparison = compare([result.name], heldout, options=GenerationOptions(max_new_tokens=96), workspace=ws,
                         with_loss=False)
    _, page = save_comparison(comparison, result.run_dir / "evaluations")
    return DemoResult(result, comparison, page)
