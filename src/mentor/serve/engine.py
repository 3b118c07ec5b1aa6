"""The inference engine behind the HTTP routes: resolves model ids, keeps models loaded, and runs all
generation on one scheduler thread that batches waiting requests for the same model.

Model ids: a base model alias (``smollm2-135m-instruct``), a fine-tuned run (``ft:<base>:<suffix>:<run>``
or the run's name) and ``kb:<name>`` (answers from a knowledge base with the default model).
LoRA-family runs share their base: each is a named peft adapter switched per request, no reload.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mentor.data.conversation import Conversation
from mentor.data.template import render_prompt
from mentor.errors import MentorError, NotFound  # noqa: F401  (NotFound: re-exported, the server's 404)
from mentor.inference.backends import NAMES, Backend
from mentor.inference.decode import Row, Sampling, decode, stop_token_ids
from mentor.methods.artifact import artifact_dir, read_method
from mentor.models import DEFAULT_LLM, load_tokenizer
from mentor.models.aliases import llm_names
from mentor.workspace import Workspace


class Busy(MentorError):
    """More requests are waiting than the server takes; the client should retry later."""


@dataclass(frozen=True)
class Target:
    """What a model id points at: a base model, a run on its base, or a knowledge base."""

    id: str
    base: str
    run: str | None = None
    run_dir: Path | None = None
    kb: str | None = None
    shared: bool = False  # a LoRA-family adapter served on the shared base

    @property
    def key(self) -> str:
        """The loaded model this target runs on (LoRA-family runs share their base's)."""
        return self.run if self.run and not self.shared else self.base

    @property
    def batch_key(self) -> tuple[str, str | None]:
        """Requests with the same batch key share forward passes (same model, same adapter)."""
        return self.key, self.run


def model_id(run_name: str, base: str, suffix: str | None) -> str:
    return f"ft:{base}:{suffix or ''}:{run_name}"


@dataclass
class Event:
    index: int  # which of the request's n choices
    delta: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0  # set on the first event
    completion_tokens: int = 0  # set on the finishing event
    error: str | None = None
    logprobs: list | None = None  # (token, logprob, alternatives) of the tokens since the last event, when asked


class Handle:
    """Events of one request, consumed by an async route or by a blocking caller."""

    def __init__(self, n: int, loop: asyncio.AbstractEventLoop | None):
        self.n, self.loop = n, loop
        self._async: asyncio.Queue | None = asyncio.Queue() if loop else None
        self._sync: queue.Queue = queue.Queue()
        self.cancelled = False  # set when the client disconnects

    def put(self, event: Event) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._async.put_nowait, event)
        else:
            self._sync.put(event)

    async def events(self) -> AsyncIterator[Event]:
        finished = 0
        while finished < self.n:
            event = await self._async.get()
            finished += event.finish_reason is not None or event.error is not None
            yield event

    def blocking(self) -> Iterator[Event]:
        finished = 0
        while finished < self.n:
            event = self._sync.get()
            finished += event.finish_reason is not None or event.error is not None
            yield event


@dataclass
class _Request:
    target: Target
    conversation: Conversation | None
    prompt: str | None
    sampling: Sampling
    handle: Handle
    queued: float = field(default_factory=time.monotonic)


@dataclass
class _Loaded:
    model: torch.nn.Module
    tokenizer: object
    serial: bool = False  # prompt-learning methods: peft's own generate, one request at a time
    adapters: set[str] = field(default_factory=set)
    used: float = 0.0
    native: Backend | None = None  # the backend the model decodes on when it is not torch (base or merged weights)


class Engine:
    def __init__(self, workspace: Workspace, default_model: str = DEFAULT_LLM, max_batch: int = 8,
                 max_waiting: int = 64, max_loaded: int = 3, trust_remote_code: bool = False, backend: str = "auto",
                 model_folders: list[str] = ()):
        if backend not in NAMES:
            raise MentorError(f"Unknown backend '{backend}'; choose one of: {', '.join(NAMES)}.")
        self.ws, self.default_model, self.backend = workspace, default_model, backend
        self.max_batch, self.max_waiting, self.max_loaded = max_batch, max_waiting, max_loaded
        self.trust_remote_code = trust_remote_code
        self.model_folders = [Path(f).resolve() for f in model_folders]  # named on the command line (mentor serve --serve)
        self._active: list[_Request] = []  # the requests being decoded now
        self._loaded: dict[str, _Loaded] = {}
        self._tokenizers: dict[str, object] = {}
        self._waiting: list[_Request] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="mentor-engine", daemon=True)
        self._thread.start()

    # -- model ids ---------------------------------------------------------------------------
    def base_models(self) -> list[str]:
        return llm_names()

    def fine_tuned(self) -> list[tuple[str, str, float]]:
        """(model id, base, created) for every finished run in the workspace."""
        out = []
        for run in self.ws.list_runs():
            if run.status == "succeeded":
                out.append((model_id(run.name, run.base_model, run.summary.get("suffix")), run.base_model, run.created))
        return out

    def exports(self) -> dict[str, Path]:
        """``export:NAME`` -> folder: model folders (merged exports, quantised folders) in the workspace's exports/
        (where the studio writes them) and the folders named on the command line. Nothing else on disk is served."""
        found = {}
        folder = self.ws.home / "exports"
        candidates = sorted(folder.iterdir()) if folder.is_dir() else []
        for path in [*candidates, *self.model_folders]:
            if (path / "config.json").is_file() and not path.name.startswith("."):
                found[f"export:{path.name}"] = path
        return found

    def resolve(self, name: str) -> Target:
        if name.startswith("kb:"):
            from mentor.rag.knowledge_base import list_names

            if name[3:] not in list_names(self.ws):
                raise NotFound(f"The model '{name}' does not exist: no knowledge base '{name[3:]}'.")
            return Target(name, self.default_model, kb=name[3:])
        if name in self.base_models():
            return Target(name, name)
        if name.startswith("export:"):
            folder = self.exports().get(name)
            if folder is None:
                raise NotFound(f"The model '{name}' does not exist (see GET /v1/models).")
            return Target(name, str(folder))
        run_name = name.rsplit(":", 1)[-1] if name.startswith("ft:") else name
        record = self.ws.get_run(run_name)
        if record is None or record.status != "succeeded" or artifact_dir(record.path) is None:
            raise NotFound(f"The model '{name}' does not exist (see GET /v1/models).")
        folder = artifact_dir(record.path)
        method, _, base = read_method(folder)
        config = folder / "adapter_config.json"
        shared = config.exists() and json.loads(config.read_text()).get("peft_type") == "LORA" and base in self.base_models()
        return Target(name, base, run_name, record.path, shared=shared)

    def tokenizer(self, target: Target):
        source = str(artifact_dir(target.run_dir)) if target.run else target.base
        if source not in self._tokenizers:
            self._tokenizers[source] = load_tokenizer(source, self.ws, self.trust_remote_code)
        return self._tokenizers[source]

    # -- requests ----------------------------------------------------------------------------
    def submit(self, target: Target, sampling: Sampling, conversation: Conversation | None = None,
               prompt: str | None = None, n: int = 1, loop: asyncio.AbstractEventLoop | None = None) -> Handle:
        """Queue a chat (``conversation``) or a completion (``prompt``) for ``n`` choices."""
        handle = Handle(n, loop)
        with self._cv:
            if sum(r.handle.n for r in self._waiting) + n > self.max_waiting:
                raise Busy(f"The server is busy ({self.max_waiting} generations waiting); retry shortly.")
            self._waiting.append(_Request(target, conversation, prompt, sampling, handle))
            self._cv.notify()
        return handle

    def stream_text(self, target: Target, conversation: Conversation, sampling: Sampling) -> Iterator[str]:
        """Blocking: the reply's text pieces (for library code such as RAG answers on a worker thread)."""
        for event in self.submit(target, sampling, conversation).blocking():
            if event.error:
                raise MentorError(event.error)
            if event.delta:
                yield event.delta

    def close(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()
        self._thread.join(timeout=5)

    # -- the scheduler thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._waiting and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                first = self._waiting[0]
                batch, rows = [], 0
                for r in list(self._waiting):
                    if r.target.batch_key == first.target.batch_key and rows + r.handle.n <= max(self.max_batch, first.handle.n):
                        batch.append(r)
                        rows += r.handle.n
                        self._waiting.remove(r)
            self._active = batch  # requests admitted while it runs are added
            try:
                self._run(batch)
            except Exception as e:  # report to every client in the batch; the engine keeps serving
                message = str(e) if isinstance(e, MentorError) else f"generation failed: {type(e).__name__}: {e}"
                for r in self._active:
                    for i in range(r.handle.n):
                        r.handle.put(Event(i, error=message))

    def _run(self, batch: list[_Request]) -> None:
        batch = [r for r in batch if not r.handle.cancelled]  # clients that left while waiting
        if not batch:
            return
        target = batch[0].target
        loaded = self._load(target)
        tok = self.tokenizer(target)
        eos = stop_token_ids(tok)
        rows = self._rows(batch)
        admit = lambda active: self._admit(target, active)  # noqa: E731
        with self._adapter(loaded, target), torch.inference_mode():
            if loaded.serial:
                if any(r.sampling.constraint is not None or r.sampling.logprobs is not None for r in rows):
                    raise MentorError("prompt-learning runs (prompt, prefix, P-tuning) decode in peft's own generate, "
                                      "which takes no grammar and reports no logprobs; serve a LoRA-family run for "
                                      "tools, response_format and logprobs.")
                for row in rows:
                    _generate_serial(loaded.model, tok, row, eos)
            elif loaded.native is not None and not (target.shared and target.run):  # adapters decode in torch
                loaded.native.decode(rows, admit=admit)
            else:
                decode(loaded.model, tok, rows, eos, admit=admit)

    def _admit(self, target: Target, active: int) -> list[Row]:
        """Waiting requests for the same model that fit beside ``active`` rows: they join the running batch."""
        with self._cv:
            joining, rows = [], active
            for r in list(self._waiting):
                if r.target.batch_key == target.batch_key and rows + r.handle.n <= self.max_batch:
                    joining.append(r)
                    rows += r.handle.n
                    self._waiting.remove(r)
            self._active += joining
        return self._rows([r for r in joining if not r.handle.cancelled])

    def _rows(self, requests: list[_Request]) -> list[Row]:
        """One row per choice; each request's handle hears the prompt size first, then the text."""
        rows: list[Row] = []
        for r in requests:
            tok = self.tokenizer(r.target)
            text = render_prompt(r.conversation, tok) if r.conversation is not None else r.prompt
            ids = tok(text, add_special_tokens=False)["input_ids"]
            for i in range(r.handle.n):
                sampling = r.sampling if r.sampling.seed is None or i == 0 else \
                    Sampling(**{**r.sampling.__dict__, "seed": r.sampling.seed + i})
                r.handle.put(Event(i, prompt_tokens=len(ids)))
                row = Row(ids, sampling, emit=None, cancelled=lambda h=r.handle: h.cancelled)
                row.emit = lambda delta, finish, row=row, i=i, h=r.handle, sent=[0]: h.put(
                    Event(i, delta, finish, completion_tokens=len(row.ids) if finish else 0,
                          logprobs=_since(row.logprobs, sent) if row.sampling.logprobs is not None else None))
                rows.append(row)
        return rows

    def _adapter(self, loaded: _Loaded, target: Target):
        from contextlib import nullcontext

        if not loaded.adapters:
            return nullcontext()
        if target.run is None or not target.shared:
            return loaded.model.disable_adapter()
        loaded.model.set_adapter(target.run)
        return nullcontext()

    def _load(self, target: Target) -> _Loaded:
        loaded = self._loaded.get(target.key)
        if loaded is None:
            while len(self._loaded) >= self.max_loaded:  # least recently used goes
                gone = self._loaded.pop(min(self._loaded, key=lambda k: self._loaded[k].used))
                if gone.native is not None:
                    gone.native.close()  # here, on the scheduler thread: never in a collector run elsewhere
            from mentor.generation import load_for_inference

            own = bool(target.run and not target.shared)  # a run with weights of its own (else the base)
            lm = load_for_inference(target.base if not own else None, target.run if own else None, self.ws,
                                    self.trust_remote_code, backend=self.backend)
            method = read_method(artifact_dir(target.run_dir))[0] if own else None
            loaded = _Loaded(lm.model, lm.tokenizer if own else self.tokenizer(Target(target.base, target.base)),
                             serial=bool(method and method.prompt_learning), native=lm.native)
            self._loaded[target.key] = loaded
        if target.shared and target.run not in loaded.adapters:
            from peft import PeftModel

            folder = str(artifact_dir(target.run_dir))
            if loaded.adapters:
                loaded.model.load_adapter(folder, adapter_name=target.run, is_trainable=False)
            else:
                loaded.model = PeftModel.from_pretrained(loaded.model, folder, adapter_name=target.run,
                                                         is_trainable=False).eval()
            loaded.adapters.add(target.run)
        loaded.used = time.monotonic()
        return loaded


def _since(items: list, sent: list[int]) -> list:
    """The items added since the last call (``sent`` holds how many were handed out)."""
    new, sent[0] = items[sent[0]:], len(items)
    return new


def _generate_serial(model, tokenizer, row: Row, eos: set[int]) -> None:
    """peft's own generate for prompt-learning methods (virtual tokens live in its cache handling)."""
    from transformers import TextIteratorStreamer

    ids = torch.tensor([row.prompt_ids])
    kwargs = {"max_new_tokens": row.sampling.max_tokens, "eos_token_id": sorted(eos),
              "pad_token_id": tokenizer.pad_token_id, "do_sample": row.sampling.temperature > 0}
    if row.sampling.temperature > 0:
        kwargs.update(temperature=row.sampling.temperature, top_p=row.sampling.top_p)
        if row.sampling.seed is not None:
            torch.manual_seed(row.sampling.seed)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

    def work() -> None:
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer, **kwargs)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    text = ""
    for piece in streamer:
        text += piece
        row.ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        row.update(text)
        if row.finish_reason:
            break
    thread.join()
    if row.finish_reason is None:
        row.update(text, "length" if len(row.ids) >= row.sampling.max_tokens else "stop")
