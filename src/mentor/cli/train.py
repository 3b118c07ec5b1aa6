"""`mentor train`: a YAML recipe and/or flags; `--resume RUN` continues after a crash or Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from mentor.errors import MentorError
from mentor.tune import load_config, resume, train


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)


def train_cmd(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML recipe (flags override it)"),
    model: Optional[str] = typer.Option(None, help="alias, local folder or hub id"),
    data: Optional[str] = typer.Option(None, help="training data file"),
    val: Optional[str] = typer.Option(None, help="validation file (default: hold out --val-ratio of --data)"),
    val_ratio: Optional[float] = typer.Option(None, "--val-ratio",
                                              help="share of --data held out (default: none under 100 rows, else 10%)"),
    method: Optional[str] = typer.Option(None, help="full, freeze, lora, dora, qlora, ia3, adapter, prefix, prompt, ptuning, ptuning-v2"),
    objective: Optional[str] = typer.Option(None, help="sft (default: learn the data's answers) or dpo (preference "
                                                        "rows: prompt, chosen, rejected), with any --method"),
    dpo_beta: Optional[float] = typer.Option(None, "--dpo-beta", help="DPO's beta (default 0.1)"),
    epochs: Optional[float] = typer.Option(None, help="default: 3, more for small data (100+ steps, at most 5)"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum"),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="default: the method's"),
    lr_scheduler: Optional[str] = typer.Option(None, "--lr-scheduler", help="linear (default), cosine, constant, "
                                                                            "constant_with_warmup"),
    max_length: Optional[int] = typer.Option(None, "--max-length"),
    seed: Optional[int] = typer.Option(None),
    device: Optional[str] = typer.Option(None, help="auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:N"),
    precision: Optional[str] = typer.Option(None, help="auto (bf16 autocast where the hardware has bf16), fp32 or bf16"),
    gradient_checkpointing: Optional[bool] = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
    train_on: Optional[str] = typer.Option(None, "--train-on", help="assistant (default) or all tokens"),
    r: Optional[int] = typer.Option(None, "--r", help="LoRA rank (lora, dora, qlora)"),
    lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha"),
    lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout"),
    target_modules: Optional[str] = typer.Option(None, "--target-modules", help="comma-separated, or all-linear"),
    option: list[str] = typer.Option([], "--option", "-o", help="method option KEY=VALUE (YAML value), repeatable"),
    eval_steps: Optional[int] = typer.Option(None, "--eval-steps", help="validate every N steps (and every epoch)"),
    eval_generate: Optional[int] = typer.Option(None, "--eval-generate",
                                                help="at each validation also answer N validation examples (ROUGE-L, BLEU, F1)"),
    early_stopping_patience: Optional[int] = typer.Option(None, "--early-stopping-patience",
                                                          help="stop after N validations without improvement; keep the best"),
    early_stopping_metric: Optional[str] = typer.Option(
        None, "--early-stopping-metric", help="the validation metric whose best checkpoint is kept: val_loss, rougeL, "
        "bleu, f1, exact_match, json, regex, scorer (default: a task check when there is one, else val_loss)"),
    scorer: Optional[str] = typer.Option(None, "--scorer", help="task check for validation answers: module:function or "
                                                                "file.py:function(prediction, reference) -> bool or [0, 1]"),
    regex: Optional[str] = typer.Option(None, "--regex", help="task check: validation answers must match this pattern"),
    check_forgetting: Optional[list[str]] = typer.Option(None, "--check-forgetting",
                                                         help="general-knowledge question files/folders (MMLU/CMMLU style): base vs tuned at the end"),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="logit distillation from this model or run"),
    distill_alpha: Optional[float] = typer.Option(None, "--distill-alpha", help="weight of cross-entropy (rest: divergence)"),
    distill_temperature: Optional[float] = typer.Option(None, "--distill-temperature"),
    distill_divergence: Optional[str] = typer.Option(None, "--distill-divergence", help="forward_kl, reverse_kl or jsd"),
    teacher_topk: Optional[int] = typer.Option(None, "--teacher-topk", help="store the teacher's top-k log-probs once"),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", help="checkpoint every N steps"),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="data-parallel processes (gloo on CPU, NCCL on GPUs)"),
    name: Optional[str] = typer.Option(None, help="run name in the workspace"),
    output: Optional[str] = typer.Option(None, help="run folder (default: workspace runs/<name>)"),
    from_run: Optional[str] = typer.Option(None, "--from", help="continue fine-tuning this finished run on new data "
                                                                "(its base model, method and adapter as the start)"),
    resume_run: Optional[str] = typer.Option(None, "--resume", help="continue this run from its last checkpoint"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="allow the model's own Python code"),
) -> None:
    """Fine-tune a model; writes a self-describing run folder (config, adapter, tokenizer, metrics)."""
    if resume_run:
        result = resume(resume_run)
    else:
        lora = {k: v for k, v in {"r": r, "lora_alpha": lora_alpha, "lora_dropout": lora_dropout,
                                  "target_modules": _modules(target_modules)}.items() if v is not None}
        lora.update(_options(option))
        cfg = load_config(config, from_run=from_run, model=model, data=data, val=val, val_ratio=val_ratio, method=method, objective=objective,
                          dpo_beta=dpo_beta, epochs=epochs,
                          max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
                          learning_rate=learning_rate, lr_scheduler=lr_scheduler, scorer=scorer, regex=regex,
                          max_length=max_length, seed=seed, device=device, precision=precision, train_on=train_on,
                          gradient_checkpointing=gradient_checkpointing,
                          eval_steps=eval_steps, eval_generate=eval_generate,
                          early_stopping_patience=early_stopping_patience, early_stopping_metric=early_stopping_metric,
                          check_forgetting=check_forgetting or None, teacher=teacher, distill_alpha=distill_alpha,
                          distill_temperature=distill_temperature, distill_divergence=distill_divergence,
                          teacher_topk=teacher_topk, save_steps=save_steps, nproc=nproc, name=name, output=output,
                          trust_remote_code=trust_remote_code or None, method_options=lora or None)
        result = train(cfg)
    table = Table("result", "value", show_header=False, title=f"run {result.name}")
    table.add_row("steps", str(result.steps))
    for label, value in (("validation loss before", result.val_loss_before), ("validation loss after", result.val_loss_after),
                         ("last training loss", result.train_loss)):
        table.add_row(label, f"{value:.4f}" if value is not None else "-")
    table.add_row("real tokens/s", f"{result.real_tokens_per_second:.0f}")
    table.add_row("run folder", str(result.run_dir))
    Console().print(table)


def _options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise MentorError(f"--option expects KEY=VALUE, got '{pair}'.")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _modules(value: str | None):
    if value is None or value == "all-linear":
        return value
    return [m.strip() for m in value.split(",") if m.strip()]
