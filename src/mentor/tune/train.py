"""The one training loop: any method, length-grouped batches, selective loss, checkpoints, resume."""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mentor.data.formats import load
from mentor.data.prepare import split
from mentor.data.template import IGNORE_INDEX, Encoded, encode
from mentor.errors import DataError, MentorError
from mentor.files import atomic_write_json, atomic_write_text
from mentor.models import load_causal_lm, load_tokenizer
from mentor.tune.artifact import artifact_dir, keep_initial_adapter, save_artifact
from mentor.tune.batching import collate, epoch_batches
from mentor.tune.checkpoint import LoopState, list_checkpoints, load_checkpoint, save_checkpoint
from mentor.tune.config import TrainConfig, load_config
from mentor.tune.distributed import Ranks, launch
from mentor.tune.loss import causal_lm, token_loss_sum
from mentor.tune.methods import get_method
from mentor.tune.metrics import MetricsLog
from mentor.workspace import Workspace


@dataclass
class TrainResult:
    name: str
    run_dir: Path
    steps: int
    train_loss: float | None
    val_loss_before: float | None
    val_loss_after: float | None
    real_tokens_per_second: float  # non-padding tokens processed per second of training
    train_seconds: float = 0.0  # time in training steps (this session; no loading or validation)
    model: object = field(default=None, repr=False, compare=False)  # the trained model, still in memory

    def to_json(self) -> dict:
        return {"name": self.name, "run_dir": str(self.run_dir), "steps": self.steps, "train_loss": self.train_loss,
                "val_loss_before": self.val_loss_before, "val_loss_after": self.val_loss_after,
                "real_tokens_per_second": self.real_tokens_per_second, "train_seconds": self.train_seconds}


def train(config: TrainConfig, workspace: Workspace | None = None, resume: bool = False,
          show_progress: bool = True, console: Console | None = None) -> TrainResult:
    """Train ``config.method`` on ``config.data``; the run folder describes itself when done.

    With ``config.nproc > 1`` the work is spread over that many data-parallel processes.
    """
    ws = workspace or Workspace()
    run_dir, name = _run_folder(config, ws)
    if not resume and (run_dir / "run.json").exists():
        raise MentorError(f"Run folder {run_dir} already holds a run; pass --resume {name} to continue it "
                          "or choose another --name/--output.")
    if config.nproc > 1 and Ranks.current().world == 1:
        config = replace(config, name=name, output=str(run_dir))  # every rank writes to the same run
        launch(_train_rank, config.nproc, config, str(ws.home), resume, show_progress)
        info = json.loads((run_dir / "run.json").read_text())
        return TrainResult(name, run_dir, info["steps"], info.get("train_loss"), info.get("val_loss_before"),
                           info.get("val_loss_after"), info.get("real_tokens_per_second", 0.0),
                           info.get("train_seconds", 0.0))
    return _train(config, ws, run_dir, name, resume, show_progress, console or Console(stderr=True))


def _train_rank(config: TrainConfig, home: str, resume: bool, show_progress: bool) -> None:
    ws = Workspace(home)
    run_dir, name = _run_folder(config, ws)
    _train(config, ws, run_dir, name, resume, show_progress, Console(stderr=True))


def _train(config: TrainConfig, ws: Workspace, run_dir: Path, name: str, resume: bool, show_progress: bool,
           console: Console) -> TrainResult:
    ranks = Ranks.current()
    checkpoints = list_checkpoints(run_dir) if resume else []
    torch.manual_seed(config.seed)  # the same initial adapter on every rank
    tokenizer = load_tokenizer(config.model, ws, config.trust_remote_code)
    train_set, val_set = _datasets(config, tokenizer, console)
    method, options = get_method(config.method), config.options()
    extra = method.load_kwargs(options)
    model = method.build(load_causal_lm(config.model, ws, trust_remote_code=config.trust_remote_code, **extra),
                         options, tokenizer)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    lengths = [len(e.input_ids) for e in train_set]
    micro_per_step = config.grad_accum * ranks.world
    batches_per_epoch = math.ceil(len(train_set) / config.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / micro_per_step)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    # Normalise every step by the epoch's mean supervised tokens per step, not by the step's own count:
    # with length-grouped batches the latter would give each token of a short-example step more weight
    # than a token of a long-example step. This way every token weighs the same, as in one big batch.
    tokens_per_step = sum(_supervised(e) for e in train_set) / steps_per_epoch
    from transformers import get_scheduler

    scheduler = get_scheduler(config.lr_scheduler, optimizer, num_warmup_steps=int(config.warmup_ratio * total_steps),
                              num_training_steps=total_steps)
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    state = LoopState()
    val_before = None
    if checkpoints:
        state = load_checkpoint(checkpoints[-1], model, optimizer, scheduler)
        val_before = _previous_eval(run_dir).get("val_loss_before")
        if ranks.main:
            metrics.truncate_after(state.step)
            console.print(f"Resuming run [bold]{name}[/] from step {state.step}/{total_steps}.")
    elif ranks.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", config.to_yaml())
        metrics.path.unlink(missing_ok=True)
        keep_initial_adapter(run_dir, model)
    trainable = sum(p.numel() for p in params)
    total_params = sum(_parameter_count(p) for p in model.parameters())
    precision = resolve_precision(config.precision)
    sizes = {"trainable_parameters": trainable, "parameters": total_params, "precision": precision,
             "processes": ranks.world}
    if ranks.main:
        _write_status(run_dir, ws, name, config, "running", {"steps": total_steps, **sizes})
    autocast = autocast_context(precision)
    if config.gradient_checkpointing:
        causal_lm(model).gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    pad = tokenizer.pad_token_id
    if val_set and not checkpoints:
        with autocast:
            val_before = evaluate(model, val_set, config.batch_size, pad, ranks)
        if ranks.main:
            metrics.write(step=0, epoch=0, val_loss=val_before, val_perplexity=math.exp(val_before))
    last_loss, last_val = None, None
    real_tokens, train_seconds = 0, 0.0  # this session's non-padding tokens and time in training steps
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} tok/s"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        disable=not (show_progress and ranks.main))
    model.train()
    try:
        with progress:
            task = progress.add_task(f"training {name}", total=total_steps, completed=state.step, loss="-", speed="-")
            while state.step < total_steps:
                batches = epoch_batches(lengths, config.batch_size, config.seed, state.epoch, config.group_by_length)
                while state.batches_done < len(batches) and state.step < total_steps:
                    group = batches[state.batches_done:state.batches_done + micro_per_step]
                    step_started = time.perf_counter()
                    supervised = sum(_supervised(train_set[i]) for b in group for i in b)
                    tensors = [collate([train_set[i] for i in b], pad) for b in group[ranks.rank::ranks.world]]
                    loss_sum = 0.0
                    for t in tensors:
                        with autocast:
                            part, _ = token_loss_sum(model, t)
                        (part / tokens_per_step).backward()
                        loss_sum += part.item()
                    ranks.sum_grads(params)
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    loss_sum = ranks.sum(loss_sum)
                    real_tokens += int(ranks.sum(sum(int(t["attention_mask"].sum()) for t in tensors)))
                    step_seconds = time.perf_counter() - step_started
                    train_seconds += step_seconds
                    state = LoopState(state.step + 1, state.epoch, state.batches_done + len(group),
                                      state.tokens + supervised, state.elapsed + step_seconds)
                    last_loss = loss_sum / max(supervised, 1)
                    speed = real_tokens / max(train_seconds, 1e-9)
                    epoch_at = state.epoch + state.batches_done / len(batches)
                    if ranks.main and state.step % config.log_steps == 0:
                        metrics.write(step=state.step, epoch=epoch_at, train_loss=last_loss,
                                      learning_rate=scheduler.get_last_lr()[0], real_tokens_per_s=round(speed, 1))
                    epoch_done = state.batches_done >= len(batches)
                    if val_set and (epoch_done or state.step == total_steps
                                    or (config.eval_steps and state.step % config.eval_steps == 0)):
                        with autocast:
                            last_val = evaluate(model, val_set, config.batch_size, pad, ranks)
                        if ranks.main:
                            metrics.write(step=state.step, epoch=epoch_at, val_loss=last_val,
                                          val_perplexity=math.exp(last_val))
                            progress.console.print(f"step {state.step}: train loss {last_loss:.4f}, val loss {last_val:.4f}")
                    if epoch_done:
                        state = LoopState(state.step, state.epoch + 1, 0, state.tokens, state.elapsed)
                    if ranks.main and (epoch_done or state.step % config.save_steps == 0):
                        save_checkpoint(run_dir, model, optimizer, scheduler, state, config.keep_checkpoints)
                    progress.update(task, completed=state.step, loss=f"{last_loss:.3f}", speed=f"{speed:.0f}")
    except KeyboardInterrupt:
        optimizer.zero_grad(set_to_none=True)
        if ranks.main:
            save_checkpoint(run_dir, model, optimizer, scheduler, state, config.keep_checkpoints)
            _write_status(run_dir, ws, name, config, "interrupted", {"step": state.step})
        raise MentorError(f"Training interrupted at step {state.step}; continue with: mentor train --resume {name}") from None
    except BaseException:
        if ranks.main:
            _write_status(run_dir, ws, name, config, "failed", {"step": state.step})
        raise
    speed = real_tokens / max(train_seconds, 1e-9)
    result = TrainResult(name, run_dir, state.step, last_loss, val_before, last_val, round(speed, 1),
                         round(train_seconds, 2), model.eval())
    if ranks.main:
        save_artifact(run_dir, model, method, options, tokenizer, config.model)
        atomic_write_json(run_dir / "eval.json", {"val_loss_before": val_before, "val_loss_after": last_val,
                                                  "train_loss": last_loss, "steps": state.step})
        _write_status(run_dir, ws, name, config, "succeeded", {**result.to_json(), **sizes})
    ranks.barrier()
    return result


def _parameter_count(p: torch.nn.Parameter) -> int:
    """Logical size: a bitsandbytes 4-bit parameter stores two weights per byte element."""
    state = getattr(p, "quant_state", None)
    return math.prod(state.shape) if state is not None and hasattr(state, "shape") else p.numel()


def _supervised(example: Encoded) -> int:
    """Tokens that carry loss after the one-position shift (what token_loss_sum counts)."""
    return sum(1 for y in example.labels[1:] if y != IGNORE_INDEX)


def resolve_precision(precision: str) -> str:
    """``auto`` -> bf16 autocast when the CPU has native bf16 (avx512_bf16 / AMX), else fp32."""
    if precision != "auto":
        return precision
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"


def autocast_context(precision: str):
    """bf16 autocast on the CPU for ``bf16`` (or ``auto`` on bf16 hardware); otherwise nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if resolve_precision(precision) == "bf16" else nullcontext()


def resume(run: str, workspace: Workspace | None = None, **kwargs) -> TrainResult:
    """Continue an interrupted or crashed run from its last checkpoint."""
    ws = workspace or Workspace()
    run_dir = ws.run_path(run)
    config = load_config(run_dir / "config.yaml")
    config.output = str(run_dir)
    config.name = run_dir.name if config.name is None else config.name
    if artifact_dir(run_dir) is not None:
        raise MentorError(f"Run {config.name} already finished; nothing to resume.")
    return train(config, ws, resume=True, **kwargs)


@torch.no_grad()
def evaluate(model, examples: list[Encoded], batch_size: int, pad_id: int, ranks: Ranks | None = None) -> float:
    """Mean cross-entropy per supervised token over ``examples`` (shared out across ranks)."""
    ranks = ranks or Ranks()
    was_training = model.training
    model.eval()
    mine = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))[ranks.rank::ranks.world]
    total, count = 0.0, 0
    for s in range(0, len(mine), batch_size):
        loss, n = token_loss_sum(model, collate([examples[i] for i in mine[s:s + batch_size]], pad_id))
        total, count = total + loss.item(), count + n
    model.train(was_training)
    return ranks.sum(total) / max(ranks.sum(count), 1)


def _run_folder(config: TrainConfig, ws: Workspace) -> tuple[Path, str]:
    if config.output:
        path = Path(config.output).resolve()
        return path, config.name or path.name
    name = config.name or f"{config.method}-{Path(config.model).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return ws.runs_dir / name, name


def _datasets(config: TrainConfig, tokenizer, console: Console) -> tuple[list[Encoded], list[Encoded]]:
    train_examples = _load_valid(config.data)
    if config.val:
        val_examples = _load_valid(config.val)
    else:
        train_examples, val_examples = split(train_examples, config.val_ratio, config.seed)
    encoded = []
    for ex in train_examples:
        enc = encode(ex, tokenizer, config.max_length, config.train_on)
        if enc.trained_tokens:
            encoded.append(enc)
    dropped = len(train_examples) - len(encoded)
    if dropped:
        console.print(f"[yellow]{dropped} examples have nothing to learn after truncation to {config.max_length} tokens; skipped.")
    if not encoded:
        raise DataError(f"No trainable examples in {config.data} (check it with: mentor data check {config.data}).")
    val = [e for e in (encode(ex, tokenizer, config.max_length, config.train_on) for ex in val_examples) if e.trained_tokens]
    return encoded, val


def _load_valid(path: str):
    result = load(path)
    if result.errors:
        first = result.errors[0]
        raise DataError(f"{len(result.errors)} problem(s) in {path}, first: {first}. "
                        f"See all with: mentor data check {path}")
    return result.examples


def _previous_eval(run_dir: Path) -> dict:
    for record in MetricsLog(run_dir / "metrics.jsonl").read():
        if record.get("step") == 0 and "val_loss" in record:
            return {"val_loss_before": record["val_loss"]}
    return {}


def _write_status(run_dir: Path, ws: Workspace, name: str, config: TrainConfig, status: str, extra: dict) -> None:
    previous = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    info = {**previous, **extra, "name": name, "status": status, "base_model": config.model,
            "method": config.method, "updated": time.time()}
    info.setdefault("created", time.time())
    atomic_write_json(run_dir / "run.json", info)
    ws.save_run(name, run_dir, config.model, config.method, status, info)
