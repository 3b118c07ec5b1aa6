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

from mentor.data.formats import load_examples
from mentor.data.prepare import split
from mentor.data.template import IGNORE_INDEX, Encoded, encode
from mentor.errors import DataError, MentorError
from mentor.evaluate.diagnosis import not_learned
from mentor.files import atomic_write_json, atomic_write_text
from mentor.models import load_causal_lm, load_tokenizer
from mentor.precision import (autocast_context, model_device, resolve_device, resolve_precision,
                              trainable_layers_in_fp32)
from mentor.methods.artifact import artifact_dir, continue_from, keep_initial_adapter, read_method, save_artifact
from mentor.tune.batching import collate, epoch_batches
from mentor.tune.checkpoint import LoopState, list_checkpoints, load_checkpoint, save_checkpoint
from mentor.tune.config import TrainConfig, load_config
from mentor.tune.defaults import Choice, choose
from mentor.tune.distributed import Ranks, launch
from mentor.tune.early_stopping import EarlyStopping
from mentor.tune.loss import causal_lm, token_loss_sum
from mentor.methods import get_method
from mentor.metrics_log import MetricsLog
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
    config = _continue_config(config, ws)
    config, choices = _choose_defaults(config, ws)
    if choices and Ranks.current().main:
        out = console or Console(stderr=True)
        for c in choices:
            out.print(f"[dim]default[/] {c}", highlight=False, soft_wrap=True)
    if config.nproc > 1 and Ranks.current().world == 1:
        config = replace(config, name=name, output=str(run_dir))  # every rank writes to the same run
        launch(_train_rank, config.nproc, config, str(ws.home), resume, show_progress, choices)
        info = json.loads((run_dir / "run.json").read_text())
        return TrainResult(name, run_dir, info["steps"], info.get("train_loss"), info.get("val_loss_before"),
                           info.get("val_loss_after"), info.get("real_tokens_per_second", 0.0),
                           info.get("train_seconds", 0.0))
    return _train(config, ws, run_dir, name, resume, show_progress, console or Console(stderr=True), choices)


def _train_rank(config: TrainConfig, home: str, resume: bool, show_progress: bool, choices: list[Choice]) -> None:
    ws = Workspace(home)
    run_dir, name = _run_folder(config, ws)
    _train(config, ws, run_dir, name, resume, show_progress, Console(stderr=True), choices)


def _from_folder(config: TrainConfig, ws: Workspace) -> Path | None:
    """The trained artifact of ``config.from_run`` (None without one)."""
    if not config.from_run:
        return None
    folder = artifact_dir(ws.run_path(config.from_run))
    if folder is None:
        raise MentorError(f"--from {config.from_run}: the run has no trained model yet (finish it first).")
    return folder


def _continue_config(config: TrainConfig, ws: Workspace) -> TrainConfig:
    """With ``from_run``: the run's base model, method and method options (the weights must fit the shape)."""
    from mentor.models.aliases import DEFAULT_LLM

    folder = _from_folder(config, ws)
    if folder is None:
        return config
    method, options, base = read_method(folder)
    if config.model not in (DEFAULT_LLM, base):
        raise MentorError(f"--from {config.from_run}: that run was trained on '{base}', not '{config.model}' "
                          "(leave --model out: continuing takes the run's base model).")
    from dataclasses import asdict

    if config.method not in ("lora", method.name):  # "lora" is also the default when none was given
        raise MentorError(f"--from {config.from_run}: that run is a {method.name} run; it continues as one.")
    ours = asdict(options)
    if isinstance(ours.get("init_lora_weights"), str):  # PiSSA/OLoRA: saved converted to a plain LoRA
        ours["init_lora_weights"] = True
    if config.method_options and any(ours.get(k) != v for k, v in config.method_options.items()):
        key = next(k for k, v in config.method_options.items() if ours.get(k) != v)
        raise MentorError(f"--from {config.from_run}: '{key}' must stay {ours.get(key)!r} (the run's {method.name} "
                          "adapter is continued as it is).")
    return replace(config, model=base, method=method.name, method_options=ours)


def _choose_defaults(config: TrainConfig, ws: Workspace) -> tuple[TrainConfig, list[Choice]]:
    """Settings left unset, chosen from the data (a resumed run's saved config has them all)."""
    if config.objective == "dpo":
        from mentor.tune.preference import load_pairs

        if config.val or config.teacher or config.eval_generate or config.train_on != "assistant":
            raise MentorError("--objective dpo trains on preference pairs alone: no --val, --teacher, --eval-generate "
                              "or --train-on all.")
        examples = [c for c, _ in load_pairs(config.data)]
        config = replace(config, val_ratio=0.0 if config.val_ratio is None else config.val_ratio,
                         early_stopping_metric=config.early_stopping_metric or "val_loss")
        if config.val_ratio:
            raise MentorError("--objective dpo keeps no validation split (--val-ratio 0): its loss is not a held-out score.")
    else:
        examples = load_examples(config.data)
    references = [ex.prompt_and_reference()[1] for ex in examples if not ex.is_text]
    lengths = None
    if config.max_length is None:
        tokenizer = load_tokenizer(config.model, ws, config.trust_remote_code)
        lengths = [len(encode(ex, tokenizer, 10**9, config.train_on).input_ids) for ex in examples]
    return choose(config, len(examples), references, lengths)


def _train(config: TrainConfig, ws: Workspace, run_dir: Path, name: str, resume: bool, show_progress: bool,
           console: Console, choices: list[Choice] = ()) -> TrainResult:
    ranks = Ranks.current()
    checkpoints = list_checkpoints(run_dir) if resume else []
    torch.manual_seed(config.seed)  # the same initial adapter on every rank
    tokenizer = load_tokenizer(config.model, ws, config.trust_remote_code)
    train_set, val_set, val_chats = _datasets(config, tokenizer, console)
    general = None  # read the forgetting-check questions now: a bad file should fail before training, not after
    if config.check_forgetting and ranks.main:
        from mentor.evaluate.general import load_questions

        general = load_questions(config.check_forgetting, config.forgetting_questions)
    method, options = get_method(config.method), config.options()
    device = _device(config.device, ranks)
    precision = resolve_precision(config.precision, device)
    extra = method.load_kwargs(options)
    # On a GPU, LoRA/DoRA keep the frozen base in bf16 and the adapter in fp32 (peft casts the adapter's
    # input), without autocast: half the base weight memory (peak 13.3 GB at 1.7B on an H100, Trainer fp32 20.6).
    bf16_base = precision == "bf16" and device.startswith("cuda") and method.name in ("lora", "dora")
    if bf16_base:
        extra["dtype"] = torch.bfloat16
    start = _from_folder(config, ws)
    weights = str(start) if start is not None and method.storage == "full" else config.model
    model = method.build(load_causal_lm(weights, ws, trust_remote_code=config.trust_remote_code,
                                        device=device, **extra), options, tokenizer)
    if start is not None and method.storage != "full" and not checkpoints:
        continue_from(model, start)
    loss_fn = token_loss_sum
    if config.objective == "dpo":
        from mentor.tune.preference import dpo_loss

        loss_fn = dpo_loss(config.dpo_beta)
    if config.teacher:
        from mentor.tune.distill_loss import distill_loss_for

        loss_fn = distill_loss_for(config, ws, tokenizer, train_set, run_dir, console, device)
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
    sizes = {"trainable_parameters": trainable, "parameters": total_params, "precision": precision, "device": device,
             "processes": ranks.world, "train_examples": len(train_set), "val_examples": len(val_set)}
    if choices:
        sizes["defaults"] = [c.to_json() for c in choices]
    if config.eval_generate and val_set:
        sizes["task_metric"] = config.early_stopping_metric
    # the best checkpoint by a task score is kept even without early stopping
    stopper = (EarlyStopping(config.early_stopping_metric, config.early_stopping_patience)
               if val_set and (config.early_stopping_patience or config.early_stopping_metric != "val_loss") else None)
    if ranks.main:
        _write_status(run_dir, ws, name, config, "running", {"steps": total_steps, **sizes})
    autocast = nullcontext() if bf16_base else autocast_context(precision, device)
    if precision == "bf16" and method.storage != "full" and not bf16_base:
        trainable_layers_in_fp32(model)
    if config.objective == "dpo":  # the reference: the model before its first step, in the same numerics
        from mentor.tune.preference import with_reference

        train_set = with_reference(model, train_set, tokenizer.pad_token_id, device, run_dir, config.batch_size,
                                   autocast, bool(checkpoints))
    if config.gradient_checkpointing:
        causal_lm(model).gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    pad = tokenizer.pad_token_id
    validate = _Validation(model, tokenizer, val_set, val_chats, config, ranks, autocast)
    if val_set and not checkpoints:
        scores = validate()
        val_before = scores["val_loss"]
        if ranks.main:
            metrics.write(step=0, epoch=0, **scores)
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
            stop = False
            while state.step < total_steps and not stop:
                batches = epoch_batches(lengths, config.batch_size, config.seed, state.epoch, config.group_by_length)
                while state.batches_done < len(batches) and state.step < total_steps and not stop:
                    group = batches[state.batches_done:state.batches_done + micro_per_step]
                    step_started = time.perf_counter()
                    supervised = sum(_supervised(train_set[i]) for b in group for i in b)
                    tensors = [collate([train_set[i] for i in b], pad, device) for b in group[ranks.rank::ranks.world]]
                    loss_sum = 0.0
                    for t in tensors:
                        with autocast:
                            part, _ = loss_fn(model, t)
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
                        scores = validate()
                        last_val = scores["val_loss"]
                        if ranks.main:
                            metrics.write(step=state.step, epoch=epoch_at, **scores)
                            progress.console.print(f"step {state.step}: train loss {last_loss:.4f}, "
                                                   + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
                        stop = stopper is not None and stopper.update(scores, state.step, model)
                        if stop and ranks.main:
                            progress.console.print(
                                f"early stop: {config.early_stopping_metric} has not improved for "
                                f"{stopper.patience} evaluations; keeping step {stopper.best_step} "
                                f"({config.early_stopping_metric} {stopper.best:.4f})")
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
    if stopper is not None and stopper.best_step not in (0, state.step):
        stopper.restore_best(model)
        if stopper.metric == "val_loss":
            last_val = stopper.best
        else:
            with autocast:
                last_val = evaluate(model, val_set, config.batch_size, pad, ranks)
        sizes.update(best_step=stopper.best_step, **{f"best_{stopper.metric}": stopper.best})
        if stop:
            sizes["stopped_early_at"] = state.step
        if ranks.main:
            console.print(f"kept the best checkpoint: step {stopper.best_step} ({stopper.metric} {stopper.best:.4f})")
    speed = real_tokens / max(train_seconds, 1e-9)
    result = TrainResult(name, run_dir, state.step, last_loss, val_before, last_val, round(speed, 1),
                         round(train_seconds, 2), model.eval())
    if ranks.main:
        save_artifact(run_dir, model, method, options, tokenizer, config.model)
        atomic_write_json(run_dir / "eval.json", {"val_loss_before": val_before, "val_loss_after": last_val,
                                                  "train_loss": last_loss, "steps": state.step})
        if general is not None:
            sizes["forgetting"] = _check_forgetting(model, tokenizer, config, general, run_dir, ws, method, console)
        _write_status(run_dir, ws, name, config, "succeeded", {**result.to_json(), **sizes})
        finding = not_learned(metrics.read(), sizes.get("task_metric"))
        if finding is not None:
            console.print(f"[yellow]{finding.message}")
    ranks.barrier()
    return result


class _Validation:
    """Validation loss (and with ``eval_generate``, answers to that many validation examples scored
    with ROUGE-L, BLEU and F1), the same on every rank."""

    def __init__(self, model, tokenizer, val_set, val_chats, config: TrainConfig, ranks: Ranks, autocast):
        self.model, self.tokenizer, self.val_set, self.config, self.ranks, self.autocast = (
            model, tokenizer, val_set, config, ranks, autocast)
        self.pairs = [c.prompt_and_reference() for c in val_chats[:config.eval_generate]]
        self.scorer = None
        if config.scorer and self.pairs:
            from mentor.evaluate.scores import load_scorer

            self.scorer = load_scorer(config.scorer)  # a bad spec fails now, not at the first validation

    def __call__(self) -> dict[str, float]:
        with self.autocast:
            loss = evaluate(self.model, self.val_set, self.config.batch_size, self.tokenizer.pad_token_id, self.ranks)
            scores = {"val_loss": loss, "val_perplexity": math.exp(loss)}
            if self.pairs:
                scores.update(self._generation_scores())
        return scores

    def _generation_scores(self) -> dict[str, float]:
        from mentor.evaluate.scores import score
        from mentor.generation import GenerationOptions, LoadedModel, generate

        was_training = self.model.training
        self.model.eval()
        lm = LoadedModel(self.model, self.tokenizer, self.config.model)
        answers = generate(lm, [p for p, _ in self.pairs], GenerationOptions(self.config.eval_max_new_tokens))
        self.model.train(was_training)
        metrics = ("rougeL", "bleu", "f1", "exact_match") + (("json",) if self.config.early_stopping_metric == "json" else ())
        found = score(answers, [r for _, r in self.pairs], metrics, regex=self.config.regex, scorer=self.scorer)
        return {m: r.value for m, r in found.items()}


def _check_forgetting(model, tokenizer, config: TrainConfig, questions: list, run_dir: Path, ws: Workspace, method,
                      console) -> dict:
    """Base vs tuned on the general-knowledge files; full results in evaluations/, a summary returned."""
    from mentor.evaluate.evaluation import EvalResult, save_result
    from mentor.evaluate.general import forgetting
    from mentor.generation import LoadedModel

    lm = LoadedModel(model.eval(), tokenizer, config.model, run_dir, method.storage == "peft", ws)
    with console.status(f"forgetting check: {len(questions)} general-knowledge questions, base vs tuned"):
        found = forgetting(lm, questions)
    result = EvalResult(",".join(config.check_forgetting), config.model, run_dir.name)
    result.extra["forgetting"] = found
    save_result(result, ws, run_dir, kind="forgetting")
    summary = {k: found[k] for k in ("accuracy_delta", "probe_perplexity_change_pct") if k in found}
    parts = [f"accuracy {found['base']['accuracy']:.1f}% -> {found['tuned']['accuracy']:.1f}%"] if questions else []
    parts += [f"{n} perplexity {c:+.1f}%" for n, c in found["probe_perplexity_change_pct"].items()]
    console.print("forgetting check: " + ", ".join(parts))
    return summary


def _parameter_count(p: torch.nn.Parameter) -> int:
    """Logical size: a bitsandbytes 4-bit parameter stores two weights per byte element."""
    state = getattr(p, "quant_state", None)
    return math.prod(state.shape) if state is not None and hasattr(state, "shape") else p.numel()


def _supervised(example: Encoded) -> int:
    """Tokens that carry loss after the one-position shift (what token_loss_sum counts); a preference pair
    counts once (the DPO loss is a mean over pairs)."""
    if hasattr(example, "rejected"):
        return 1
    return sum(1 for y in example.labels[1:] if y != IGNORE_INDEX)


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
        loss, n = token_loss_sum(model, collate([examples[i] for i in mine[s:s + batch_size]], pad_id, model_device(model)))
        total, count = total + loss.item(), count + n
    model.train(was_training)
    return ranks.sum(total) / max(ranks.sum(count), 1)


def _device(device: str, ranks: Ranks) -> str:
    """The run's device; each data-parallel rank on a GPU gets its own (set by the launcher)."""
    device = resolve_device(device)
    if device.startswith("cuda") and ranks.world > 1:
        return f"cuda:{torch.cuda.current_device()}"
    return device


def _run_folder(config: TrainConfig, ws: Workspace) -> tuple[Path, str]:
    if config.output:
        path = Path(config.output).resolve()
        return path, config.name or path.name
    name = config.name or f"{config.method}-{Path(config.model).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return ws.runs_dir / name, name


def _datasets(config: TrainConfig, tokenizer, console: Console) -> tuple[list[Encoded], list[Encoded], list]:
    if config.objective == "dpo":
        from mentor.tune.preference import encode_pairs, load_pairs

        pairs = load_pairs(config.data)
        encoded = encode_pairs(pairs, tokenizer, config.max_length)
        if not encoded:
            raise DataError(f"No trainable pairs in {config.data}: every answer was cut off at {config.max_length} tokens.")
        if len(encoded) < len(pairs):
            console.print(f"[yellow]{len(pairs) - len(encoded)} pairs have an answer cut off entirely; skipped.")
        return encoded, [], []
    train_examples = load_examples(config.data)
    if config.val:
        val_examples = load_examples(config.val)
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
    return encoded, val, [ex for ex in val_examples if not ex.is_text]


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
