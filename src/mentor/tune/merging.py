"""Merge a run's tuning into its base model and write a plain model folder."""

from __future__ import annotations

from pathlib import Path

from mentor.errors import MentorError
from mentor.files import atomic_dir
from mentor.models import load_tokenizer
from mentor.tune.artifact import artifact_dir, load_artifact, merge, read_method
from mentor.workspace import Workspace


def merge_run(run: str, out: str | Path, workspace: Workspace | None = None) -> Path:
    """Merged safetensors model + tokenizer + chat template; QLoRA merges onto the full-precision base."""
    ws = workspace or Workspace()
    run_dir = ws.run_path(run)
    folder = artifact_dir(run_dir)
    if folder is None:
        raise MentorError(f"Run '{run}' has no trained model to merge yet.")
    method, _, _ = read_method(folder)
    if not method.mergeable:  # fail before loading anything
        merge(None, method)
    tokenizer = load_tokenizer(str(folder), ws)
    model = merge(load_artifact(folder, ws, dequantize=True, tokenizer=tokenizer), method)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    with atomic_dir(Path(out)) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out)
