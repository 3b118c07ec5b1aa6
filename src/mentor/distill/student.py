"""A student built from the teacher (DistilBERT-style): N of its layers, evenly spaced, with their weights."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import torch

from mentor.errors import MentorError
from mentor.files import atomic_dir

_LAYER = re.compile(r"^(.*\.layers\.)(\d+)(\..*)$")


def layer_indices(total: int, keep: int) -> list[int]:
    """``keep`` layer numbers out of ``total``, evenly spaced, always the first and the last."""
    if not 1 <= keep <= total:
        raise MentorError(f"--student-layers must be between 1 and the teacher's {total} layers (got {keep}).")
    if keep == 1:
        return [total - 1]
    return [round(i * (total - 1) / (keep - 1)) for i in range(keep)]


def build_student(teacher: torch.nn.Module, keep: int) -> tuple[torch.nn.Module, list[int]]:
    """A model of the teacher's architecture with ``keep`` of its decoder layers, initialised from them
    (embeddings, final norm and head copied as they are)."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(teacher.config)
    chosen = layer_indices(config.num_hidden_layers, keep)
    config.num_hidden_layers = keep
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in chosen]
    student = AutoModelForCausalLM.from_config(config, dtype=next(teacher.parameters()).dtype)
    source = teacher.state_dict()
    state = {}
    for name in student.state_dict():
        match = _LAYER.match(name)
        state[name] = source[f"{match[1]}{chosen[int(match[2])]}{match[3]}" if match else name]
    student.load_state_dict(state)
    if getattr(student.config, "tie_word_embeddings", False):
        student.tie_weights()
    return student, chosen


def save_student(student, tokenizer, folder: Path) -> Path:
    with atomic_dir(folder) as tmp:
        student.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return folder
