"""Checkpoints for resuming: trainable weights (safetensors), optimizer, scheduler, loop position."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from mentor.files import atomic_dir
from mentor.methods.artifact import load_trainable, trainable_state


@dataclass
class LoopState:
    """Where the loop stands after ``step`` optimizer steps."""

    step: int = 0
    epoch: int = 0
    batches_done: int = 0  # micro-batches of ``epoch`` already consumed
    tokens: int = 0  # supervised tokens seen
    elapsed: float = 0.0  # seconds of training so far


def save_checkpoint(run_dir: Path, model, optimizer, scheduler, state: LoopState, keep: int) -> Path:
    target = run_dir / "checkpoints" / f"step-{state.step:06d}"
    with atomic_dir(target) as tmp:
        save_file(trainable_state(model), tmp / "trainable.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(torch.get_rng_state(), tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(asdict(state)))
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(run_dir: Path) -> list[Path]:
    root = run_dir / "checkpoints"
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith("step-") and (p / "state.json").exists())


def load_checkpoint(path: Path, model, optimizer, scheduler) -> LoopState:
    load_trainable(model, path / "trainable.safetensors")
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    torch.set_rng_state(torch.load(path / "rng.pt", weights_only=True))
    return LoopState(**json.loads((path / "state.json").read_text()))
