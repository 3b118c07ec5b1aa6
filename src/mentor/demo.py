"""The quick-start job: LoRA on the embedded model with the sample data, then base vs tuned side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentor.data.formats import load
from mentor.generation import GenerationOptions, generate, load_for_inference
from mentor.tune import TrainResult, load_config, train
from mentor.workspace import Workspace


@dataclass
class DemoResult:
    training: TrainResult
    questions: list[str]
    references: list[str]
    base_answers: list[str]
    tuned_answers: list[str]


def run_demo(config: str | Path, heldout: str | Path, workspace: Workspace | None = None,
             show_progress: bool = True, **overrides) -> DemoResult:
    """Fine-tune with ``config`` and answer the ``heldout`` questions with the base and the tuned model."""
    ws = workspace or Workspace()
    result = train(load_config(config, **overrides), ws, show_progress=show_progress)
    examples = load(heldout).examples
    pairs = [ex.prompt_and_reference() for ex in examples]
    prompts = [p for p, _ in pairs]
    lm = load_for_inference(run=result.name, workspace=ws)
    options = GenerationOptions(max_new_tokens=96)
    tuned = generate(lm, prompts, options)
    with lm.base_only():
        base = generate(lm, prompts, options)
    return DemoResult(result, [p.messages[-1].content for p in prompts], [r or "" for _, r in pairs], base, tuned)
