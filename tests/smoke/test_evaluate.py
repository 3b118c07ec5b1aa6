"""Evaluation on the real SmolLM2: eval, compare, forgetting, report, and the evaluation hooks in training."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from mentor.evaluate.evaluation import evaluate_model
from mentor.evaluate.general import choice_accuracy, load_questions
from mentor.generation import GenerationOptions, load_for_inference
from mentor.tune import load_config, train
from tests.conftest import FIXTURES, REPO
from tests.smoke.test_train import _mentor, _subset

HELDOUT = REPO / "examples" / "data" / "lanternfish-heldout.jsonl"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short real LoRA run with generation metrics at validation and the forgetting check at the end."""
    from mentor.workspace import Workspace

    tmp = tmp_path_factory.mktemp("evalrun")
    ws = Workspace(tmp / "home")
    config = load_config(data=str(_subset(tmp / "data.jsonl", 40)), val_ratio=0.1, max_steps=6, eval_steps=3, eval_generate=2,
                         eval_max_new_tokens=16, max_length=128, learning_rate=1e-3, batch_size=4,
                         check_forgetting=[str(FIXTURES / "general")], forgetting_questions=8, name="evalrun")
    result = train(config, ws, show_progress=False)
    return ws, result


def test_base_model_eval_on_real_examples():
    lm = load_for_inference()
    result = evaluate_model(lm, HELDOUT, options=GenerationOptions(24), limit=3)
    assert result.examples == 3 and len(result.samples) == 3
    assert 0 < result.loss < 10 and math.isclose(result.perplexity, math.exp(result.loss))
    assert all(s["prediction"] for s in result.samples)
    assert set(result.metrics) == {"bleu", "rouge1", "rouge2", "rougeL", "exact_match", "f1"}
    assert 0 < result.metrics["rougeL"].value < 100


def test_batched_letter_scoring_matches_scoring_each_choice_alone():
    """Left-padded batches must pick the same letters as scoring every full 'prompt + letter' text alone
    (a 135M model is near chance on such questions, so agreement, not accuracy, is what can be checked)."""
    import torch

    lm = load_for_inference()
    qs = load_questions([FIXTURES / "general"])
    batched = choice_accuracy(lm.model, lm.tokenizer, qs, batch_size=8)
    alone = []
    with torch.no_grad():
        for q in qs:
            scores = []
            for letter in "ABCD"[:len(q.choices)]:
                prompt = lm.tokenizer(q.prompt(), add_special_tokens=False)["input_ids"]
                ids = torch.tensor([prompt + lm.tokenizer(letter if q.chinese else " " + letter,
                                                          add_special_tokens=False)["input_ids"]])
                logp = torch.log_softmax(lm.model(input_ids=ids).logits[0, -2].float(), -1)[ids[0, -1]]
                scores.append(float(logp))
            alone.append(scores.index(max(scores)) == q.answer)
    assert batched == alone and len(batched) == 12


def test_training_logs_generation_metrics_and_checks_forgetting(run):
    ws, result = run
    records = [json.loads(l) for l in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in vals] == [0, 3, 6]
    assert all({"rougeL", "bleu", "f1"} <= set(r) for r in vals)
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["train_examples"] == 36 and "accuracy_delta" in info["forgetting"]
    saved = list((result.run_dir / "evaluations").glob("forgetting-*.json"))
    f = json.loads(saved[0].read_text())["forgetting"]
    assert f["questions"] == 8 and set(f["base"]["probe_perplexity"]) == {"general-en", "general-zh"}
    assert f["tuned"]["probe_perplexity"] != f["base"]["probe_perplexity"]  # the adapter was on for "tuned"


def test_early_stopping_stops_and_keeps_the_best(tiny_model, tmp_path, workspace):
    config = load_config(model=tiny_model, data=str(_subset(tmp_path / "d.jsonl", 24)), val_ratio=0.1, max_steps=20, eval_steps=1,
                         eval_generate=2, eval_max_new_tokens=8, early_stopping_patience=2,
                         early_stopping_metric="val_loss", learning_rate=0.5, max_length=64, precision="fp32")
    result = train(config, workspace, show_progress=False)  # a learning rate of 0.5 diverges within a few steps
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["stopped_early_at"] < 20 and info["best_step"] <= info["stopped_early_at"] - 2
    vals = {r["step"]: r["val_loss"] for r in map(json.loads, (result.run_dir / "metrics.jsonl").read_text().splitlines())
            if "val_loss" in r and r["step"] > 0}
    assert result.val_loss_after == pytest.approx(min(vals.values()))
    assert vals[info["best_step"]] == min(vals.values())


def test_cli_eval_compare_report(run, monkeypatch):
    ws, result = run
    monkeypatch.setenv("MENTOR_HOME", str(ws.home))
    out = _mentor("eval", "--run", "evalrun", "--data", str(HELDOUT), "--limit", "2", "--max-new-tokens", "16",
                  "--json").stdout
    data = json.loads(out)
    assert data["run"] == "evalrun" and data["examples"] == 2 and "rougeL" in data["metrics"]
    assert (result.run_dir / "evaluations").joinpath(data["saved"].rsplit("/", 1)[-1]).is_file()
    compared = _mentor("compare", "--run", "evalrun", "--data", str(HELDOUT), "--limit", "2", "--max-new-tokens", "16")
    assert "Δ evalrun" in compared.stdout and "rougeL" in compared.stdout
    report = _mentor("report", "evalrun")
    assert "Only 36 training examples" in report.stdout
    page = (result.run_dir / "report" / "report.html").read_text(encoding="utf-8")
    parser = _Parser()
    parser.feed(page)
    assert len(parser.images) == 2 and all(src.startswith("data:image/png;base64,") for src in parser.images)
    for heading in ("Diagnosis", "Training curves", "Answers side by side", "Forgetting (8 general-knowledge questions)"):
        assert heading in parser.headings
    assert (result.run_dir / "report" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:  # render it as a user would; CI installs chromium (see .ci/run)
        shot = result.run_dir / "report" / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                        f"--screenshot={shot}", (result.run_dir / "report" / "report.html").as_uri()],
                       capture_output=True, timeout=120, check=True)
        assert shot.stat().st_size > 50_000  # a blank page is a few kB


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self._in_h2 = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)

    def handle_endtag(self, tag):
        self._in_h2 = False
