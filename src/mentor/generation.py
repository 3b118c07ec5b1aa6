"""Generate with a base model or a fine-tuned run: batched, streamed, or over a whole data file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from mentor.data.conversation import Conversation
from mentor.data.formats import load_examples
from mentor.data.template import render_prompt
from mentor.errors import DataError, MentorError
from mentor.files import atomic_write_text
from mentor.models import DEFAULT_LLM, load_causal_lm, load_tokenizer
from mentor.precision import model_device, resolve_device
from mentor.tune.artifact import artifact_dir, load_artifact, read_method
from mentor.workspace import Workspace


@dataclass(frozen=True)
class GenerationOptions:
    """Greedy by default; ``temperature > 0`` samples."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    use_cache: bool = True  # False: re-run the whole sequence each step (slow; for checks and odd models)
    min_new_tokens: int = 0
    repetition_penalty: float = 1.0  # >1 discourages repeating tokens (small models loop under greedy decoding)

    def kwargs(self, tokenizer) -> dict:
        sampling = self.temperature > 0
        out = {"max_new_tokens": self.max_new_tokens, "min_new_tokens": self.min_new_tokens, "do_sample": sampling,
               "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
               "repetition_penalty": self.repetition_penalty}
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
    peft: bool = False  # a peft adapter that can be switched off in place
    workspace: Workspace | None = None

    @contextmanager
    def base_only(self):
        """Answer with the base model: a peft adapter is switched off in place (no second copy in
        memory); other methods swap in the base model for the duration."""
        if self.run is None:
            yield self
        elif self.peft:
            with self.model.disable_adapter():
                yield self
        else:
            tuned = self.model
            self.model = load_causal_lm(self.name, self.workspace, device=str(model_device(tuned))).eval()
            try:
                yield self
            finally:
                self.model = tuned


def load_for_inference(model: str | None = None, run: str | None = None, workspace: Workspace | None = None,
                       trust_remote_code: bool = False, device: str = "cpu") -> LoadedModel:
    """The base ``model``, or a run's base with its adapter attached (``model`` defaults to the run's base),
    on ``device`` (auto, cpu, cuda)."""
    ws = workspace or Workspace()
    device = resolve_device(device)
    if run is None:
        name = model or DEFAULT_LLM
        lm = load_causal_lm(name, ws, trust_remote_code=trust_remote_code, device=device)
        return LoadedModel(lm.eval(), load_tokenizer(name, ws, trust_remote_code), name)
    run_dir = ws.run_path(run)
    folder = artifact_dir(run_dir)
    if folder is None:
        status = json.loads((run_dir / "run.json").read_text()).get("status")
        raise MentorError(f"Run '{run}' has no trained model yet (status: {status}); "
                          f"finish it with: mentor train --resume {run}")
    method, _, base = read_method(folder)
    tokenizer = load_tokenizer(str(folder), ws)
    tuned = load_artifact(folder, ws, model, trust_remote_code, tokenizer=tokenizer, device=device)
    return LoadedModel(tuned.eval(), tokenizer, model or base, run_dir, method.storage == "peft", ws)


@torch.no_grad()
def generate(lm: LoadedModel, conversations: list[Conversation], options: GenerationOptions = GenerationOptions(),
             batch_size: int = 16) -> list[str]:
    """One reply per conversation (each ending where the assistant should speak), ``batch_size`` decoding
    together; a finished reply's place goes to the next conversation at once (the server's batched decoder)."""
    from mentor.inference.decode import Row, Sampling, decode_all, stop_token_ids

    tok = lm.tokenizer
    if options.seed is not None:
        torch.manual_seed(options.seed)
    prompts = [render_prompt(c, tok) for c in conversations]
    if not options.use_cache:
        return [_without_cache(lm, p, options) for p in prompts]
    if _prompt_learning(lm.model):
        return _generate_static(lm, prompts, options, batch_size)
    rows = [Row(tok(p, add_special_tokens=False)["input_ids"],
                Sampling(options.max_new_tokens, options.temperature, options.top_p,
                         None if options.seed is None else options.seed + i,
                         repetition_penalty=options.repetition_penalty, min_tokens=options.min_new_tokens))
            for i, p in enumerate(prompts)]
    # similar prompt lengths decode together: less left padding
    decode_all(lm.model, tok, sorted(rows, key=lambda r: len(r.prompt_ids)), stop_token_ids(tok), batch_size)
    return [r.text.strip() for r in rows]


def _prompt_learning(model) -> bool:
    """peft prompt-learning methods keep their virtual tokens in peft's own generate and cache handling."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)


def _generate_static(lm: LoadedModel, prompts: list[str], options: GenerationOptions, batch_size: int) -> list[str]:
    """transformers' generate, a fixed batch at a time (left padding)."""
    tok = lm.tokenizer
    replies: list[str] = [""] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths, less padding
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(model_device(lm.model))
            out = lm.model.generate(**enc, **options.kwargs(tok))
            for row, i in enumerate(idx):
                replies[i] = tok.decode(out[row, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    finally:
        tok.padding_side = side
    return replies


def _without_cache(lm: LoadedModel, prompt: str, options: GenerationOptions) -> str:
    """Decode by running the full sequence every step. transformers' generate(use_cache=False)
    breaks on peft prefix tuning (past key values are the prefix), this loop works for every method."""
    tok = lm.tokenizer
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model_device(lm.model))  # (1, T)
    start = ids.shape[1]
    for step in range(options.max_new_tokens):
        logits = lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[:, -1].float()
        if step < options.min_new_tokens:
            logits[:, tok.eos_token_id] = float("-inf")
        if options.temperature > 0:
            probs = torch.softmax(logits / options.temperature, dim=-1)
            ordered, index = probs.sort(descending=True)
            keep = ordered.cumsum(-1) - ordered < options.top_p  # nucleus: smallest set reaching top_p
            ordered = ordered * keep
            token = index.gather(-1, torch.multinomial(ordered / ordered.sum(), 1))
        else:
            token = logits.argmax(-1, keepdim=True)
        ids = torch.cat([ids, token], dim=1)
        if int(token) == tok.eos_token_id:
            break
    return tok.decode(ids[0, start:], skip_special_tokens=True).strip()


def stream(lm: LoadedModel, conversation: Conversation, options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
    """Yield the reply piece by piece as it is generated."""
    from transformers import TextIteratorStreamer

    tok = lm.tokenizer
    if options.seed is not None:
        torch.manual_seed(options.seed)
    enc = tok(render_prompt(conversation, tok), return_tensors="pt", add_special_tokens=False).to(model_device(lm.model))
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
    examples = load_examples(data)
    if any(ex.is_text for ex in examples):
        raise DataError(f"{data} holds plain text; generation needs conversations (chat, Alpaca or ShareGPT).")
    pairs = [ex.prompt_and_reference() for ex in examples]
    predictions = generate(lm, [p for p, _ in pairs], options)
    lines = []
    for (prompt, reference), ex, prediction in zip(pairs, examples, predictions, strict=True):
        lines.append(json.dumps({"line": ex.line, "messages": prompt.to_json()["messages"],
                                 "reference": reference, "prediction": prediction}, ensure_ascii=False))
    atomic_write_text(Path(out), "\n".join(lines) + "\n")
    return len(lines)
