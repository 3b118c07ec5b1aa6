"""Diagnosis rules on synthetic metric curves and results."""

from __future__ import annotations

import torch

from mentor.evaluate import diagnosis
from mentor.tune.early_stopping import EarlyStopping


def _curve(val_losses, train_start=2.0):
    records = []
    for i, v in enumerate(val_losses):
        step = 10 * (i + 1)
        records += [{"step": s, "epoch": s / 10, "train_loss": train_start - 0.01 * s} for s in range(step - 9, step + 1)]
        records.append({"step": step, "epoch": step / 10, "val_loss": v})
    return records


def test_overfitting_names_the_epoch_where_validation_turned():
    f = diagnosis.overfitting(_curve([2.0, 1.6, 1.5, 1.7, 1.9]))
    assert f.severity == "warning"
    assert "epoch 3.00 (step 30)" in f.message and "rose to 1.9000" in f.message


def test_falling_validation_is_not_overfitting():
    assert diagnosis.overfitting(_curve([2.0, 1.6, 1.5, 1.45])).severity == "ok"
    assert diagnosis.overfitting(_curve([2.0, 1.6])) is None  # too few evaluations to tell


def test_both_losses_rising_is_not_called_overfitting():
    records = _curve([2.0, 1.5, 1.9])
    for r in records:
        if "train_loss" in r:
            r["train_loss"] = 1.0 + 0.01 * r["step"]
    assert diagnosis.overfitting(records) is None


def test_perplexity_better_but_rouge_not():
    f = diagnosis.metrics_disagree({"loss": 2.0, "rougeL": 30.0, "bleu": 10.0}, {"loss": 1.2, "rougeL": 29.0, "bleu": 10.2})
    assert f is not None and "loss 2.000 -> 1.200" in f.message
    assert diagnosis.metrics_disagree({"loss": 2.0, "rougeL": 30.0}, {"loss": 1.2, "rougeL": 45.0}) is None


def test_memorisation_counts_copied_runs():
    train = ["Our robots have a three year warranty and batteries are covered for eighteen months from delivery."]
    copied = "Sure! Our robots have a three year warranty and batteries are covered for eighteen months."
    fresh = "The warranty is three years."
    assert diagnosis.memorisation([copied, fresh], train).severity == "warning"
    assert diagnosis.memorisation([fresh, fresh, fresh], train).severity == "ok"
    zh_train = ["灯笼鱼机器人公司的总部位于中国浙江省杭州市西湖区文三路一百号，欢迎来访参观我们的工厂。"]
    assert diagnosis.memorisation(["您好，" + zh_train[0]], zh_train).severity == "warning"


def test_forgetting_thresholds():
    base = {"accuracy": 40.0, "probe_perplexity": {"general-en": 10.0}}
    bad = {"base": base, "tuned": {"accuracy": 35.0, "probe_perplexity": {"general-en": 12.0}},
           "accuracy_delta": -5.0, "probe_perplexity_change_pct": {"general-en": 20.0}}
    f = diagnosis.forgetting(bad)
    assert f.severity == "warning" and "fell 5.0 points" in f.message and "rose 20%" in f.message
    fine = {**bad, "accuracy_delta": -1.0, "probe_perplexity_change_pct": {"general-en": 3.0}}
    assert diagnosis.forgetting(fine).severity == "ok"


def test_too_little_data_gives_the_count_and_warnings_sort_first():
    findings = diagnosis.diagnose(_curve([2.0, 1.6, 1.5]), train_examples=42)
    assert [f.severity for f in findings] == ["warning", "ok"]
    assert "Only 42 training examples" in findings[0].message


def test_early_stopping_keeps_the_best_weights():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping("rougeL", patience=2)
    assert not stopper.update({"rougeL": 10.0}, 1, model)
    best = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not stopper.update({"rougeL": 9.0}, 2, model)
    assert stopper.update({"rougeL": 9.5}, 3, model)  # not better than the best: second bad evaluation
    stopper.restore_best(model)
    assert torch.equal(model.weight, best) and stopper.best_step == 1
    loss_stopper = EarlyStopping("val_loss", patience=1)
    assert not loss_stopper.update({"val_loss": 2.0}, 1, model)
    assert not loss_stopper.update({"val_loss": 1.5}, 2, model)
    assert loss_stopper.update({"val_loss": 1.6}, 3, model)


def test_not_learned_when_the_loss_looks_done_but_the_task_score_is_low():
    records = [{"step": 0, "epoch": 0, "val_loss": 1.17},
               {"step": 21, "epoch": 1, "val_loss": 0.32, "exact_match": 5.0, "rougeL": 80.0},
               {"step": 63, "epoch": 3, "val_loss": 0.156, "exact_match": 33.0, "rougeL": 90.0}]
    f = diagnosis.not_learned(records, "exact_match")
    assert f.severity == "warning" and "fell from 1.170 to 0.156" in f.message and "33% " in f.message
    assert "--epochs" in f.message and "--lr" in f.message
    # the same numbers with a passing score, or a loss that has not fallen, say nothing
    assert diagnosis.not_learned([*records[:2], {**records[2], "exact_match": 90.0}], "exact_match") is None
    assert diagnosis.not_learned([{**r, "val_loss": 1.1} for r in records], "exact_match") is None
    # exact match on free text (a run without a task check) is not a task score; a scorer's is, when measured
    assert diagnosis.not_learned(records, "val_loss") is None
    scored = [{**r, "scorer": r.get("exact_match")} for r in records[1:]]
    assert diagnosis.not_learned([records[0], *scored]).rule == "not_learned"
    assert diagnosis.diagnose(records, 90, task_metric="exact_match")[0].rule == "not_learned"


def test_best_checkpoint_without_early_stopping_and_ties_keep_the_later_one():
    model = torch.nn.Linear(2, 1)
    keeper = EarlyStopping("exact_match", patience=None)
    assert not keeper.update({"exact_match": 50.0}, 1, model)
    assert not any(keeper.update({"exact_match": v}, s, model) for s, v in ((2, 40.0), (3, 30.0), (4, 20.0)))
    assert keeper.best_step == 1
    assert not keeper.update({"exact_match": 50.0}, 5, model) and keeper.best_step == 5  # a tie: the later one
