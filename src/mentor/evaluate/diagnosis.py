"""Rules that read a run's numbers and say, in plain words, what went wrong (or right)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mentor.evaluate.text import words

MIN_EXAMPLES = 100  # below this, fine-tuning mostly learns style, not knowledge
OVERFIT_RISE = 0.02  # validation loss 2% above its best
FORGET_ACCURACY_POINTS = 2.0
FORGET_PERPLEXITY_PCT = 10.0
COPY_NGRAM = 10  # words copied verbatim from one training reply
COPY_SHARE = 0.2  # of predictions
NOT_LEARNED_SCORE = 50.0  # task score (0-100) below which a run whose loss looks learned has not learned the task
LEARNED_LOSS = 0.3  # validation loss per token this low (or...
LEARNED_LOSS_SHARE = 0.5  # ...this share of the loss before training) reads as "learned"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "warning", "info" or "ok"
    message: str

    def to_json(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "message": self.message}


def overfitting(records: list[dict]) -> Finding | None:
    """Validation loss rising from its best while training loss keeps falling."""
    vals = [r for r in records if "val_loss" in r]
    if len(vals) < 3:
        return None
    best = min(vals, key=lambda r: r["val_loss"])
    last = vals[-1]
    if last is best or last["val_loss"] <= best["val_loss"] * (1 + OVERFIT_RISE):
        first = vals[0]["val_loss"]
        return Finding("overfitting", "ok", f"Validation loss fell from {first:.4f} to {last['val_loss']:.4f} "
                                            "without turning back up: no sign of overfitting.")
    trains = [r["train_loss"] for r in records if "train_loss" in r]
    at_best = [r["train_loss"] for r in records if "train_loss" in r and r["step"] <= best["step"]]
    if trains and at_best and _tail_mean(trains) >= _tail_mean(at_best):
        return None  # both rose: unstable training, not overfitting
    return Finding("overfitting", "warning",
                   f"Overfitting: validation loss was lowest ({best['val_loss']:.4f}) at epoch {best['epoch']:.2f} "
                   f"(step {best['step']}) and rose to {last['val_loss']:.4f} by step {last['step']} while training "
                   "loss kept falling. Train for fewer epochs, lower the learning rate, add data, or use early "
                   "stopping (early_stopping_patience).")


def _tail_mean(values: list[float], n: int = 5) -> float:
    tail = values[-n:]
    return sum(tail) / len(tail)


def metrics_disagree(base: dict, tuned: dict) -> Finding | None:
    """Perplexity improved but BLEU / ROUGE did not (the model got surer, not better at answering)."""
    if "loss" not in base or "loss" not in tuned:
        return None
    gen = [m for m in ("rougeL", "bleu") if m in base and m in tuned]
    if not gen or tuned["loss"] >= base["loss"] * 0.95:
        return None
    if all(tuned[m] - base[m] <= 0.5 for m in gen):
        deltas = ", ".join(f"{m} {tuned[m] - base[m]:+.2f}" for m in gen)
        return Finding("metrics_disagree", "warning",
                       f"Perplexity improved (loss {base['loss']:.3f} -> {tuned['loss']:.3f}) but the answers did not "
                       f"({deltas}). The model learned the reference wording's statistics but not to produce such "
                       "answers: look at the samples, check the chat template and stop tokens, and try more epochs "
                       "or a higher learning rate.")
    return None


def memorisation(predictions: Iterable[str], training_replies: Iterable[str], n: int = COPY_NGRAM) -> Finding | None:
    """Share of predictions that copy a run of ``n`` words verbatim from a training reply."""
    seen: set[tuple[str, ...]] = set()
    for reply in training_replies:
        w = words(reply)
        seen.update(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    preds = list(predictions)
    if not preds or not seen:
        return None
    copied = [p for p in preds if any(tuple(w[i:i + n]) in seen for w in [words(p)] for i in range(len(w) - n + 1))]
    share = len(copied) / len(preds)
    if share >= COPY_SHARE:
        return Finding("memorisation", "warning",
                       f"Memorisation: {len(copied)} of {len(preds)} answers ({100 * share:.0f}%) copy {n}+ words "
                       f"verbatim from the training answers, e.g. \"{copied[0][:120]}\". Fewer epochs, more varied data "
                       "or dropout help.")
    return Finding("memorisation", "ok", f"{len(copied)} of {len(preds)} answers copy {n}+ words from the training "
                                         "answers: no sign of memorisation.")


def forgetting(result: dict) -> Finding | None:
    """General-knowledge accuracy or general-text perplexity worse than the base beyond a threshold."""
    if "base" not in result:
        return None
    problems = []
    delta = result.get("accuracy_delta")
    if delta is not None and delta <= -FORGET_ACCURACY_POINTS:
        problems.append(f"general-knowledge accuracy fell {-delta:.1f} points "
                        f"({result['base']['accuracy']:.1f}% -> {result['tuned']['accuracy']:.1f}%)")
    for name, change in result.get("probe_perplexity_change_pct", {}).items():
        if change >= FORGET_PERPLEXITY_PCT:
            problems.append(f"perplexity on the {name} probe text rose {change:.0f}%")
    if problems:
        return Finding("forgetting", "warning",
                       "Forgetting: " + "; ".join(problems) + ". Lower the learning rate or epochs, use a smaller "
                       "LoRA rank, or mix some general data into training.")
    acc = f"accuracy {delta:+.1f} points, " if delta is not None else ""
    worst = max(result.get("probe_perplexity_change_pct", {}).values(), default=0.0)
    return Finding("forgetting", "ok", f"No forgetting beyond the thresholds ({acc}probe perplexity {worst:+.1f}% at worst).")


def not_learned(records: list[dict], metric: str | None = None) -> Finding | None:
    """Validation loss says the model predicts the answers' tokens well, but its own answers fail the task check.

    ``metric``: the run's task check (scorer, regex, json or exact_match); without one, the first of scorer,
    regex and json that validation measured (exact match only counts where the run chose it: short answers).
    """
    vals = [r for r in records if "val_loss" in r]
    if metric is None or metric in ("val_loss", "rougeL", "bleu", "f1"):
        metric = next((m for m in ("scorer", "regex", "json") if any(m in r for r in vals)), None)
    scored = [r for r in vals if metric and metric in r]
    if not scored:
        return None
    first, last = vals[0]["val_loss"], scored[-1]
    best = max(r[metric] for r in scored)
    loss_learned = last["val_loss"] <= LEARNED_LOSS or last["val_loss"] <= first * LEARNED_LOSS_SHARE
    if best >= NOT_LEARNED_SCORE or not loss_learned:
        return None
    return Finding("not_learned", "warning",
                   f"The model has not learned the task yet: validation loss fell from {first:.3f} to "
                   f"{last['val_loss']:.3f} (its tokens look predictable), but at best {best:.0f}% of the validation "
                   f"answers pass {metric}. Train longer (more --epochs or --max-steps) or raise the learning rate "
                   "(--lr); the answers are right in form but wrong in detail.")


def too_little_data(train_examples: int | None) -> Finding | None:
    if train_examples is None or train_examples >= MIN_EXAMPLES:
        return None
    return Finding("data_size", "warning",
                   f"Only {train_examples} training examples: enough to teach a format or a style, rarely enough "
                   f"for new knowledge (aim for {MIN_EXAMPLES}+ varied examples, or use a knowledge base).")


def diagnose(records: list[dict], train_examples: int | None = None, comparison: dict | None = None,
             forgetting_result: dict | None = None, training_replies: list[str] | None = None,
             task_metric: str | None = None) -> list[Finding]:
    """Every rule that has the numbers it needs; warnings first."""
    found = [overfitting(records), not_learned(records, task_metric), too_little_data(train_examples)]
    if comparison and len(comparison.get("columns", [])) > 1:
        tuned = comparison["columns"][1]
        found.append(metrics_disagree(comparison["metrics"]["base"], comparison["metrics"][tuned]))
        if training_replies:
            found.append(memorisation([s["answers"][tuned] for s in comparison["samples"]], training_replies))
    if forgetting_result:
        found.append(forgetting(forgetting_result))
    order = {"warning": 0, "info": 1, "ok": 2}
    return sorted((f for f in found if f is not None), key=lambda f: order[f.severity])
