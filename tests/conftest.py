"""Shared fixtures: one de-quantised model cache per test session, a fresh workspace per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = REPO / "examples" / "data" / "lanternfish.jsonl"
# The embedded default; MENTOR_TEST_MODEL names another folder with its architecture and tokenizer
# (on a lent GPU machine, where no weights can be fetched, a random-weight copy).
MODEL = os.environ.get("MENTOR_TEST_MODEL", "smollm2-135m-instruct")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """De-quantising the embedded GGUF takes ~20 s: do it once per session (or reuse MENTOR_MODEL_CACHE)."""
    cache = Path(os.environ.get("MENTOR_MODEL_CACHE") or tmp_path_factory.mktemp("models"))
    os.environ["MENTOR_MODEL_CACHE"] = str(cache)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return cache


@pytest.fixture(autouse=True)
def free_native_generators():
    """ctranslate2 generators live until closed (mentor.inference.backends): free them after each test, here on
    the main thread, so one test's converted models do not stay in memory for the rest of the session (a
    subprocess forked from a large test process inherits its peak RSS: tests/smoke/test_deploy.py measures one)."""
    yield
    import sys

    if "mentor.inference.backends" in sys.modules:
        sys.modules["mentor.inference.backends"].close_all()


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    from mentor.workspace import Workspace

    home = tmp_path / "home"
    monkeypatch.setenv("MENTOR_HOME", str(home))
    return Workspace(home)


@pytest.fixture(scope="session")
def tokenizer(model_cache):
    from mentor.models import load_tokenizer
    from mentor.workspace import Workspace

    return load_tokenizer(MODEL, Workspace(model_cache.parent / "tokenizer-home"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tokenizer):
    """SmolLM2's architecture and tokenizer at 2 layers x 64 hidden: every method trains in seconds."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from mentor.models import resolve

    source = resolve(MODEL)
    config = AutoConfig.from_pretrained(source.location)
    config.update({"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "head_dim": 16, "initializer_range": 0.5})  # varied greedy tokens
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    folder = tmp_path_factory.mktemp("tiny-smollm2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
