"""`mentor eval`: loss / perplexity on references and generation metrics, for a model, a run or a
predictions file; results saved as JSON in the run folder (or the workspace)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mentor.data.conversation import Conversation
from mentor.data.formats import json_records, load_examples
from mentor.errors import DataError
from mentor.evaluate.scores import GENERATION_METRICS, MetricResult, score
from mentor.files import atomic_write_json
from mentor.workspace import Workspace


@dataclass
class EvalResult:
    data: str
    model: str | None = None
    run: str | None = None
    examples: int = 0
    loss: float | None = None  # mean cross-entropy per reference token
    metrics: dict[str, MetricResult] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)  # prompt / reference / prediction per example
    extra: dict = field(default_factory=dict)  # judge scores, forgetting, ...

    @property
    def perplexity(self) -> float | None:
        return math.exp(self.loss) if self.loss is not None else None

    def summary(self) -> dict[str, float]:
        out = {"loss": self.loss, "perplexity": self.perplexity} if self.loss is not None else {}
        out.update({name: m.value for name, m in self.metrics.items()})
        return out

    def to_json(self) -> dict:
        return {"data": self.data, "model": self.model, "run": self.run, "examples": self.examples,
                "created": time.time(), "loss": self.loss, "perplexity": self.perplexity,
                "metrics": {n: m.to_json() for n, m in self.metrics.items()}, "samples": self.samples, **self.extra}


def evaluate_model(lm, data: str | Path, metrics: Sequence[str] = GENERATION_METRICS, options=None,
                   limit: int | None = None, max_length: int = 1024, regex: str | None = None,
                   scorer: str | Callable | None = None, generate_answers: bool = True,
                   schema: dict | None = None) -> EvalResult:
    """Loss and perplexity of ``lm`` on the references in ``data``, then its greedy answers scored."""
    from mentor.generation import GenerationOptions, generate

    examples = load_examples(data)[:limit]
    result = EvalResult(str(data), lm.name, lm.run.name if lm.run else None, len(examples))
    result.loss = reference_loss(lm, examples, max_length)
    chats = [ex for ex in examples if not ex.is_text]
    if chats and generate_answers:
        pairs = [ex.prompt_and_reference() for ex in chats]
        predictions = generate(lm, [p for p, _ in pairs], options or GenerationOptions())
        result.samples = [{"line": ex.line, "prompt": _last_user(p), "reference": r, "prediction": pred}
                          for ex, (p, r), pred in zip(chats, pairs, predictions)]
        result.metrics = score(predictions, [r for _, r in pairs], metrics, regex, scorer, schema)
    return result


def reference_loss(lm, examples: list[Conversation], max_length: int = 1024) -> float | None:
    """Mean cross-entropy per supervised token (assistant replies; all text for plain-text data)."""
    from mentor.data.template import encode
    from mentor.tune.train import evaluate

    encoded = [e for e in (encode(ex, lm.tokenizer, max_length) for ex in examples) if e.trained_tokens]
    if not encoded:
        return None
    return evaluate(lm.model, encoded, 4, lm.tokenizer.pad_token_id)


def evaluate_predictions(path: str | Path, metrics: Sequence[str] = GENERATION_METRICS, regex: str | None = None,
                         scorer: str | Callable | None = None, schema: dict | None = None) -> EvalResult:
    """Score a JSONL file of ``prediction`` (+ ``reference``) records, e.g. from ``mentor generate --out``."""
    samples = read_predictions(path)
    result = EvalResult(str(path), examples=len(samples), samples=samples)
    result.metrics = score([s["prediction"] for s in samples], [s.get("reference") for s in samples], metrics,
                           regex, scorer, schema)
    return result


def read_predictions(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Predictions file {path} does not exist.")
    samples = []
    for number, record in json_records(path):
        if not isinstance(record, dict) or not isinstance(record.get("prediction"), str):
            raise DataError(f"{path}:{number}: prediction: missing or not a string.")
        reference = record.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise DataError(f"{path}:{number}: reference: must be a string or null.")
        prompt = record.get("prompt")
        if prompt is None and isinstance(record.get("messages"), list) and record["messages"]:
            prompt = record["messages"][-1].get("content")
        samples.append({"line": number, "prompt": prompt, "reference": reference, "prediction": record["prediction"]})
    if not samples:
        raise DataError(f"{path}: no predictions.")
    return samples


def save_result(result: EvalResult, workspace: Workspace | None = None, run_dir: Path | None = None,
                kind: str = "eval") -> Path:
    """``<run>/evaluations/<kind>-<data>-<time>.json``, or under the workspace without a run."""
    folder = (run_dir or (workspace or Workspace()).home) / "evaluations"
    path = folder / f"{kind}-{Path(result.data).stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    atomic_write_json(path, result.to_json())
    return path


def _last_user(conv: Conversation) -> str:
    users = [m.content for m in conv.messages if m.role == "user"]
    return users[-1] if users else ""
