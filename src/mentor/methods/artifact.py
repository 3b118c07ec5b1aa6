"""A run's trained artifact: saved by its method's storage kind, loaded back, merged where possible.

Every artifact folder holds ``method.json`` (method, options, base model) and the tokenizer with
its chat template, next to the weights (see ``methods.base.STORAGE``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors.torch import load_file, save_file

from mentor.errors import MentorError
from mentor.files import atomic_dir
from mentor.methods import Method, get_method, parse_options
from mentor.models import load_causal_lm
from mentor.workspace import Workspace

if TYPE_CHECKING:
    import torch

ARTIFACT_DIRS = ("adapter", "model")  # "model" for full fine-tuning, "adapter" for everything else


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, file: Path) -> None:
    """Put saved trained tensors back into a freshly built model; every trainable tensor must be there."""
    weights = load_file(file)
    missing = set(trainable_state(model)) - set(weights)
    if missing:
        raise MentorError(f"{file} does not match the model: {len(missing)} trained tensors missing "
                          f"(e.g. {sorted(missing)[0]}).")
    model.load_state_dict(weights, strict=False)


def artifact_dir(run_dir: Path) -> Path | None:
    for name in ARTIFACT_DIRS:
        if (run_dir / name / "method.json").exists():
            return run_dir / name
    return None


INITIAL_ADAPTER = "adapter-init"  # PiSSA/OLoRA: the adapter before training, for conversion at save time


def keep_initial_adapter(run_dir: Path, model) -> None:
    """PiSSA and OLoRA also rewrite the base weights they start from; peft can turn the trained adapter
    into a plain LoRA for the untouched base if it has the initial adapter. Save it before training."""
    config = getattr(model, "peft_config", {}).get("default")
    init = getattr(config, "init_lora_weights", True)
    if not isinstance(init, str) or not init.startswith(("pissa", "olora")) or (run_dir / INITIAL_ADAPTER).exists():
        return
    config.init_lora_weights = True  # saved as a plain LoRA init, as peft's conversion expects
    with atomic_dir(run_dir / INITIAL_ADAPTER) as tmp:
        model.save_pretrained(tmp)
    config.init_lora_weights = init


def save_artifact(run_dir: Path, model, method: Method, options, tokenizer, base_model: str) -> Path:
    target = run_dir / ("model" if method.storage == "full" else "adapter")
    with atomic_dir(target) as tmp:
        if method.storage == "weights":
            save_file(trainable_state(model), tmp / "trainable.safetensors")
        elif (run_dir / INITIAL_ADAPTER).exists():  # PiSSA/OLoRA -> LoRA on the original base (rank doubles)
            model.save_pretrained(tmp, path_initial_model_for_weight_conversion=str(run_dir / INITIAL_ADAPTER))
        else:  # peft adapter folder, or a complete model folder
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "method.json").write_text(json.dumps({"method": method.name, "options": asdict(options),
                                                     "base_model": base_model}, ensure_ascii=False, indent=2))
    return target


def read_method(folder: Path) -> tuple[Method, object, str]:
    info = json.loads((folder / "method.json").read_text())
    method = get_method(info["method"])
    return method, parse_options(method, info["options"], str(folder / "method.json")), info["base_model"]


def load_artifact(folder: Path, workspace: Workspace | None = None, base_model: str | None = None,
                  trust_remote_code: bool = False, dequantize: bool = False, tokenizer=None, device: str = "cpu"):
    """The base model with the trained artifact applied (``dequantize``: QLoRA onto a full-precision base)."""
    method, options, saved_base = read_method(folder)
    if method.storage == "full":
        return load_causal_lm(str(folder), workspace, trust_remote_code=trust_remote_code, device=device)
    extra = {} if dequantize else method.load_kwargs(options)
    base = load_causal_lm(base_model or saved_base, workspace, trust_remote_code=trust_remote_code, device=device,
                          **extra)
    if method.storage == "peft":
        from peft import PeftModel

        return PeftModel.from_pretrained(base, folder, is_trainable=False)
    model = method.build(base, options, tokenizer)
    load_trainable(model, folder / "trainable.safetensors")
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def continue_from(model, folder: Path) -> None:
    """Put a finished run's trained weights into ``model``, freshly built by the same method and options, so
    training continues from them (``mentor train --from RUN``). A full run's weights are loaded as the model."""
    method, _, _ = read_method(folder)
    if method.storage == "peft":
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, load_file(folder / "adapter_model.safetensors"))
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k or "modules_to_save" in k]
        if missing:
            raise MentorError(f"{folder}: the adapter does not match the model ({len(missing)} tensors missing, "
                              f"e.g. {missing[0]}).")
    elif method.storage == "weights":
        load_trainable(model, folder / "trainable.safetensors")


def merge(model, method: Method):
    """A plain transformers model with the tuning folded into its weights."""
    if not method.mergeable:
        raise MentorError(f"Method '{method.name}' cannot be merged: {method.not_mergeable_because}. "
                          "Serve it with its base model and adapter instead.")
    if method.storage == "peft":
        return model.merge_and_unload()
    return model  # full / freeze: the trained weights already are the model's weights
