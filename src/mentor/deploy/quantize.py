"""`mentor quantize`: smaller, faster model folders for inference.

- ``int8`` (CPU): weight-only int8, one scale per output channel, run by torch's packed int8 CPU matmul
  with bf16 activations. (Dynamic int8 — activations quantised too — is faster on paper but multiplied
  SmolLM2's perplexity by 3: the MLP down-projection's inputs have outliers.) On CUDA: bitsandbytes
  LLM.int8().
- ``int4`` (CPU): weight-only int4 in groups of 32 (scale and zero point per group, like GGUF q4_0),
  run by torch's packed int4 CPU matmul; activations stay float.
- ``nf4``: bitsandbytes NF4 with double quantisation (CUDA, or bitsandbytes' CPU backend).

The int8/int4 folders hold ``config.json``, the tokenizer, ``model.safetensors`` (integer weights +
scales, other tensors as they were) and ``mentor-quant.json``; ``load_causal_lm`` recognises them, so
every command (generate, evaluate, serve) takes a quantised folder like any model. bitsandbytes folders
are plain transformers folders with a ``quantization_config``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from torch import nn

from mentor.errors import MentorError
from mentor.files import atomic_dir
from mentor.models.quantized import QUANT_FILE
from mentor.workspace import Workspace

SCHEMES = ("int8", "int4", "nf4")
GROUP_SIZE = 32


def quantize_int8(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127
    return {"weight_int8": (weight / scale[:, None]).round().clamp(-127, 127).to(torch.int8),
            "weight_scale": scale.float()}


def quantize_int4(weight: torch.Tensor, group_size: int = GROUP_SIZE) -> dict[str, torch.Tensor]:
    """Asymmetric 4-bit per group: w ~ (q - 8) * scale + zero with q in 0..15; two values per byte."""
    rows, cols = weight.shape
    groups = weight.float().reshape(rows, cols // group_size, group_size)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    scale = (high - low).clamp(min=1e-8) / 15
    q = ((groups - low) / scale).round().clamp(0, 15).to(torch.uint8).reshape(rows, cols)
    zero = low + 8 * scale
    scales_zeros = torch.cat([scale, zero], dim=-1).transpose(0, 1).contiguous()  # (groups, rows, 2)
    return {"weight_int4": q[:, 0::2] | (q[:, 1::2] << 4), "weight_scales_zeros": scales_zeros}


def _linears(model) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def quantize(name: str, scheme: str, out: str | Path, device: str = "cpu", workspace: Workspace | None = None) -> Path:
    """Quantise a run (merged first) or a model into the new folder ``out``."""
    from mentor.deploy.export import check_new_folder, find_source, merged_model, write_manifest

    ws = workspace or Workspace()
    out = Path(out)
    if scheme not in SCHEMES:
        raise MentorError(f"--to '{scheme}' is not one of {', '.join(SCHEMES)}.")
    if scheme == "int4" and device != "cpu":
        raise MentorError("--to int4 is the CPU weight-only format; on CUDA use --to nf4 (bitsandbytes).")
    check_new_folder(out)
    source = find_source(name, ws)
    model, tokenizer = merged_model(source, ws)
    with atomic_dir(out) as tmp:
        if scheme == "nf4" or device != "cpu":
            _save_bitsandbytes(model, tokenizer, scheme, device, tmp)
        else:
            _save_integer(model, tokenizer, scheme, tmp)
        write_manifest(tmp, source, "quantized", scheme)
    return out


def _save_integer(model, tokenizer, scheme: str, folder: Path) -> None:
    from safetensors.torch import save_file

    linears = _linears(model)
    embeddings = [name for name, module in model.named_modules() if isinstance(module, nn.Embedding)]
    state = {}
    for name, tensor in model.state_dict().items():
        module, _, kind = name.rpartition(".")
        if module in embeddings:
            state.update({f"{module}.{key}": value for key, value in quantize_int8(tensor).items()})
        elif module in linears and kind == "weight":
            if tensor.shape[1] % GROUP_SIZE and scheme == "int4":
                raise MentorError(f"{module} has {tensor.shape[1]} inputs, not a multiple of {GROUP_SIZE}: "
                                  "use --to int8.")
            packed = quantize_int8(tensor) if scheme == "int8" else quantize_int4(tensor)
            state.update({f"{module}.{key}": value for key, value in packed.items()})
        else:
            state[name] = tensor.detach().clone().contiguous()  # tied weights are separate tensors on disk
    model.config.tie_word_embeddings = False  # lm_head is quantised on its own
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / QUANT_FILE).write_text(json.dumps({"scheme": scheme, "group_size": GROUP_SIZE, "modules": linears,
                                                            "embeddings": embeddings}, indent=2))


def _save_bitsandbytes(model, tokenizer, scheme: str, device: str, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise MentorError(f"--to {scheme} with bitsandbytes needs it installed: pip install 'mentor[qlora]'.") from e
    config = (BitsAndBytesConfig(load_in_8bit=True) if scheme == "int8" else
              BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                 bnb_4bit_compute_dtype=torch.bfloat16))
    with tempfile.TemporaryDirectory(dir=folder.parent) as full:  # bitsandbytes quantises while loading
        model.save_pretrained(full)
        quantised = AutoModelForCausalLM.from_pretrained(full, quantization_config=config, device_map=device,
                                                         dtype=torch.bfloat16)
        quantised.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


