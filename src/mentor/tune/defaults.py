"""Settings chosen from the data set: whatever the user left unset is decided here, each with its reason.

Measured with ``bench/defaults.py`` (small private tasks on the embedded 135M model): the README's benchmark
section has the table behind these numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from mentor.tune.config import TrainConfig
from mentor.methods import get_method

SMALL_DATA = 100  # below this many rows every row trains: a 10% hold-out is too few rows to tell anything
MAX_VAL_ROWS = 200  # a larger validation set only makes each validation slower
VAL_RATIO = 0.1
MIN_STEPS = 100  # a small data set gets at least this many optimizer steps (more epochs)...
MAX_EPOCHS = 5  # ...but never more than this many passes (time stays within 2x of 3 epochs on 90%)
BASE_EPOCHS = 3
MAX_LR_SCALE = 5.0  # a run shorter than MIN_STEPS takes larger steps: the method's rate x MIN_STEPS / steps, up to 5x
LARGE_DATA = 10_000  # from this many rows, fewer passes are enough (and an epoch is long)
TASK_EVAL_EXAMPLES = 32  # validation answers generated and scored at each validation for the task metric
REFERENCE_METRIC_CHARS = 40  # references this short (labels, codes, numbers) are scored by exact match
MIN_LENGTH = 512  # max_length: at least this many tokens (truncation only: batches pad to their own longest row)...
MAX_LENGTH = 4096  # ...enough for the longest example, at most this many (activation memory grows with it)


@dataclass(frozen=True)
class Choice:
    key: str
    value: Any
    reason: str

    def to_json(self) -> dict:
        return {"key": self.key, "value": self.value, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.key} = {self.value}: {self.reason}"


def choose(config: TrainConfig, rows: int, references: list[str | None] | None = None,
           lengths: list[int] | None = None) -> tuple[TrainConfig, list[Choice]]:
    """Fill every setting left as None in ``config`` for a data set of ``rows`` training rows.

    ``references`` are the last assistant replies of the rows (to pick a task metric for validation);
    ``lengths`` their token counts as trained (to size max_length); the returned config has no None left
    among the chosen keys.
    """
    choices: list[Choice] = []

    def pick(key: str, value: Any, reason: str) -> Any:
        """The user's value for ``key``, or ``value`` (recorded with its reason) when they set none."""
        if getattr(config, key) is not None:
            return getattr(config, key)
        choices.append(Choice(key, value, reason))
        return value

    method = get_method(config.method)
    longest = max(lengths or [0])
    if longest <= MIN_LENGTH:
        pick("max_length", MIN_LENGTH, f"the longest example has {longest} tokens" if lengths else "the usual length")
    else:
        size = min(MAX_LENGTH, -(-longest // 64) * 64)
        cut = sum(n > size for n in lengths)
        pick("max_length", size, f"the longest example has {longest} tokens" +
             (f"; {cut} longer than {MAX_LENGTH} are cut (pass --max-length to keep more)" if cut else ""))
    if config.val:
        ratio = pick("val_ratio", 0.0, f"validation comes from {config.val}")
    elif rows < SMALL_DATA:
        ratio = pick("val_ratio", 0.0, f"{rows} rows (< {SMALL_DATA}): every row trains; a {VAL_RATIO:.0%} hold-out "
                                       f"({round(rows * VAL_RATIO)} rows) costs more than it tells")
    else:
        share = min(VAL_RATIO, MAX_VAL_ROWS / rows)
        ratio = pick("val_ratio", round(share, 4), f"{rows} rows: {round(rows * share)} held out to validate "
                                                   f"(at most {MAX_VAL_ROWS})")
    train_rows = rows if config.val else rows - round(rows * ratio)
    has_val = bool(config.val) or round(rows * ratio) > 0
    per_step = config.batch_size * config.grad_accum * config.nproc
    steps_per_epoch = max(1, math.ceil(train_rows / per_step))
    if config.max_steps:
        epochs = pick("epochs", float(BASE_EPOCHS), f"unused: max_steps {config.max_steps} sets the length")
    elif train_rows >= LARGE_DATA:
        epochs = pick("epochs", 1.0, f"{train_rows} training rows: one pass ({steps_per_epoch} steps) is enough")
    elif steps_per_epoch * BASE_EPOCHS >= MIN_STEPS:
        epochs = pick("epochs", float(BASE_EPOCHS), f"{steps_per_epoch} steps per epoch x {BASE_EPOCHS} = "
                                           f"{steps_per_epoch * BASE_EPOCHS} steps")
    else:
        n = min(MAX_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
        epochs = pick("epochs", float(n), f"{train_rows} training rows: {steps_per_epoch} steps per epoch; {n} epochs "
                                          f"give {steps_per_epoch * n} steps (small sets need more passes)")
    steps = config.max_steps or max(1, math.ceil(epochs * steps_per_epoch))  # as the training loop counts them
    scale = min(MAX_LR_SCALE, max(1.0, MIN_STEPS / steps))
    if scale > 1:
        pick("learning_rate", float(f"{method.learning_rate * scale:.3g}"),
             f"the {method.name} default {method.learning_rate:g} x {scale:.2g}: {steps} steps (< {MIN_STEPS}) "
             "take larger ones")
    else:
        pick("learning_rate", method.learning_rate, f"the {method.name} default ({steps} steps)")
    pick("lr_scheduler", "linear", "warm up, then decay linearly to 0")
    task = _task_metric(config, references or [])
    if not has_val:
        metric = pick("early_stopping_metric", "val_loss", "no validation set")
    elif task:
        metric = pick("early_stopping_metric", task[0], task[1] + "; the best-scoring checkpoint is kept")
    else:
        metric = pick("early_stopping_metric", "val_loss", "no task check (pass --scorer or --regex)")
    if metric == "val_loss":
        pick("eval_generate", 0, "loss only")
    else:
        pick("eval_generate", TASK_EVAL_EXAMPLES, f"answer {TASK_EVAL_EXAMPLES} validation examples at each "
                                                  f"validation to score {metric}")
    values = {c.key: c.value for c in choices}
    return replace(config, **values), choices


def _task_metric(config: TrainConfig, references: list[str | None]) -> tuple[str, str] | None:
    """The task check to validate on: the user's scorer or regex, else exact match for short answers."""
    if config.scorer:
        return "scorer", f"your scorer {config.scorer}"
    if config.regex:
        return "regex", f"your --regex {config.regex!r}"
    refs = [r.strip() for r in references if r is not None]
    if refs and all(len(r) <= REFERENCE_METRIC_CHARS for r in refs):
        return "exact_match", f"every answer is short (<= {REFERENCE_METRIC_CHARS} characters): scored by exact match"
    if refs and all(r.startswith(("{", "[")) and _is_json(r) for r in refs):
        return "exact_match", "every answer is JSON: scored by exact match"
    return None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
