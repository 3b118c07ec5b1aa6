"""`mentor export`: a run (or any model) as what a serving stack loads — HF folder, PEFT adapter, or GGUF.

Every export is written to a temporary folder and renamed into place, and carries
``export-manifest.json``: source, method, base model, format, quantisation and a SHA-256 per file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mentor.errors import MentorError
from mentor.files import atomic_dir
from mentor.workspace import Workspace

FORMATS = ("hf", "adapter", "gguf")
HF_DTYPES = ("f32", "f16", "bf16")
MANIFEST = "export-manifest.json"


@dataclass(frozen=True)
class Source:
    """What is exported: a run's trained artifact, or a plain model (alias, folder, hub id)."""

    name: str
    artifact: Path | None  # the run's adapter/ or model/ folder; None for a plain model
    method: str
    base_model: str


def check_new_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise MentorError(f"--out {out} exists and is not empty; choose a new folder.")


def find_source(name: str, workspace: Workspace) -> Source:
    from mentor.methods.artifact import artifact_dir, read_method

    try:
        run_dir = workspace.run_path(name)
    except MentorError:
        from mentor.models.quantized import quantization_of

        if quantization_of(Path(name)):
            raise MentorError(f"'{name}' is already quantised: export or quantise the original model or run.") from None
        return Source(name, None, "none", name)  # not a run: a model name, checked when loaded
    folder = artifact_dir(run_dir)
    if folder is None:
        raise MentorError(f"Run '{name}' has no trained model yet (no adapter/ or model/ folder in {run_dir}).")
    method, _, base = read_method(folder)
    return Source(name, folder, method.name, base)


def merged_model(source: Source, workspace: Workspace):
    """(model, tokenizer): the tuning folded into the base weights; QLoRA onto the full-precision base.
    The generation config's EOS list holds every token that ends an assistant turn."""
    from mentor.models import load_causal_lm, load_tokenizer
    from mentor.inference.decode import stop_token_ids
    from mentor.methods.artifact import load_artifact, merge, read_method

    if source.artifact is None:
        tokenizer = load_tokenizer(source.name, workspace)
        model = load_causal_lm(source.name, workspace)
    else:
        method, _, _ = read_method(source.artifact)
        if not method.mergeable:  # fail before loading anything
            merge(None, method)
        tokenizer = load_tokenizer(str(source.artifact), workspace)
        model = merge(load_artifact(source.artifact, workspace, dequantize=True, tokenizer=tokenizer), method)
    stops = sorted(stop_token_ids(tokenizer) - {tokenizer.eos_token_id})
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, *stops] if stops else tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def export(name: str, fmt: str, out: str | Path, quantize: str | None = None,
           workspace: Workspace | None = None) -> Path:
    """Write ``name`` (run or model) as ``fmt`` into the new folder ``out``; returns ``out``."""
    ws = workspace or Workspace()
    out = Path(out)
    if fmt not in FORMATS:
        raise MentorError(f"--format '{fmt}' is not one of {', '.join(FORMATS)}.")
    check_new_folder(out)
    source = find_source(name, ws)
    with atomic_dir(out) as tmp:
        if fmt == "adapter":
            quantization = _write_adapter(source, tmp, quantize)
        elif fmt == "hf":
            quantization = _write_hf(source, ws, tmp, quantize)
        else:
            quantization = _write_gguf(source, ws, tmp, quantize)
        write_manifest(tmp, source, fmt, quantization)
    return out


def _write_adapter(source: Source, folder: Path, quantize: str | None) -> str:
    from mentor.methods.artifact import read_method

    if quantize:
        raise MentorError("--quantize does not apply to --format adapter (the adapter is small; quantise the base).")
    if source.artifact is None:
        raise MentorError(f"'{source.name}' is a model, not a run: it has no adapter. Use --format hf or gguf.")
    method, _, _ = read_method(source.artifact)
    if method.storage != "peft":
        why = ("a full fine-tune is a whole model" if method.storage == "full"
               else f"method '{method.name}' stores its own weights, not a PEFT adapter")
        raise MentorError(f"Run '{source.name}' has no PEFT adapter to export: {why}. Use --format hf "
                          "(merged model) instead.")
    for item in source.artifact.iterdir():
        if item.is_file():
            shutil.copy2(item, folder / item.name)
    return "none"


def _write_hf(source: Source, ws: Workspace, folder: Path, quantize: str | None) -> str:
    import torch

    dtype = quantize or "f32"
    if dtype not in HF_DTYPES:
        raise MentorError(f"--format hf takes --quantize {', '.join(HF_DTYPES)}; for {dtype} use "
                          "`mentor quantize` (int8/nf4 models) or --format gguf (q8_0/q4_0 files).")
    model, tokenizer = merged_model(source, ws)
    model = model.to({"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return dtype


def _write_gguf(source: Source, ws: Workspace, folder: Path, quantize: str | None) -> str:
    from mentor.deploy.gguf_writer import GGUF_TYPES, write_gguf

    qtype = quantize or "f16"
    if qtype not in GGUF_TYPES:
        raise MentorError(f"--format gguf takes --quantize {', '.join(GGUF_TYPES)}, not '{qtype}'.")
    model, tokenizer = merged_model(source, ws)
    file = f"model-{qtype}.gguf"
    write_gguf(model, tokenizer, folder / file, qtype, name=Path(source.name).name)
    (folder / "Modelfile").write_text(modelfile(file, tokenizer), encoding="utf-8")
    return qtype


def modelfile(gguf_file: str, tokenizer) -> str:
    """An Ollama Modelfile: the GGUF, the chat format as Ollama's template, and the turn-ending stops."""
    template = tokenizer.chat_template or ""
    lines = [f"FROM ./{gguf_file}", ""]
    if "<|im_start|>" in template:  # ChatML (SmolLM2, Qwen2)
        lines += ['TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}',
                  '{{ .Content }}<|im_end|>', '{{ end }}<|im_start|>assistant', '"""',
                  'PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|im_start|>"']
    elif "<|start_header_id|>" in template:  # Llama 3
        lines += ['TEMPLATE """{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>',
                  '', '{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>', '', '"""',
                  'PARAMETER stop "<|eot_id|>"']
    else:
        lines += ["# The chat template is in the GGUF metadata (tokenizer.chat_template); Ollama reads it from there."]
    lines += ["PARAMETER temperature 0.7", ""]
    return "\n".join(lines)


def write_manifest(folder: Path, source: Source, fmt: str, quantization: str) -> None:
    from mentor import __version__

    files = {str(path.relative_to(folder)): {"sha256": _sha256(path), "bytes": path.stat().st_size}
             for path in sorted(p for p in folder.rglob("*") if p.is_file())}
    manifest = {
        "source": source.name, "source_artifact": str(source.artifact) if source.artifact else None,
        "method": source.method, "base_model": source.base_model, "format": fmt, "quantization": quantization,
        "mentor_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")


def verify(folder: str | Path) -> list[str]:
    """Files whose checksum no longer matches the manifest (empty when the export is intact)."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    bad = []
    for name, info in manifest["files"].items():
        path = folder / name
        if not path.exists() or _sha256(path) != info["sha256"]:
            bad.append(name)
    return bad


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
