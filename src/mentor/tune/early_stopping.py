"""The best checkpoint by a validation metric (trainable weights kept in memory), and early stopping on it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mentor.errors import MentorError

LOWER_IS_BETTER = {"val_loss"}
METRICS = ("val_loss", "rougeL", "bleu", "f1", "exact_match", "json", "regex", "scorer")


@dataclass
class EarlyStopping:
    metric: str
    patience: int | None  # evaluations without improvement before stopping; None: never stop, only keep the best
    min_delta: float = 0.0
    best: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    best_state: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise MentorError(f"early_stopping_metric '{self.metric}' is not one of {', '.join(METRICS)}.")
        if self.patience is not None and self.patience < 1:
            raise MentorError("early_stopping_patience must be at least 1.")

    def update(self, values: dict[str, float], step: int, model) -> bool:
        """Record one evaluation; True when training should stop."""
        if self.metric not in values:
            raise MentorError(f"early_stopping_metric '{self.metric}' is not measured; generation metrics need "
                              "eval_generate > 0 (validation examples answered at each evaluation).")
        value = values[self.metric]
        sign = -1 if self.metric in LOWER_IS_BETTER else 1
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.best_step, self.bad_evals = value, step, 0
            self._keep(model)
            return False
        if sign > 0 and value == self.best:  # a task score that ties: keep the later (longer-trained) weights
            self.best_step = step
            self._keep(model)
        self.bad_evals += 1
        return self.patience is not None and self.bad_evals >= self.patience

    def _keep(self, model) -> None:
        self.best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def restore_best(self, model) -> None:
        if self.best_state:
            model.load_state_dict(self.best_state, strict=False)
