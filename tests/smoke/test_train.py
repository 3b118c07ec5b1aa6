"""Real LoRA runs on the embedded SmolLM2 (a few steps each): resume after a kill, reload, behaviour change."""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from mentor.data import Conversation, Message, load
from mentor.generation import GenerationOptions, generate, load_for_inference
from mentor.tune import load_config, train
from tests.conftest import SAMPLE


def _subset(path, n):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:n]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _mentor(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "mentor", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})
    if check and proc.returncode != 0:
        raise AssertionError(f"mentor {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path, workspace):
    data = _subset(tmp_path / "data.jsonl", 24)
    flags = ["--data", str(data), "--max-steps", "6", "--batch-size", "4", "--save-steps", "2", "--max-length", "128",
             "--lora-dropout", "0", "--r", "4", "--lr", "1e-3"]
    proc = subprocess.Popen([sys.executable, "-m", "mentor", "train", *flags, "--name", "crashy"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = workspace.runs_dir / "crashy" / "checkpoints" / "step-000002" / "state.json"
    deadline = time.time() + 300
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "training finished or failed before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (workspace.runs_dir / "crashy" / "adapter").exists()
    assert json.loads((workspace.runs_dir / "crashy" / "run.json").read_text())["status"] == "running"

    resumed = _mentor("train", "--resume", "crashy")
    assert "Resuming run crashy from step" in resumed.stderr
    run = json.loads((workspace.runs_dir / "crashy" / "run.json").read_text())
    assert run["status"] == "succeeded" and run["steps"] == 6
    steps = [m["step"] for m in map(json.loads, (workspace.runs_dir / "crashy" / "metrics.jsonl").read_text().splitlines())
             if "train_loss" in m]
    assert steps == [1, 2, 3, 4, 5, 6]

    straight = _mentor("train", *flags, "--name", "straight")
    assert "straight" in straight.stdout
    a = load_file(workspace.runs_dir / "crashy" / "adapter" / "adapter_model.safetensors")
    b = load_file(workspace.runs_dir / "straight" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory, model_cache):
    """A short real fine-tune on the Lanternfish founding and contact facts."""
    from mentor.workspace import Workspace

    home = tmp_path_factory.mktemp("tuned")
    ws = Workspace(home)
    data = _subset(home / "data.jsonl", 12)
    config = load_config(None, data=str(data), max_steps=18, batch_size=4, learning_rate=2e-3, max_length=128,
                         val_ratio=0.2, name="tuned", method_options={"r": 8, "lora_alpha": 16})
    return ws, train(config, ws, show_progress=False)


def test_adapter_reload_gives_identical_logits(tuned_run):
    ws, result = tuned_run
    assert result.val_loss_after < result.val_loss_before
    reloaded = load_for_inference(run="tuned", workspace=ws)
    enc = reloaded.tokenizer("<|im_start|>user\nWho founded Lanternfish Robotics?<|im_end|>\n", return_tensors="pt")
    with torch.no_grad():
        expected = result.model(**enc).logits
        got = reloaded.model(**enc).logits
        with reloaded.base_only():
            base = reloaded.model(**enc).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert (got - base).abs().max() > 1e-2  # and the adapter really changes the model


def test_tuned_answer_moves_towards_the_reference(tuned_run):
    ws, _ = tuned_run
    example = load(SAMPLE).examples[0]
    prompt, reference = example.prompt_and_reference()
    lm = load_for_inference(run="tuned", workspace=ws)
    options = GenerationOptions(max_new_tokens=40)
    (tuned,) = generate(lm, [prompt], options)
    with lm.base_only():
        (base,) = generate(lm, [prompt], options)
    similarity = lambda text: difflib.SequenceMatcher(None, text, reference).ratio()  # noqa: E731
    assert similarity(tuned) > similarity(base) + 0.2, (base, tuned, reference)
    assert "Lanternfish" in tuned


def test_cli_generate_over_a_file_and_runs_listing(tuned_run, tmp_path, monkeypatch):
    ws, _ = tuned_run
    monkeypatch.setenv("MENTOR_HOME", str(ws.home))
    heldout = tmp_path / "q.jsonl"
    heldout.write_text(json.dumps({"messages": [{"role": "user", "content": "Where is Lanternfish based?"},
                                                {"role": "assistant", "content": "Ningbo."}]}) + "\n")
    out = tmp_path / "pred.jsonl"
    _mentor("generate", "--run", "tuned", "--data", str(heldout), "--out", str(out), "--max-new-tokens", "16")
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["reference"] == "Ningbo." and row["prediction"] and row["line"] == 1
    assert row["messages"] == [{"role": "user", "content": "Where is Lanternfish based?"}]
    listing = _mentor("runs", "list").stdout
    assert "tuned" in listing and "succeeded" in listing
    one = _mentor("generate", "--run", "tuned", "--prompt", "Who founded Lanternfish Robotics?", "--max-new-tokens", "24")
    assert one.stdout.strip()
    chat = subprocess.run([sys.executable, "-m", "mentor", "chat", "--run", "tuned", "--max-new-tokens", "16"],
                          input="Who founded Lanternfish Robotics?\nAnd when?\n\n", capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.count("mentor>") == 2 and "Lanternfish" in chat.stdout


def test_streaming_yields_the_same_text_as_generate(tuned_run):
    ws, _ = tuned_run
    from mentor.generation import stream

    lm = load_for_inference(run="tuned", workspace=ws)
    conv = Conversation((Message("user", "What is the GW-3?"),))
    options = GenerationOptions(max_new_tokens=20)
    pieces = list(stream(lm, conv, options))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == generate(lm, [conv], options)[0]
