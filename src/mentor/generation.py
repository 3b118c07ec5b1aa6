"""Generate with a base model or a fine-tuned run: batched, streamed, or over a whole data file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from mentor.data.conversation import Conversation
from mentor.data.formats import load
from mentor.data.template import render_prompt
from mentor.errors import DataError, MentorError
from mentor.files import atomic_write_text
from mentor.models import DEFAULT_LLM, load_causal_lm, load_tokenizer
from mentor.workspace import Workspace


@dataclass(frozen=True)
class GenerationOptions:
    """Greedy by default; ``temperature > 0`` samples."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def kwargs(self, tokenizer) -> dict:
        sampling = self.temperature > 0
        out = {"max_new_tokens": self.max_new_tokens, "do_sample": sampling,
               "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
        if sampling:
            out.update(temperature=self.temperature, top_p=self.top_p)
        else:  # silence the model's own sampling defaults under greedy decoding
            out.update(temperature=None, top_p=None, top_k=None)
        return out


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    name: str  # base model
    run: Path | None = None

    @contextmanager
    def base_only(self):
        """Answer with the base model: the run's adapter switched off (no second copy in memory)."""
        with (self.model.disable_adapter() if self.run is not None else nullcontext()):
            yield self


def load_for_inference(model: str | None = None, run: str | None = None, workspace: Workspace | None = None,
                       trust_remote_code: bool = False) -> LoadedModel:
    """The base ``model``, or a run's base with its adapter attached (``model`` defaults to the run's base)."""
    ws = workspace or Workspace()
    if run is None:
        name = model or DEFAULT_LLM
        lm = load_causal_lm(name, ws, trust_remote_code=trust_remote_code)
        return LoadedModel(lm.eval(), load_tokenizer(name, ws, trust_remote_code), name)
    run_dir = ws.run_path(run)
    info = json.loads((run_dir / "run.json").read_text())
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise MentorError(f"Run '{run}' has no trained adapter yet (status: {info.get('status')}); "
                          f"finish it with: mentor train --resume {run}")
    name = model or info["base_model"]
    from peft import PeftModel

    base = load_causal_lm(name, ws, trust_remote_code=trust_remote_code)
    tuned = PeftModel.from_pretrained(base, adapter, is_trainable=False)
    tokenizer = load_tokenizer(str(adapter), ws) if (adapter / "tokenizer_config.json").exists() else load_tokenizer(name, ws)
    return LoadedModel(tuned.eval(), tokenizer, name, run_dir)


@torch.no_grad()
def generate(lm: LoadedModel, conversations: list[Conversation], options: GenerationOptions = GenerationOptions(),
             batch_size: int = 8) -> list[str]:
    """One reply per conversation (each ending where the assistant should speak)."""
    tok = lm.tokenizer
    if options.seed is not None:
        torch.manual_seed(options.seed)
    prompts = [render_prompt(c, tok) for c in conversations]
    replies: list[str] = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths, less padding
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            out = lm.model.generate(**enc, **options.kwargs(tok))
            for row, i in enumerate(idx):
                replies[i] = tok.decode(out[row, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    finally:
        tok.padding_side = side
    return replies


def stream(lm: LoadedModel, conversation: Conversation, options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
    """Yield the reply piece by piece as it is generated."""
    from transformers import TextIteratorStreamer

    tok = lm.tokenizer
    if options.seed is not None:
        torch.manual_seed(options.seed)
    enc = tok(render_prompt(conversation, tok), return_tensors="pt", add_special_tokens=False)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with torch.no_grad():
                lm.model.generate(**enc, **options.kwargs(tok), streamer=streamer)
        except BaseException as e:  # surfaced in the caller's thread below
            errors.append(e)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield from streamer
    thread.join()
    if errors:
        raise errors[0]


def generate_file(lm: LoadedModel, data: str | Path, out: str | Path,
                  options: GenerationOptions = GenerationOptions()) -> int:
    """For each conversation: drop its last assistant turn, generate one, write prompt/reference/prediction JSONL."""
    result = load(data)
    if result.errors:
        raise DataError(f"{len(result.errors)} problem(s) in {data}, first: {result.errors[0]}.")
    if result.format == "text":
        raise DataError(f"{data} holds plain text; generation needs conversations (chat, Alpaca or ShareGPT).")
    pairs = [ex.prompt_and_reference() for ex in result.examples]
    predictions = generate(lm, [p for p, _ in pairs], options)
    lines = []
    for (prompt, reference), ex, prediction in zip(pairs, result.examples, predictions, strict=True):
        lines.append(json.dumps({"line": ex.line, "messages": prompt.to_json()["messages"],
                                 "reference": reference, "prediction": prediction}, ensure_ascii=False))
    atomic_write_text(Path(out), "\n".join(lines) + "\n")
    return len(lines)
