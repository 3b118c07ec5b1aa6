"""The one internal example type every input format is normalised to."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str  # one of ROLES
    content: str


@dataclass(frozen=True)
class Conversation:
    """A chat (``messages``) or, for continued pre-training, a plain ``text``.

    ``line`` is the 1-based line in the source file where the example starts (for errors).
    """

    messages: tuple[Message, ...] = ()
    text: str | None = None
    line: int = 0
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_text(self) -> bool:
        return self.text is not None

    def to_json(self) -> dict:
        """The normalised JSONL form: OpenAI chat ``messages``, or ``text``."""
        if self.is_text:
            return {"text": self.text}
        return {"messages": [{"role": m.role, "content": m.content} for m in self.messages]}

    def fingerprint(self) -> str:
        """Content hash used for exact-duplicate detection and deterministic splits."""
        return hashlib.sha256(json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True).encode()).hexdigest()

    def plain(self) -> str:
        """All text of the example, for near-duplicate detection and statistics."""
        if self.is_text:
            return self.text or ""
        return "\n".join(m.content for m in self.messages)

    def prompt_and_reference(self) -> tuple[Conversation, str | None]:
        """Split off the last assistant turn: (conversation up to it, its content)."""
        msgs = list(self.messages)
        if msgs and msgs[-1].role == "assistant":
            return Conversation(tuple(msgs[:-1]), line=self.line, meta=self.meta), msgs[-1].content
        return self, None
