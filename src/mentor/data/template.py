"""Tokenise conversations with the model's chat template and build the loss mask.

By default only assistant tokens are learned (labels elsewhere are -100), and every assistant
turn is closed by the tokenizer's EOS token, so the tuned model knows when to stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from mentor.data.conversation import Conversation
from mentor.errors import DataError

IGNORE_INDEX = -100
TRAIN_ON = ("assistant", "all")

# Used only when a tokenizer ships without a chat template (base models).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False

    @property
    def trained_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE_INDEX)


def ensure_chat_template(tokenizer) -> None:
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE


def render_prompt(conv: Conversation, tokenizer) -> str:
    """The conversation as the model sees it, ending with the assistant generation prompt."""
    ensure_chat_template(tokenizer)
    return tokenizer.apply_chat_template(_dicts(conv.messages), tokenize=False, add_generation_prompt=True)


def encode(conv: Conversation, tokenizer, max_length: int, train_on: str = "assistant") -> Encoded:
    """Token ids and labels for one example, truncated to ``max_length`` tokens."""
    if train_on not in TRAIN_ON:
        raise DataError(f"Unknown train_on '{train_on}' (expected one of {', '.join(TRAIN_ON)}).")
    eos_id = tokenizer.eos_token_id
    if conv.is_text:
        ids = tokenizer(conv.text, add_special_tokens=False)["input_ids"] + [eos_id]
        return _truncate(ids, list(ids), max_length)
    ensure_chat_template(tokenizer)
    full, spans = _assistant_spans(conv, tokenizer)
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    input_ids: list[int] = []
    labels: list[int] = []
    span_iter = iter(spans)
    span = next(span_iter, None)
    for tok, (start, end) in zip(ids, offsets, strict=True):
        while span is not None and start >= span[1]:
            if not span[2]:  # the template did not close the turn with EOS: add it
                input_ids.append(eos_id)
                labels.append(eos_id)
            span = next(span_iter, None)
        # overlap, not containment: byte-level BPE glues the space before a reply to its first word
        inside = span is not None and start < span[1] and max(end, start + 1) > span[0]
        input_ids.append(tok)
        labels.append(tok if inside or train_on == "all" else IGNORE_INDEX)
    if span is not None and not span[2]:
        input_ids.append(eos_id)
        labels.append(eos_id)
    return _truncate(input_ids, labels, max_length)


def _assistant_spans(conv: Conversation, tokenizer) -> tuple[str, list[tuple[int, int, bool]]]:
    """Render the chat; return it with (start, end, has_eos) character spans of assistant replies."""
    msgs = _dicts(conv.messages)
    full = tokenizer.apply_chat_template(msgs, tokenize=False)
    eos = tokenizer.eos_token
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True) if i else ""
        through = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
        if not (full.startswith(before) and full.startswith(through)) or (i and not through.startswith(before)):
            raise DataError(
                f"line {conv.line}: the chat template does not render this conversation's turns as prefixes "
                "of each other, so assistant tokens cannot be located; use train_on=all for this model."
            )
        start, end = len(before), len(through)
        at = full.find(eos, start, end) if eos else -1
        spans.append((start, at + len(eos), True) if at >= 0 else (start, _rstrip_end(full, start, end), False))
    return full, spans


def _rstrip_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _truncate(ids: list[int], labels: list[int], max_length: int) -> Encoded:
    if len(ids) <= max_length:
        return Encoded(ids, labels)
    return Encoded(ids[:max_length], labels[:max_length], truncated=True)


def _dicts(messages) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
