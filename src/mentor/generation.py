"""Generate with a base model or a fine-tuned run: batched, streamed, or over a whole data file."""

from __future__ import annotations

import json
import queue
import shutil
import sys
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
from mentor.inference.backends import Backend, Choice
from mentor.methods.artifact import artifact_dir, load_artifact, merge, read_method
from mentor.models import DEFAULT_LLM, load_causal_lm, load_tokenizer
from mentor.precision import model_device, resolve_device
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
    constraint: object = None  # an inference.grammar.Constraint every reply follows (JSON schema, tool calls)

    def sampling(self, seed: int | None = None):
        """The decode loop's settings for one row (``seed``: this row's)."""
        from mentor.inference.decode import Sampling

        return Sampling(self.max_new_tokens, self.temperature, self.top_p, seed,
                        repetition_penalty=self.repetition_penalty, min_tokens=self.min_new_tokens,
                        constraint=self.constraint)

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
    native: Backend | None = None  # a faster backend holding the same weights (None: torch decodes)
    backend: str = "torch"  # what generates: torch, ctranslate2:int8, ...

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
                       trust_remote_code: bool = False, device: str = "cpu", backend: str = "torch") -> LoadedModel:
    """The base ``model``, or a run's base with its adapter attached (``model`` defaults to the run's base),
    on ``device`` (auto, cpu, cuda). ``backend`` (see :mod:`mentor.inference.backends`): ``torch``, or ``auto``
    / ``ctranslate2[:int8|:float32]`` to decode on a native runtime where it can run the model (the torch
    model stays loaded as the reference and for what the native one cannot do)."""
    ws = workspace or Workspace()
    device = resolve_device(device)
    if run is None:
        name = model or DEFAULT_LLM
        lm = load_causal_lm(name, ws, trust_remote_code=trust_remote_code, device=device)
        loaded = LoadedModel(lm.eval(), load_tokenizer(name, ws, trust_remote_code), name)
    else:
        run_dir = ws.run_path(run)
        folder = artifact_dir(run_dir)
        if folder is None:
            status = json.loads((run_dir / "run.json").read_text()).get("status")
            raise MentorError(f"Run '{run}' has no trained model yet (status: {status}); "
                              f"finish it with: mentor train --resume {run}")
        method, _, base = read_method(folder)
        tokenizer = load_tokenizer(str(folder), ws)
        tuned = load_artifact(folder, ws, model, trust_remote_code, tokenizer=tokenizer, device=device)
        loaded = LoadedModel(tuned.eval(), tokenizer, model or base, run_dir, method.storage == "peft", ws)
    if backend != "torch":
        attach_backend(loaded, backend, ws, device, trust_remote_code)
    return loaded


def load_run_or_model(name: str, workspace: Workspace, device: str = "cpu") -> LoadedModel:
    """``name`` as a run of the workspace (its base with the adapter) or else a model alias / folder."""
    if workspace.get_run(name) is not None or (Path(name) / "run.json").exists():
        return load_for_inference(run=name, workspace=workspace, device=device)
    return load_for_inference(name, workspace=workspace, device=device)


def attach_backend(lm: LoadedModel, requested: str, ws: Workspace, device: str = "cpu",
                   trust_remote_code: bool = False) -> Choice:
    """Give ``lm`` the backend ``requested`` picks for it (converting its weights once), and say which."""
    from mentor.inference.backends import CT2Backend, TorchBackend, choose, ct2_folder

    architecture, weights, declined, build = _plain_weights(lm, ws, device, trust_remote_code)
    choice = choose(requested, architecture, declined)
    if choice.name == "ctranslate2":
        label = lm.run.name if lm.run else Path(lm.name).name
        folder = ct2_folder(weights, choice.compute, ws.models_dir, label=label, build=build)
        fallback = TorchBackend(lm.model, lm.tokenizer)
        try:
            lm.native = CT2Backend(folder, lm.tokenizer, choice.compute, fallback=fallback)
        except RuntimeError as e:  # a damaged cached conversion (disk full, killed copy): convert again, once
            print(f"the converted copy in {folder} cannot be loaded ({e}); converting again", file=sys.stderr)
            shutil.rmtree(folder)
            folder = ct2_folder(weights, choice.compute, ws.models_dir, label=label, build=build)
            lm.native = CT2Backend(folder, lm.tokenizer, choice.compute, fallback=fallback)
    lm.backend = choice.label
    print(f"backend: {choice.label} ({choice.reason})", file=sys.stderr, flush=True)
    return choice


def _plain_weights(lm: LoadedModel, ws: Workspace, device: str, trust_remote_code: bool):
    """For a native backend: (a Hugging Face folder with the model's config.json, the folder whose weight files
    identify the weights, why no native backend can take them, a function writing them as a plain Hugging Face
    folder when they are not one: a merged copy of a tuned run)."""
    from mentor.models.loading import resolve
    from mentor.models.quantized import quantization_of

    if device != "cpu":
        return None, None, f"native backends here run on the CPU, not {device}", None
    src = resolve(lm.name, ws)
    if src.kind == "hub":
        return None, None, "a hub model is not a local folder", None
    base = Path(src.location)
    if quantization_of(base):
        return None, None, "the model is already quantised (ctranslate2 quantises the unquantised model itself)", None
    if lm.run is None:
        return base, base, None, None
    folder = artifact_dir(lm.run)
    method, _, _ = read_method(folder)
    if method.storage == "full":
        return folder, folder, None, None
    if not method.mergeable:
        return None, None, f"a {method.name} run cannot be merged into plain weights ({method.not_mergeable_because})", None

    def build(target: Path) -> None:  # merge a fresh copy: lm.model keeps its adapter switchable
        tuned = load_artifact(folder, ws, lm.name, trust_remote_code, dequantize=True, tokenizer=lm.tokenizer)
        merge(tuned, method).save_pretrained(target, safe_serialization=True)
        lm.tokenizer.save_pretrained(target)

    return base, folder, None, build


@torch.no_grad()
def generate(lm: LoadedModel, conversations: list[Conversation], options: GenerationOptions = GenerationOptions(),
             batch_size: int = 16) -> list[str]:
    """One reply per conversation (each ending where the assistant should speak), ``batch_size`` decoding
    together; a finished reply's place goes to the next conversation at once (the server's batched decoder)."""
    from mentor.inference.decode import Row, decode_all, stop_token_ids

    tok = lm.tokenizer
    if options.seed is not None:
        torch.manual_seed(options.seed)
    prompts = [render_prompt(c, tok) for c in conversations]
    if options.constraint is not None and (not options.use_cache or _prompt_learning(lm.model)):
        raise MentorError("constrained decoding (a JSON schema, tools) runs in the batched decoder; prompt-learning "
                          "runs and use_cache=False decode elsewhere and take no grammar.")
    if not options.use_cache:
        return [_without_cache(lm, p, options) for p in prompts]
    if _prompt_learning(lm.model):
        return _generate_static(lm, prompts, options, batch_size)
    rows = [Row(tok(p, add_special_tokens=False)["input_ids"], options.sampling(None if options.seed is None else options.seed + i))
            for i, p in enumerate(prompts)]
    ordered = sorted(rows, key=lambda r: len(r.prompt_ids))  # similar prompt lengths decode together: less padding
    if lm.native is not None:
        for start in range(0, len(ordered), batch_size):
            lm.native.decode(ordered[start:start + batch_size])
    else:
        decode_all(lm.model, tok, ordered, stop_token_ids(tok), batch_size)
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
    if lm.native is not None or options.constraint is not None:
        yield from _stream_rows(lm, conversation, options)
        return
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


def _stream_rows(lm: LoadedModel, conversation: Conversation, options: GenerationOptions) -> Iterator[str]:
    """Stream through the backends' decode loop (the native backend, or torch's for a constraint)."""
    from mentor.inference.backends import TorchBackend
    from mentor.inference.decode import Row

    pieces: queue.Queue = queue.Queue()
    row = Row(lm.tokenizer(render_prompt(conversation, lm.tokenizer), add_special_tokens=False)["input_ids"],
              options.sampling(options.seed), emit=lambda delta, finish: pieces.put(delta))

    def work() -> None:
        try:
            (lm.native or TorchBackend(lm.model, lm.tokenizer)).decode([row])
        except BaseException as e:  # surfaced in the caller's thread below
            pieces.put(e)
        pieces.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (piece := pieces.get()) is not None:
        if isinstance(piece, BaseException):
            raise piece
        if piece:
            yield piece


def generate_file(lm: LoadedModel, data: str | Path, out: str | Path,
                  options: GenerationOptions = GenerationOptions(), tools: list = ()) -> int:
    """For each conversation: drop its last assistant turn, generate one, write prompt/reference/prediction JSONL.
    ``tools`` (data.tools.Tool) are offered to every conversation."""
    from mentor.data.tools import with_tools

    examples = load_examples(data)
    if any(ex.is_text for ex in examples):
        raise DataError(f"{data} holds plain text; generation needs conversations (chat, Alpaca or ShareGPT).")
    pairs = [ex.prompt_and_reference() for ex in examples]
    predictions = generate(lm, [with_tools(p, tools) for p, _ in pairs], options)
    lines = []
    for (prompt, reference), ex, prediction in zip(pairs, examples, predictions, strict=True):
        lines.append(json.dumps({"line": ex.line, "messages": prompt.to_json()["messages"],
                                 "reference": reference, "prediction": prediction}, ensure_ascii=False))
    atomic_write_text(Path(out), "\n".join(lines) + "\n")
    return len(lines)
