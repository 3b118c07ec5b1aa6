"""What `mentor models list` shows: aliases, where they load from, parameter counts."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path

from mentor.errors import MentorError
from mentor.models.aliases import ALIASES
from mentor.workspace import Workspace


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str
    source: str
    cached: str | None
    parameters: int | None
    description: str


def list_models(workspace: Workspace | None = None) -> list[ModelInfo]:
    """Aliases plus parameter counts read from file headers (no weights are loaded)."""
    ws = workspace or Workspace()
    out = []
    for alias in ALIASES.values():
        try:
            source = alias.source()
        except MentorError:
            out.append(ModelInfo(alias.name, alias.kind, "not installed", None, None, alias.description))
            continue
        cache = ws.models_dir / alias.name
        cached = str(cache) if (cache / "model.safetensors").exists() else None
        counted = cache if cached and source.suffix == ".bin" else source  # a packed image: count its conversion
        out.append(ModelInfo(alias.name, alias.kind, str(source), cached, _count_parameters(counted),
                             alias.description))
    return out


def _count_parameters(path: Path) -> int | None:
    if path.suffix == ".gguf":
        import gguf

        return sum(int(prod(int(d) for d in t.shape)) for t in gguf.GGUFReader(path).tensors)
    total = 0
    for file in sorted(path.rglob("*.safetensors")):
        with open(file, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        total += sum(prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    return total or None
