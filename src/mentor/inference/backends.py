"""Backends that run the decode loop: ``torch`` (the reference: every model and method) and
``ctranslate2`` (a native CPU runtime, float32 or int8 weights, for plain causal LMs and merged runs).

A backend takes :class:`~mentor.inference.decode.Row` objects and generates each to its end, calling
``row.update`` as text arrives, so the server, ``mentor generate`` and library code share one
contract whatever runs underneath. ``choose`` turns a request (``auto``, ``torch``, ``ctranslate2`` = its
float32 weights, ``ctranslate2:int8``) into a backend for one model and says why.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mentor.errors import MentorError
from mentor.files import atomic_dir
from mentor.inference.decode import Row, Sampling, decode, stop_token_ids

NAMES = ("auto", "torch", "ctranslate2", "ctranslate2:int8", "ctranslate2:float32")
CT2_COMPUTE = ("int8", "float32")


class Backend(Protocol):
    name: str

    def decode(self, rows: list[Row], admit: Callable[[int], list[Row]] | None = None) -> None:
        """Generate every row to its end; rows from ``admit(active rows)`` may join while it runs."""

    def close(self) -> None:
        """Free native resources now (the model is being unloaded)."""


@dataclass(frozen=True)
class Choice:
    """What ``choose`` picked: ``name`` (torch or ctranslate2), its weight type, and the reason."""

    name: str
    compute: str | None
    reason: str

    @property
    def label(self) -> str:
        return f"{self.name}:{self.compute}" if self.compute else self.name


class TorchBackend:
    """transformers models in torch: batched decoding with a KV cache, rows joining between steps."""

    name = "torch"

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.eos = stop_token_ids(tokenizer)

    def close(self) -> None:
        """Nothing to free: the torch model is the caller's."""

    def decode(self, rows: list[Row], admit: Callable[[int], list[Row]] | None = None) -> None:
        import torch

        with torch.inference_mode():
            decode(self.model, self.tokenizer, rows, self.eos, admit=admit)


def ct2_installed() -> bool:
    return importlib.util.find_spec("ctranslate2") is not None


def ct2_declines(folder: Path) -> str | None:
    """Why ctranslate2 cannot run the model in ``folder`` (None: it can)."""
    if not ct2_installed():
        return "ctranslate2 is not installed (pip install ctranslate2)"
    config = folder / "config.json"
    if not config.exists():
        return f"{folder} has no config.json"
    from ctranslate2.converters.transformers import _MODEL_LOADERS
    from transformers import CONFIG_MAPPING

    model_type = json.loads(config.read_text()).get("model_type", "")
    if model_type not in CONFIG_MAPPING or CONFIG_MAPPING[model_type].__name__ not in _MODEL_LOADERS:
        return f"ctranslate2 has no converter for the model type '{model_type}'"
    return None


def choose(requested: str, folder: Path | None, declined: str | None = None) -> Choice:
    """The backend for a model whose architecture the Hugging Face folder ``folder`` describes (None when
    it has no plain weights: a prompt-learning run, an adapter that cannot be merged; ``declined`` says why)."""
    if requested not in NAMES:
        raise MentorError(f"Unknown backend '{requested}'; choose one of: {', '.join(NAMES)}.")
    if requested == "torch":
        return Choice("torch", None, "asked for")
    why = declined or (ct2_declines(folder) if folder is not None else "no plain weights to convert")
    if requested == "auto":
        if why:
            return Choice("torch", None, f"ctranslate2 declined: {why}")
        return Choice("ctranslate2", "float32", "the fastest installed backend that gives torch's answers for this "
                      "model; --backend ctranslate2:int8 is faster still but changes some answers")
    if why:
        raise MentorError(f"The backend '{requested}' cannot run this model: {why}. Backends tried: {requested}. "
                          "Use --backend torch (runs every model and method) or --backend auto.")
    return Choice("ctranslate2", requested.partition(":")[2] or "float32", "asked for")


def ct2_folder(source: Path, compute: str, cache_root: Path, label: str = "",
               build: Callable[[Path], None] | None = None) -> Path:
    """The ctranslate2 copy of the model whose weights are in ``source``, converted once into ``cache_root``
    (keyed by the source's path and weight files, so a retrained run converts again). ``build(folder)``
    writes a plain Hugging Face copy first when ``source`` is not one (a LoRA run, merged)."""
    stamp = [str(source.resolve())] + [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                        for p in sorted(source.glob("*.safetensors"))]
    key = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
    target = cache_root / "ctranslate2" / f"{label or source.name}-{key}-{compute}"
    if (target / "model.bin").exists():
        return target
    import tempfile

    import ctranslate2

    print(f"converting {label or source} for ctranslate2 ({compute}; once, kept in {target.parent})", flush=True)
    with tempfile.TemporaryDirectory(prefix="mentor-merged-") as merged, atomic_dir(target) as tmp:
        if build is not None:
            build(Path(merged))
        plain = merged if build is not None else str(source)
        converter = ctranslate2.converters.TransformersConverter(plain, low_cpu_mem_usage=True)
        converter.convert(str(tmp), quantization=None if compute == "float32" else compute, force=True)
    return target


class CT2Backend:
    """A ctranslate2 Generator. Rows with the same sampling settings decode as one batch. A row that arrives
    meanwhile joins at once: the running batch stops and starts again with it, each row continuing from its
    prompt plus what it has generated (ctranslate2 cannot add a sequence to a running batch; re-reading a
    short history costs far less than waiting for the batch's longest answer). Rows with penalties go to
    ``fallback``, the torch backend of the same weights (see ``_needs_torch``)."""

    name = "ctranslate2"
    POLL_SECONDS = 0.05  # how often a running batch asks for newly arrived rows

    def __init__(self, folder: Path, tokenizer, compute: str = "float32", threads: int = 0,
                 fallback: Backend | None = None):
        import ctranslate2

        if compute not in CT2_COMPUTE:
            raise MentorError(f"Unknown ctranslate2 weight type '{compute}'; choose one of: {', '.join(CT2_COMPUTE)}.")
        if threads <= 0:
            import torch

            threads = torch.get_num_threads()
        self.tokenizer, self.compute, self.fallback = tokenizer, compute, fallback
        self.generator = ctranslate2.Generator(str(folder), device="cpu", compute_type=compute, intra_threads=threads)
        self.eos = sorted(stop_token_ids(tokenizer))
        _GENERATORS.append(self.generator)
        _BACKENDS.add(self)

    def close(self) -> None:
        """Free the generator now (call from the thread that owns the backend, not from one of its callbacks)."""
        if self.generator is not None:
            _GENERATORS.remove(self.generator)
            self.generator = None

    def decode(self, rows: list[Row], admit: Callable[[int], list[Row]] | None = None) -> None:
        waiting = list(rows)
        while waiting:
            penalised = [r for r in waiting if _needs_torch(r.sampling)]
            if penalised:
                if self.fallback is None:
                    raise MentorError("penalties, constrained decoding (JSON schemas, tool calls) and logprobs need "
                                      "the torch backend (--backend torch).")
                self.fallback.decode(penalised)
            groups: dict[tuple, list[Row]] = {}
            for r in waiting:
                if not _needs_torch(r.sampling):
                    groups.setdefault(_group(r.sampling), []).append(r)
            waiting = []
            for group in groups.values():
                waiting += self._batch(group, admit)  # rows that arrived with other settings wait for the next round
            waiting += admit(0) if admit else []

    def _batch(self, rows: list[Row], admit: Callable[[int], list[Row]] | None) -> list[Row]:
        """Decode ``rows`` (same sampling) to their ends, taking in arriving rows with the same settings;
        returns arrivals that need other settings."""
        import time

        import ctranslate2

        s, key, eos, later = rows[0].sampling, _group(rows[0].sampling), set(self.eos), []
        if s.seed is not None:
            ctranslate2.set_random_seed(s.seed)
        live = list(rows)
        while live:
            joining: list[Row] = []
            polled = time.monotonic()

            def step(result) -> bool:
                nonlocal polled
                if joining:  # restarting with the newcomers: every row stops where it is
                    return True
                row = live[result.batch_id]
                if row.finish_reason is not None:
                    return True
                if row.cancelled():
                    row.finish_reason = "cancelled"
                    return True
                if result.token_id in eos:
                    row.update(row.text, "stop")
                    return True
                row.ids.append(result.token_id)
                row.update(self.tokenizer.decode(row.ids, skip_special_tokens=True),
                           "length" if len(row.ids) >= row.sampling.max_tokens else None)
                if admit and time.monotonic() - polled > self.POLL_SECONDS:
                    polled = time.monotonic()
                    for r in admit(sum(r.finish_reason is None for r in live)):
                        (joining if not _needs_torch(r.sampling) and _group(r.sampling) == key else later).append(r)
                    if joining:
                        return True
                return row.finish_reason is not None

            greedy = s.temperature <= 0
            self.generator.generate_batch(
                [self.tokenizer.convert_ids_to_tokens(r.prompt_ids + r.ids) for r in live],
                max_length=max(r.sampling.max_tokens - len(r.ids) for r in live),
                min_length=max(0, max(s.min_tokens - len(r.ids) for r in live)),
                include_prompt_in_result=False, end_token=self.eos, sampling_topk=1 if greedy else 0,
                sampling_topp=s.top_p, sampling_temperature=1.0 if greedy else s.temperature, callback=step)
            if not joining:
                for r in live:  # a row the generator ended without a step we saw (its limit)
                    if r.finish_reason is None:
                        r.update(r.text, "length")
            live = [r for r in live if r.finish_reason is None] + joining
        return later


# Every generator stays referenced here until CT2Backend.close() or exit. Left to the garbage collector, a
# generator can be destroyed on an arbitrary thread, one of its own workers included (a cycle collected while
# a decode callback runs); joining its worker threads there aborts the process ("terminate called without an
# active exception", seen twice in the test run after the ctranslate2 tests had finished).
_GENERATORS: list = []
_BACKENDS: weakref.WeakSet = weakref.WeakSet()  # to unhook live backends from their generators in close_all


@atexit.register
def close_all() -> None:
    """Free every ctranslate2 generator now, on the calling thread (at exit: the main thread, while the
    interpreter is whole). Backends still open can no longer decode."""
    for backend in list(_BACKENDS):
        backend.generator = None
    _GENERATORS.clear()
    import gc

    gc.collect()


def _needs_torch(s: Sampling) -> bool:
    """Penalties ctranslate2 lacks (presence, frequency) or counts differently (repetition: generated tokens
    only, where transformers and OpenAI-style servers count the prompt too); a grammar or logprobs (its
    generator takes no logits mask and reports no alternatives)."""
    return bool(s.presence_penalty or s.frequency_penalty or s.repetition_penalty != 1.0
                or s.constraint is not None or s.logprobs is not None)


def _group(s: Sampling) -> tuple:
    """Rows that can share one generate_batch call: everything but the token limit and stop strings."""
    return (s.temperature if s.temperature > 0 else 0.0, s.top_p if s.temperature > 0 else 1.0, s.seed, s.min_tokens)
