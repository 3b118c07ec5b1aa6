"""The settings chosen from the data set, pinned for a few sizes."""

from __future__ import annotations

import pytest

from mentor.tune import load_config
from mentor.tune.defaults import choose
from mentor.methods import get_method

LONG = "SELECT name FROM customers WHERE city = 'Oslo' AND joined_year < 2019;"


@pytest.mark.parametrize("rows, val_ratio, epochs, learning_rate", [
    (24, 0.0, 5.0, 6.67e-4),  # 6 steps per epoch: capped at 5 passes; 30 steps take 3.3x larger ones
    (32, 0.0, 5.0, 5e-4),     # 40 steps: 2.5x (the smoke test's tiny task)
    (60, 0.0, 5.0, 2.67e-4),  # 15 steps per epoch -> 5 epochs (75 steps)
    (90, 0.0, 5.0, 2e-4),     # every row trains: 23 steps per epoch -> 5 epochs (115 steps)
    (150, 0.1, 3.0, 2e-4),    # 15 held out; 34 steps per epoch x 3 = 102
    (120, 0.1, 4.0, 2e-4),    # 12 held out; 27 steps per epoch -> 4 epochs (108)
    (3000, 0.0667, 3.0, 2e-4),  # 200 held out at most
    (20000, 0.01, 1.0, 2e-4),  # large: one pass
])
def test_epochs_split_and_learning_rate_follow_the_data_size(rows, val_ratio, epochs, learning_rate):
    config, choices = choose(load_config(None, data="d.jsonl"), rows, [LONG] * rows)
    assert config.val_ratio == val_ratio and config.epochs == epochs
    assert config.learning_rate == learning_rate and config.lr_scheduler == "linear"
    assert get_method("lora").learning_rate == 2e-4
    assert {c.key for c in choices} == {"learning_rate", "lr_scheduler", "val_ratio", "epochs", "early_stopping_metric",
                                        "eval_generate", "max_length"}
    assert all(c.reason for c in choices)


def test_a_short_run_takes_larger_steps_up_to_5x():
    assert choose(load_config(None, data="d.jsonl", max_steps=10), 500, [LONG] * 500)[0].learning_rate == 1e-3
    assert choose(load_config(None, data="d.jsonl", max_steps=10, learning_rate=1e-5), 500, [LONG] * 500)[0].learning_rate == 1e-5


def test_explicit_settings_are_kept_and_not_reported():
    config, choices = choose(load_config(None, data="d.jsonl", epochs=2, learning_rate=1e-3, val_ratio=0.2,
                                         lr_scheduler="cosine"), 60, [LONG] * 60)
    assert (config.epochs, config.learning_rate, config.val_ratio, config.lr_scheduler) == (2, 1e-3, 0.2, "cosine")
    assert {c.key for c in choices} == {"early_stopping_metric", "eval_generate", "max_length"}
    # the user's 20% hold-out gives a validation set, but long free-text answers have no task check
    assert config.early_stopping_metric == "val_loss" and config.eval_generate == 0


def test_max_length_covers_the_longest_example():
    config, choices = choose(load_config(None, data="d.jsonl"), 3, [LONG] * 3, [120, 800, 300])
    assert config.max_length == 832 and "800 tokens" in next(c for c in choices if c.key == "max_length").reason
    assert choose(load_config(None, data="d.jsonl"), 3, [LONG] * 3, [120, 90, 300])[0].max_length == 512
    config, choices = choose(load_config(None, data="d.jsonl"), 3, [LONG] * 3, [9000, 100, 5000])
    assert config.max_length == 4096 and "2 longer than 4096 are cut" in next(c for c in choices if c.key == "max_length").reason
    assert choose(load_config(None, data="d.jsonl", max_length=256), 3, [LONG] * 3, [900])[0].max_length == 256


def test_learning_rate_follows_the_method():
    for method, lr in (("full", 5e-5), ("prompt", 3e-2), ("ia3", 3e-3), ("dora", get_method("lora").learning_rate)):
        config, _ = choose(load_config(None, data="d.jsonl", method=method), 500, [LONG] * 500)
        assert config.learning_rate == lr


def test_task_metric_keeps_the_best_checkpoint_when_there_is_a_check():
    labels = ["BILL", "SHIP", "RET"] * 50
    config, choices = choose(load_config(None, data="d.jsonl"), 150, labels)
    assert config.early_stopping_metric == "exact_match" and config.eval_generate == 32
    assert "short" in next(c for c in choices if c.key == "early_stopping_metric").reason
    json_rows = ['{"name": "Li Wei", "city": "Oslo", "product": "tent", "quantity": 2, "payment": "cash"}'] * 150
    assert choose(load_config(None, data="d.jsonl"), 150, json_rows)[0].early_stopping_metric == "exact_match"
    scored, _ = choose(load_config(None, data="d.jsonl", scorer="check.py:ok"), 150, [LONG] * 150)
    assert scored.early_stopping_metric == "scorer"
    assert choose(load_config(None, data="d.jsonl", regex=r"^SELECT"), 150, [LONG] * 150)[0].early_stopping_metric == "regex"
    # no validation set (under 100 rows): nothing to score, loss only
    small, _ = choose(load_config(None, data="d.jsonl"), 60, labels[:60])
    assert small.early_stopping_metric == "val_loss" and small.eval_generate == 0
    # a separate validation file counts as a validation set
    with_val, _ = choose(load_config(None, data="d.jsonl", val="v.jsonl"), 60, labels[:60])
    assert with_val.val_ratio == 0.0 and with_val.early_stopping_metric == "exact_match" and with_val.epochs == 5
