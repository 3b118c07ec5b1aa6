"""Generation metrics over prediction/reference pairs: corpus value plus one value per example.

Every metric is on a 0-100 scale (identical strings score 100). BLEU is sacrebleu's, with its
``zh`` tokenizer whenever the references contain Chinese; ROUGE is rouge-score's computation
on our Chinese-aware words (its own tokenizer drops every non-ASCII character).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mentor.errors import MentorError
from mentor.evaluate.text import answer_tokens, has_cjk, normalize_answer, words

GENERATION_METRICS = ("bleu", "rouge1", "rouge2", "rougeL", "exact_match", "f1")
TASK_METRICS = ("json", "json_schema", "regex", "scorer")


@dataclass(frozen=True)
class MetricResult:
    name: str
    value: float  # corpus-level, 0-100
    per_example: list[float]

    def to_json(self) -> dict:
        return {"value": round(self.value, 4), "per_example": [round(v, 4) for v in self.per_example]}


def score(predictions: Sequence[str], references: Sequence[str | None], metrics: Sequence[str] = GENERATION_METRICS,
          regex: str | None = None, scorer: str | Callable | None = None,
          schema: dict | None = None) -> dict[str, MetricResult]:
    """Score ``predictions`` against ``references`` with each named metric.

    Reference-based metrics skip examples without a reference; ``json`` / ``json_schema`` (parses and
    validates against ``schema``) / ``regex`` / ``scorer`` check the prediction alone (a scorer also gets
    the reference).
    """
    if len(predictions) != len(references):
        raise MentorError(f"{len(predictions)} predictions but {len(references)} references.")
    unknown = [m for m in metrics if m not in GENERATION_METRICS + TASK_METRICS]
    if unknown:
        raise MentorError(f"Unknown metric '{unknown[0]}' (known: {', '.join(GENERATION_METRICS + TASK_METRICS)}).")
    pairs = [(p, r) for p, r in zip(predictions, references) if r is not None]
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    out: dict[str, MetricResult] = {}
    rouge = _rouge(preds, refs) if pairs and any(m.startswith("rouge") for m in metrics) else {}
    for name in metrics:
        if name == "bleu" and pairs:
            out[name] = _bleu(preds, refs)
        elif name.startswith("rouge") and pairs:
            out[name] = _mean(name, rouge[name])
        elif name == "exact_match" and pairs:
            out[name] = _mean(name, [100.0 * (normalize_answer(p) == normalize_answer(r)) for p, r in pairs])
        elif name == "f1" and pairs:
            out[name] = _mean(name, [token_f1(p, r) for p, r in pairs])
        elif name == "json":
            out[name] = _mean(name, [100.0 * _is_json(p) for p in predictions])
        elif name == "json_schema":
            out[name] = _mean(name, [100.0 * _fits_schema(p, schema) for p in _needs_schema(predictions, schema)])
    if regex is not None or "regex" in metrics:
        if regex is None:
            raise MentorError("The regex metric needs a pattern (--regex PATTERN).")
        try:
            pattern = re.compile(regex)
        except re.error as e:
            raise MentorError(f"Invalid --regex pattern {regex!r}: {e}.") from None
        out["regex"] = _mean("regex", [100.0 * bool(pattern.search(p)) for p in predictions])
    if scorer is not None or "scorer" in metrics:
        if scorer is None:
            raise MentorError("The scorer metric needs --scorer module:function (or path/to/file.py:function).")
        fn = load_scorer(scorer) if isinstance(scorer, str) else scorer
        out["scorer"] = _mean("scorer", [_checked(fn, p, r, i) for i, (p, r) in enumerate(zip(predictions, references))])
    return out


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (CJK per character), 0-100."""
    pred, ref = answer_tokens(prediction), answer_tokens(reference)
    if not pred or not ref:
        return 100.0 * (pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 100.0 * 2 * precision * recall / (precision + recall)


def sentence_bleu(prediction: str, reference: str) -> float:
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="zh" if has_cjk(reference) else "13a", effective_order=True).sentence_score(
        prediction, [reference]).score


def _bleu(preds: list[str], refs: list[str]) -> MetricResult:
    from sacrebleu.metrics import BLEU

    tokenize = "zh" if any(has_cjk(r) for r in refs) else "13a"
    corpus = BLEU(tokenize=tokenize).corpus_score(preds, [refs]).score
    return MetricResult("bleu", corpus, [sentence_bleu(p, r) for p, r in zip(preds, refs)])


class _Words:
    """rouge-score's tokenizer interface."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


def _rouge(preds: list[str], refs: list[str]) -> dict[str, list[float]]:
    from rouge_score.rouge_scorer import RougeScorer

    names = ["rouge1", "rouge2", "rougeL"]
    scorer = RougeScorer(names, tokenizer=_Words())
    values: dict[str, list[float]] = {n: [] for n in names}
    for p, r in zip(preds, refs):
        result = scorer.score(r, p)  # (target, prediction)
        for n in names:
            values[n].append(100.0 * result[n].fmeasure)
    return values


def _mean(name: str, values: list[float]) -> MetricResult:
    return MetricResult(name, sum(values) / len(values) if values else 0.0, values)


def _needs_schema(predictions: Sequence[str], schema: dict | None) -> Sequence[str]:
    if schema is None:
        raise MentorError("The json_schema metric needs a schema (--json-schema FILE).")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise MentorError(f"--json-schema: invalid JSON schema: {e.message}") from None
    return predictions


def _fits_schema(text: str, schema: dict) -> bool:
    """The prediction parses as JSON (a fenced block too) and validates against ``schema``."""
    from jsonschema import Draft202012Validator

    value = _json_value(text)
    return value is not _NOT_JSON and Draft202012Validator(schema).is_valid(value)


_NOT_JSON = object()


def _json_value(text: str):
    """The JSON value of a prediction (models often fence their JSON), else ``_NOT_JSON``."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
    try:
        return json.loads(fenced.group(1) if fenced else body)
    except ValueError:
        return _NOT_JSON


def _is_json(text: str) -> bool:
    return _json_value(text) is not _NOT_JSON


def load_scorer(spec: str) -> Callable:
    """``module:function`` (importable) or ``path/to/file.py:function``."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise MentorError(f"--scorer must look like module:function or file.py:function, got {spec!r}.")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise MentorError(f"Scorer file {path} does not exist.")
            spec_ = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec_)
            spec_.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ImportError as e:
        raise MentorError(f"Cannot import scorer module '{target}': {e}.") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise MentorError(f"'{attr}' in {target} is not a function.")
    return fn


def _checked(fn: Callable, prediction: str, reference: str | None, index: int) -> float:
    value = fn(prediction, reference)
    if isinstance(value, bool):
        return 100.0 * value
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise MentorError(f"Scorer returned {value!r} for example {index + 1}; it must return a bool or a number in [0, 1].")
    return 100.0 * value


def json_match(prediction: str, reference: str | None) -> float:
    """The share of the reference JSON's leaf values (path and normalised text) the prediction's JSON has too:
    0 when the prediction is not JSON. A scorer (``mentor.evaluate.scores:json_match``) for extraction tasks."""
    if reference is None:
        return 0.0
    want, got = _leaves(json.loads(reference)), _json_value(prediction)
    if got is _NOT_JSON or not want:
        return float(bool(not want and got is not _NOT_JSON))
    have = _leaves(got)
    return len(want & have) / len(want)


def _leaves(value, path: str = "") -> set[tuple[str, str]]:
    """(path, normalised text) of every leaf; list items lose their position (order does not matter)."""
    if isinstance(value, dict):
        return {leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")}
    if isinstance(value, list):
        return {leaf for v in value for leaf in _leaves(v, f"{path}[]")}
    return {(path, normalize_answer(str(value)))}
