"""The CLI as a user runs it: clear one-sentence errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import FIXTURES, SAMPLE


def _mentor(*args):
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "mentor", *args], capture_output=True, text=True, timeout=600, env=env)


def test_data_check_reports_lines_and_exits_1():
    proc = _mentor("data", "check", str(FIXTURES / "broken.jsonl"), "--max-length", "256")
    assert proc.returncode == 1
    out = " ".join(proc.stdout.split())
    assert "broken.jsonl:4: messages[0].role: unknown role 'narrator'" in out
    assert "broken.jsonl:7: duplicate of the example on line 1" in out
    assert "6 error(s)" in out


def test_data_check_good_file_json_stats():
    proc = _mentor("data", "check", str(SAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["examples"] == 76 and stats["errors"] == 0 and stats["format"] == "openai"
    assert stats["tokens_per_epoch"] > 76 * 30 and stats["estimated_seconds_per_epoch"] > 0
    assert set(stats["token_lengths"]) == {"min", "p50", "p90", "p99", "max"}


def test_data_prepare_writes_split_and_registers_it(tmp_path, workspace):
    proc = _mentor("data", "prepare", str(SAMPLE), "--out", str(tmp_path / "prepared"))
    assert proc.returncode == 0, proc.stderr
    (registered,) = workspace.list_datasets()
    assert registered["name"] == "prepared" and registered["format"] == "openai"
    stats = json.loads((tmp_path / "prepared" / "stats.json").read_text())
    assert stats["train"] + stats["validation"] == 76 - stats["near_duplicates"] - stats["exact_duplicates"]
    assert (tmp_path / "prepared" / "validation.jsonl").exists()


def test_models_list_shows_aliases_and_parameters():
    proc = _mentor("models", "list")
    assert proc.returncode == 0, proc.stderr
    assert "smollm2-135m-instruct" in proc.stdout and "minilm-l6" in proc.stdout
    assert "134.5M" in proc.stdout and "22.7M" in proc.stdout


def test_errors_are_one_sentence_without_traceback(tmp_path):
    cases = [
        (("train", "--data", str(tmp_path / "missing.jsonl")), "does not exist"),
        (("train", "--data", str(SAMPLE), "--model", "no-such-model"), "Unknown model 'no-such-model'"),
        (("train", "--data", str(FIXTURES / "broken.jsonl")), "6 problem(s) in"),
        (("train", "--resume", "nope"), "Unknown run 'nope'"),
        (("generate", "--prompt", "hi", "--data", "x"), "exactly one of --prompt"),
        (("generate", "--model", "no-org/no-such-model", "--prompt", "hi"), "Could not load 'no-org/no-such-model' from the Hugging Face Hub"),
    ]
    for args, message in cases:
        proc = _mentor(*args)
        assert proc.returncode != 0, args
        err = " ".join(proc.stderr.split())
        assert message in err, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_advise_and_memory_from_flags():
    proc = _mentor("advise", "--changes-often", "--cite", "--style", "--examples", "800", "--params", "7B",
                   "--gpu-mem", "24", "--lang", "both")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "Recommended: rag + fine-tune (lora)" in out and "数据经常变化" in out and "mentor kb create docs" in out
    proc = _mentor("advise", "memory", "--params", "65B", "--method", "qlora", "--batch-size", "1", "--gpu-mem", "48")
    assert proc.returncode == 0, proc.stderr
    assert "fits in 48 GB" in proc.stdout
    proc = _mentor("advise", "memory", "--method", "lora")
    assert proc.returncode == 2 and "exactly one of --params" in proc.stderr


def test_quantize_then_generate_and_export_refusal(tmp_path):
    proc = _mentor("quantize", "smollm2-135m-instruct", "--to", "int8", "--out", str(tmp_path / "q8"))
    assert proc.returncode == 0, proc.stderr
    proc = _mentor("generate", "--model", str(tmp_path / "q8"), "--prompt", "What is the capital of France?",
                   "--max-new-tokens", "16")
    assert proc.returncode == 0, proc.stderr
    assert "Paris" in proc.stdout
    proc = _mentor("export", str(tmp_path / "q8"), "--format", "gguf", "--out", str(tmp_path / "g"))
    assert proc.returncode != 0 and "already quantised" in " ".join(proc.stderr.split())
    assert not (tmp_path / "g").exists()
