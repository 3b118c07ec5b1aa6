"""Batched decoding for the server: several requests share each forward pass; every row keeps its own
sampling settings, token limit and stop strings, and hands out text as soon as it is safe to show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Sampling:
    max_tokens: int = 256
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0  # transformers' kind: seen tokens' logits divided (>0) or multiplied (<0)
    min_tokens: int = 0  # end-of-text is not allowed before this many tokens
    constraint: object = None  # a grammar.Constraint the reply must follow (JSON schema, tool calls)
    logprobs: int | None = None  # record each token's log-probability and this many alternatives (None: off)

    def __post_init__(self) -> None:
        # below this, sampling is greedy in all but name, and logits / 1e-300 overflow to inf (NaN probabilities)
        if 0 < self.temperature < MIN_TEMPERATURE:
            self.temperature = 0.0


MIN_TEMPERATURE = 1e-3


@dataclass
class Row:
    """One sequence being generated. ``emit(delta, finish_reason)`` is called with new text as it becomes
    final (``finish_reason`` is None until the last call: "stop" or "length")."""

    prompt_ids: list[int]
    sampling: Sampling
    emit: Callable[[str, str | None], None] | None = None
    ids: list[int] = field(default_factory=list)
    text: str = ""
    shown: int = 0  # characters of ``text`` already emitted
    finish_reason: str | None = None
    generator: torch.Generator | None = None
    cancelled: Callable[[], bool] = lambda: False  # the client went away: stop spending compute on it
    matcher: object = None  # the constraint's grammar state (made by ``decode``)
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = field(default_factory=list)  # (token, logprob, top)

    def __post_init__(self) -> None:
        if self.sampling.seed is not None:
            self.generator = torch.Generator().manual_seed(self.sampling.seed)

    def update(self, text: str, finished: str | None = None) -> None:
        """Take the whole text so far; cut at a stop string; emit what can no longer change."""
        for stop in self.sampling.stop:
            at = text.find(stop)
            if at >= 0:
                text, finished = text[:at], "stop"
        self.text = text
        if finished is None:
            safe = len(text)
            if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                safe -= 1
            for stop in self.sampling.stop:  # a stop string may be starting at the end: hold it back
                for n in range(min(len(stop) - 1, safe), 0, -1):
                    if text[:safe].endswith(stop[:n]):
                        safe -= n
                        break
        else:
            safe = len(text)
        if safe > self.shown or finished:
            delta, self.shown = text[self.shown:safe], max(self.shown, safe)
            self.finish_reason = finished
            if self.emit:
                self.emit(delta, finished)


def stop_token_ids(tokenizer) -> set[int]:
    """EOS and the chat templates' end-of-turn tokens: any of them ends a reply."""
    ids = {tokenizer.eos_token_id}
    vocab = tokenizer.get_vocab()
    ids.update(vocab[name] for name in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>") if name in vocab)
    return ids


def choose(logits: torch.Tensor, row: Row, eos_ids: set[int] = frozenset()) -> int:
    """Next token for one row from its last-position ``logits`` (vocab,)."""
    s = row.sampling
    logits = logits.float()
    if row.ids and (s.presence_penalty or s.frequency_penalty):
        seen, counts = torch.tensor(row.ids, device=logits.device).unique(return_counts=True)
        logits[seen] -= s.presence_penalty + s.frequency_penalty * counts.float()
    if s.repetition_penalty != 1.0:  # over the prompt and the reply, as transformers does
        seen = torch.tensor(row.prompt_ids + row.ids, device=logits.device).unique()
        picked = logits[seen]
        logits[seen] = torch.where(picked > 0, picked / s.repetition_penalty, picked * s.repetition_penalty)
    if len(row.ids) < s.min_tokens and row.matcher is None:
        logits[sorted(eos_ids)] = float("-inf")
    if row.matcher is not None:
        row.matcher.mask(logits)
    if s.temperature <= 0:
        token = int(logits.argmax())
    else:
        probs = torch.softmax(logits / s.temperature, dim=-1)
        if s.top_p < 1.0:
            ordered, index = probs.sort(descending=True)
            keep = ordered.cumsum(-1) - ordered < s.top_p  # nucleus: the smallest set reaching top_p
            probs = torch.zeros_like(probs).scatter(0, index, ordered * keep)
        token = int(torch.multinomial((probs / probs.sum()).cpu(), 1, generator=row.generator))
    if s.logprobs is not None:
        logp = torch.log_softmax(logits, dim=-1).clamp(min=-9999.0)  # OpenAI's floor for impossible tokens
        top = logp.topk(s.logprobs) if s.logprobs else None
        row.logprobs.append((token, float(logp[token]), list(zip(top.indices.tolist(), top.values.tolist(), strict=True))
                             if top is not None else []))
    return token


def constrain(rows: list[Row], tokenizer, eos_ids: set[int]) -> None:
    """Give each row whose settings carry a constraint its grammar state (compiled once per grammar)."""
    for r in rows:
        if r.sampling.constraint is not None and r.matcher is None:
            from mentor.inference.grammar import Matcher

            r.matcher = Matcher(r.sampling.constraint, tokenizer, eos_ids)


@dataclass
class _Batch:
    """Rows decoding together: their attention mask (B, T), KV cache and last-position logits (B, vocab)."""

    rows: list[Row]
    mask: torch.Tensor
    past: object
    logits: torch.Tensor


def _prefill(model, rows: list[Row], pad: int) -> _Batch:
    width = max(len(r.prompt_ids) for r in rows)
    device = next(model.parameters()).device
    ids = torch.full((len(rows), width), pad, dtype=torch.long, device=device)  # (B, T), left-padded
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids)
        mask[i, width - len(r.prompt_ids):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    return _Batch(list(rows), mask, out.past_key_values, out.logits[:, -1])


def _reshapable(past) -> bool:
    """Plain per-layer key/value tensors (no sliding windows, no quantised cache): rows can leave and join."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    return type(past) is DynamicCache and all(type(layer) is DynamicLayer for layer in past.layers)


def _merge(a: _Batch, b: _Batch) -> _Batch:
    """One batch from two: left-pad the shorter history (masked out) and stack rows, caches and logits."""
    from transformers.cache_utils import DynamicCache

    width = max(a.mask.shape[1], b.mask.shape[1])
    pad = lambda t, dim: torch.nn.functional.pad(t, (0, 0) * (t.dim() - 1 - dim) + (width - t.shape[dim], 0))  # noqa: E731
    layers = [(torch.cat([pad(la.keys, 2), pad(lb.keys, 2)]), torch.cat([pad(la.values, 2), pad(lb.values, 2)]))
              for la, lb in zip(a.past.layers, b.past.layers, strict=True)]  # keys/values: (B, heads, T, head_dim)
    return _Batch(a.rows + b.rows, torch.cat([pad(a.mask, 1), pad(b.mask, 1)]), DynamicCache(layers),
                  torch.cat([a.logits, b.logits]))


def _trim(batch: _Batch) -> _Batch:
    """Drop the leading positions no remaining row attends to (left padding and the rows that left): the
    cache stays as long as its oldest row's history instead of growing with every step the batch has run."""
    if batch.rows:
        start = int(batch.mask.any(0).int().argmax())  # first position some row uses
        if start:
            for layer in batch.past.layers:
                layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
            batch.mask = batch.mask[:, start:]
    return batch


@torch.no_grad()
def decode(model, tokenizer, rows: list[Row], eos_ids: set[int], admit: Callable[[int], list[Row]] | None = None) -> None:
    """Generate every row to its end, one forward pass per token for the whole batch (KV cache, left
    padding). Continuous batching where the cache allows: finished rows leave the batch, and rows from
    ``admit(rows still decoding)`` (asked between steps) join it, so a request arriving mid-way need not wait for the end."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos_ids))
    constrain(rows, tokenizer, eos_ids)
    batch = _prefill(model, rows, pad)
    flexible = _reshapable(batch.past)
    while True:
        step = []
        for i, r in enumerate(batch.rows):
            if r.finish_reason is None and r.cancelled():
                r.finish_reason = "cancelled"
            if r.finish_reason is not None:
                step.append(pad)
                continue
            token = choose(batch.logits[i], r, eos_ids)
            step.append(token)
            if token in eos_ids:
                del r.logprobs[len(r.ids):]  # end-of-text is not part of the reply
                r.update(r.text, "stop")
                continue
            r.ids.append(token)
            if r.matcher is not None:
                r.matcher.advance(token)
            text = tokenizer.decode(r.ids, skip_special_tokens=True)
            r.update(text, "stop" if r.matcher is not None and r.matcher.done else
                     "length" if len(r.ids) >= r.sampling.max_tokens else None)
        live = [i for i, r in enumerate(batch.rows) if r.finish_reason is None]
        joining = admit(len(live)) if admit and flexible else []
        if not live and not joining:
            return
        if flexible and len(live) < len(batch.rows):  # finished rows leave: less work per step
            keep = torch.tensor(live, dtype=torch.long, device=batch.mask.device)
            batch.past.batch_select_indices(keep)
            batch = _trim(_Batch([batch.rows[i] for i in live], batch.mask[keep], batch.past, batch.logits[keep]))
            step = [step[i] for i in live]
        if batch.rows:
            mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
            out = model(input_ids=torch.tensor(step, device=mask.device).unsqueeze(1), attention_mask=mask,
                        position_ids=mask.sum(-1, keepdim=True) - 1, past_key_values=batch.past, use_cache=True)
            batch = _Batch(batch.rows, mask, out.past_key_values, out.logits[:, -1])
        if joining:
            constrain(joining, tokenizer, eos_ids)
            fresh = _prefill(model, joining, pad)
            batch = _merge(batch, fresh) if batch.rows else fresh


def decode_all(model, tokenizer, rows: list[Row], eos_ids: set[int], batch_size: int = 16) -> None:
    """Generate every row, ``batch_size`` at a time: a finished row's place goes to the next waiting one
    at once (no waiting for the batch's longest answer)."""
    waiting = list(rows)

    def admit(active: int) -> list[Row]:
        joining = waiting[:max(batch_size - active, 0)]
        del waiting[:len(joining)]
        return joining

    while waiting:  # one pass unless the model's cache cannot take rows mid-way
        decode(model, tokenizer, admit(0), eos_ids, admit=admit)
