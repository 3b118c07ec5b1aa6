"""`mentor distill` from the CLI on a tiny subset: seq + logits from a teacher, a student built from its
layers, the no-teacher baseline, and the report."""

from __future__ import annotations

import json
import shutil

import pytest

from mentor.distill.teacher import sample_key
from mentor.evaluate.scores import score
from tests.conftest import SAMPLE
from tests.smoke.test_cli import _mentor


def test_distill_both_modes_with_a_built_student_then_report(tmp_path, tiny_model):
    out = tmp_path / "distilled"
    proc = _mentor("distill", "--teacher", tiny_model, "--student-layers", "1", "--data", str(SAMPLE), "--mode", "both",
                   "--output", str(out), "--max-steps", "2", "--heldout", "3", "--max-new-tokens", "8", "--topk", "16",
                   "--temperature", "1", "--samples", "2",
                   "--keep-truncated", "--baseline")  # a random tiny teacher never stops on its own
    assert proc.returncode == 0, proc.stderr
    answers = (out / "teacher" / "answers.jsonl").read_text().splitlines()
    assert len(answers) == 152  # every prompt answered twice, held-out ones included
    assert (out / "student-init" / "config.json").exists()
    assert json.loads((out / "student-init" / "config.json").read_text())["num_hidden_layers"] == 1
    run = json.loads((out / "student" / "run.json").read_text())
    assert run["status"] == "succeeded" and run["steps"] == 2
    assert list((out / "student").glob("teacher-topk-k16.safetensors"))
    assert json.loads((out / "baseline" / "run.json").read_text())["status"] == "succeeded"

    again = _mentor("distill", "--teacher", tiny_model, "--student-layers", "1", "--data", str(SAMPLE),
                    "--mode", "seq", "--output", str(out), "--max-steps", "2", "--heldout", "3", "--max-new-tokens", "8",
                    "--temperature", "1", "--samples", "2", "--keep-truncated")
    assert again.returncode == 0, again.stderr  # resumes: no new teacher answers, student kept
    assert len((out / "teacher" / "answers.jsonl").read_text().splitlines()) == 152

    report = _mentor("distill", "report", str(out), "--max-new-tokens", "8")
    assert report.returncode == 0, report.stderr
    data = json.loads((out / "report.json").read_text())
    teacher, student, baseline = data["models"]
    # every model's answer scored against both of the teacher's samples for its prompt, the mean
    cached = {json.loads(line)["key"]: json.loads(line)["answer"] for line in answers}
    keys = [json.loads(line)["key"] for line in (out / "heldout.jsonl").read_text().splitlines()]
    for model in data["models"]:
        got = data["answers"][model["name"]]
        pairs = [(a, cached[sample_key(k, j)]) for a, k in zip(got, keys, strict=True) for j in (0, 1)]
        expected = score([a for a, _ in pairs], [r for _, r in pairs], ("rougeL",))["rougeL"].value
        assert model["rougeL_teacher"] == pytest.approx(expected)
    assert student["parameters"] < teacher["parameters"]
    assert student["tokens_per_s"] > 0 and student["disk_mb"] < teacher["disk_mb"] and teacher["perplexity"] > 1
    assert baseline["name"] == "student (no teacher)"
    assert "quality retained" in (out / "report.md").read_text()


def test_logits_mode_refuses_a_student_with_another_tokenizer(tmp_path, tiny_model):
    from transformers import AutoTokenizer

    other = tmp_path / "other-student"
    shutil.copytree(tiny_model, other)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.add_tokens(["<new-token>"])
    tok.save_pretrained(other)
    proc = _mentor("distill", "--teacher", tiny_model, "--student", str(other), "--data", str(SAMPLE),
                   "--mode", "logits", "--output", str(tmp_path / "out"), "--heldout", "1")
    assert proc.returncode != 0
    assert "different tokenizers" in proc.stderr and "--mode seq" in proc.stderr
