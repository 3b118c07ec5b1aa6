"""Prompt tuning (Lester et al. 2021): trainable virtual-token embeddings before the input.

``init_text`` starts the virtual tokens from the embeddings of a text (repeated to fill them),
which trains faster and steadier than random vectors.
"""

from __future__ import annotations

import torch
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from mentor.methods.base import Method

VIRTUAL_TOKENS_NOT_MERGEABLE = "its virtual tokens are extra inputs, not a change to the weights"


@dataclass(config=ConfigDict(extra="forbid"))
class PromptOptions:
    num_virtual_tokens: int = 20
    init_text: str | None = None


def build(model, options: PromptOptions, tokenizer=None):
    from peft import PromptTuningConfig, get_peft_model

    peft_model = get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM",
                                                          num_virtual_tokens=options.num_virtual_tokens))
    if options.init_text and tokenizer is not None:
        ids = tokenizer(options.init_text, add_special_tokens=False)["input_ids"]
        ids = (ids * (options.num_virtual_tokens // max(len(ids), 1) + 1))[:options.num_virtual_tokens]
        embeddings = model.get_input_embeddings().weight  # (V, H)
        with torch.no_grad():
            peft_model.prompt_encoder["default"].embedding.weight.copy_(embeddings[torch.tensor(ids)])
    return peft_model


METHOD = Method("prompt", PromptOptions, build, "trainable soft-prompt embeddings (optional init from text)",
                prompt_learning=True, learning_rate=3e-2, not_mergeable_because=VIRTUAL_TOKENS_NOT_MERGEABLE)
