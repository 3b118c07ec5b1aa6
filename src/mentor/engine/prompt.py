"""Prompt engineering: role, task, scene, boundaries, requirements, style, few-shot examples and a reasoning
instruction rendered into the conversation a flow sends to the model."""

from __future__ import annotations

from mentor.data.conversation import Conversation, Message
from mentor.engine.config import PromptConfig

_PARTS = ("role", "task", "scene", "boundaries", "requirements", "style")
_LABELS = {"en": {"task": "Task", "scene": "Scene", "boundaries": "Boundaries", "requirements": "Requirements",
                  "style": "Style"},
           "zh": {"task": "任务", "scene": "场景", "boundaries": "边界", "requirements": "要求", "style": "风格"}}
_REASONING = {
    "step_by_step": {"en": "Think step by step before you answer.", "zh": "先一步一步地思考，再回答。"},
    "chain_of_thought": {"en": "First write your reasoning after 'Reasoning:', then the final answer after 'Answer:'.",
                         "zh": "先在“推理：”后写出推理过程，再在“答案：”后给出最终答案。"},
}


def system_text(prompt: PromptConfig, lang: str = "en") -> str:
    """The system turn: the role as written, then each other part on its own labelled line."""
    labels = _LABELS["zh" if lang == "zh" else "en"]
    lines = []
    for part in _PARTS:
        value = getattr(prompt, part)
        if value:
            lines.append(value.strip() if part == "role" else f"{labels[part]}: {value.strip()}")
    if prompt.reasoning != "none":
        lines.append(_REASONING[prompt.reasoning]["zh" if lang == "zh" else "en"])
    return "\n".join(lines)


def render(prompt: PromptConfig, messages: list[Message], lang: str = "en", extra_system: str = "") -> Conversation:
    """System turn, few-shot pairs, then the conversation (its own system turns join the app's)."""
    system = "\n\n".join(s for s in [system_text(prompt, lang), extra_system,
                                      *(m.content for m in messages if m.role == "system")] if s)
    turns = [Message("system", system)] if system else []
    for ex in prompt.examples:
        turns += [Message("user", ex.user), Message("assistant", ex.assistant)]
    turns += [m for m in messages if m.role != "system"]
    return Conversation(tuple(turns))


def split_answer(text: str) -> str:
    """The final answer of a chain-of-thought reply (after 'Answer:' / '答案：'), else the whole reply."""
    for marker in ("Answer:", "答案：", "答案:"):
        if marker in text:
            return text.rsplit(marker, 1)[1].strip()
    return text
