"""What an app generates with: a small protocol with two implementations, the library's own models here
(:class:`LocalGenerator`, for the CLI and Python) and the server's batching engine (``mentor.serve``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from mentor.data.conversation import Conversation
from mentor.generation import GenerationOptions
from mentor.workspace import Workspace


class Generator(Protocol):
    def stream(self, model: str, conversation: Conversation, options: GenerationOptions) -> Iterator[str]:
        """The reply's text pieces as they are generated."""

    def tokenizer(self, model: str):
        """The model's tokenizer (for token counts)."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LocalGenerator:
    """Models loaded in this process, once each (an alias, a run name or a model folder)."""

    def __init__(self, workspace: Workspace | None = None, device: str = "cpu"):
        self.ws, self.device = workspace or Workspace(), device
        self._loaded: dict[str, object] = {}

    def _model(self, model: str):
        from mentor.generation import load_run_or_model

        if model not in self._loaded:
            self._loaded[model] = load_run_or_model(model, self.ws, self.device)
        return self._loaded[model]

    def stream(self, model: str, conversation: Conversation, options: GenerationOptions) -> Iterator[str]:
        from mentor.generation import stream

        return stream(self._model(model), conversation, options)

    def tokenizer(self, model: str):
        return self._model(model).tokenizer


def complete(generator: Generator, model: str, conversation: Conversation, options: GenerationOptions,
             usage: Usage | None = None) -> str:
    """The whole reply, counting tokens into ``usage``."""
    return "".join(counted(generator, model, conversation, options, usage)).strip()


def counted(generator: Generator, model: str, conversation: Conversation, options: GenerationOptions,
            usage: Usage | None) -> Iterator[str]:
    """``generator.stream`` with the prompt's and the reply's tokens added to ``usage`` as it runs."""
    from mentor.data.template import render_prompt

    text = ""
    for piece in generator.stream(model, conversation, options):
        text += piece
        yield piece
    if usage is not None:
        tok = generator.tokenizer(model)
        usage.prompt_tokens += len(tok(render_prompt(conversation, tok), add_special_tokens=False)["input_ids"])
        usage.completion_tokens += len(tok(text, add_special_tokens=False)["input_ids"])
