"""Shared fixtures: one de-quantised model cache per test session, a fresh workspace per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = REPO / "examples" / "data" / "lanternfish.jsonl"
MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """De-quantising the embedded GGUF takes ~20 s: do it once per session (or reuse MENTOR_MODEL_CACHE)."""
    cache = Path(os.environ.get("MENTOR_MODEL_CACHE") or tmp_path_factory.mktemp("models"))
    os.environ["MENTOR_MODEL_CACHE"] = str(cache)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return cache


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
