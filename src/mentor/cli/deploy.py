"""`mentor export`, `mentor quantize`, `mentor advise` (and `advise memory`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mentor.errors import MentorError


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
    app.command("quantize")(quantize_cmd)
    advise_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
    advise_app.callback()(advise_cmd)
    advise_app.command("memory")(memory_cmd)
    app.add_typer(advise_app, name="advise", help="Fine-tuning, RAG or distillation? Which method fits? Memory.")


def export_cmd(
    run: str = typer.Argument(..., help="run name or folder (or a model: alias, folder)"),
    fmt: str = typer.Option("hf", "--format", help="hf (merged model folder), adapter (PEFT folder) or gguf"),
    quantize: str = typer.Option(None, "--quantize", help="hf: f32, f16, bf16; gguf: f16 (default), bf16, q8_0, "
                                                          "q4_0, f32"),
    out: Path = typer.Option(..., "--out", help="new folder for the export"),
) -> None:
    """Export a run for a serving stack: transformers/vLLM (hf, adapter), llama.cpp/Ollama (gguf + Modelfile)."""
    from mentor.deploy.export import MANIFEST, export

    path = export(run, fmt, out, quantize)
    Console().print(f"exported {run} as {fmt} to {path} (checksums in {MANIFEST})")
    if fmt == "gguf":
        Console().print(f"Ollama: cd {path} && ollama create {Path(run).name.lower()} -f Modelfile")


def quantize_cmd(
    model: str = typer.Argument(..., help="run name or folder, or a model (alias, folder)"),
    to: str = typer.Option(..., "--to", help="int8 (CPU weight-only; bitsandbytes 8-bit on CUDA), int4 (CPU), "
                                             "nf4 (bitsandbytes)"),
    out: Path = typer.Option(..., "--out", help="new folder for the quantised model"),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
) -> None:
    """Quantise a model for inference; every Mentor command loads the result like any model folder."""
    from mentor.deploy.quantize import quantize

    path = quantize(model, to, out, device=device)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    Console().print(f"{to} model written to {path} ({size:.0f} MiB); try: mentor generate --model {path} ...")


def _ask(flag, question: str, interactive: bool, default=False):
    if flag is not None or not interactive:
        return default if flag is None else flag
    if isinstance(default, bool):
        return typer.confirm(question, default=default)
    return typer.prompt(question, default=default, type=type(default))


def advise_cmd(
    ctx: typer.Context,
    changes_often: bool = typer.Option(None, "--changes-often/--stable", help="the data changes often"),
    cite: bool = typer.Option(None, "--cite/--no-cite", help="answers must cite their sources"),
    style: bool = typer.Option(None, "--style/--no-style", help="the task needs a domain style, format or behaviour"),
    examples: int = typer.Option(None, "--examples", help="training examples you have (0: none)"),
    params: str = typer.Option(None, "--params", help="model size, e.g. 135M, 7B"),
    gpu_mem: float = typer.Option(None, "--gpu-mem", help="GPU memory in GB (0: CPU only)"),
    ram: float = typer.Option(None, "--ram", help="RAM in GB (CPU training and serving)"),
    low_latency: bool = typer.Option(None, "--low-latency/--any-latency", help="answers must come fast"),
    low_budget: bool = typer.Option(None, "--low-budget/--any-budget", help="little compute time for training"),
    lang: str = typer.Option(None, "--lang", help="en, zh or both (default: from LANG)"),
) -> None:
    """Recommend fine-tuning, RAG, distillation or a combination, with reasons; asks when run without flags."""
    if ctx.invoked_subcommand:
        return
    from mentor.deploy.advise import Situation, advise
    from mentor.deploy.memory import parse_params

    given = [changes_often, cite, style, examples, params, gpu_mem, ram, low_latency, low_budget]
    interactive = all(v is None for v in given) and sys.stdin.isatty()
    try:
        size = parse_params(_ask(params, "Model size (parameters, e.g. 135M, 7B)", interactive, "135M"))
    except ValueError as e:
        raise MentorError(f"--params: {e}") from None
    situation = Situation(
        data_changes_often=_ask(changes_often, "Does your data change often?", interactive),
        must_cite_sources=_ask(cite, "Must answers cite their sources?", interactive),
        needs_style_or_format=_ask(style, "Does the task need a domain-specific style or output format?", interactive),
        training_examples=_ask(examples, "How many training examples do you have?", interactive, 0),
        model_params=size,
        gpu_memory_gb=_ask(gpu_mem, "GPU memory in GB (0 for CPU only)", interactive, 0.0),
        ram_gb=_ask(ram, "RAM in GB", interactive, 16.0),
        low_latency=_ask(low_latency, "Must answers come fast (low latency)?", interactive),
        low_budget=_ask(low_budget, "Is compute time for training scarce?", interactive),
    )
    advice = advise(situation)
    lang = lang or ("zh" if os.environ.get("LANG", "").lower().startswith("zh") else "en")
    if lang not in ("en", "zh", "both"):
        raise MentorError(f"--lang '{lang}' is not en, zh or both.")
    console = Console()
    routes = " + ".join(advice.routes) + (f" ({advice.method})" if advice.method else "")
    console.print(f"[bold]{'推荐' if lang == 'zh' else 'Recommended'}:[/] {routes}")
    for reason in advice.reasons:
        for text in ([reason.en] if lang == "en" else [reason.zh] if lang == "zh" else [reason.en, reason.zh]):
            console.print(f"  - {text}", highlight=False)
    console.print("\n".join(["", "Next:" if lang != "zh" else "下一步：", *(f"  {c}" for c in advice.commands)]),
                  highlight=False)


def memory_cmd(
    params: str = typer.Option(None, "--params", help="model size, e.g. 7B, 135M (a Llama-like shape)"),
    model: str = typer.Option(None, "--model", help="a model (alias, folder): its exact shape"),
    method: str = typer.Option("lora", "--method", help="full, lora or qlora"),
    batch_size: int = typer.Option(4, "--batch-size"),
    seq_len: int = typer.Option(512, "--seq-len"),
    gpu_mem: float = typer.Option(None, "--gpu-mem", help="GPU memory in GB: estimate for a GPU and say if it fits"),
    lora_rank: int = typer.Option(8, "--lora-rank"),
    gradient_checkpointing: bool = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
) -> None:
    """Estimate training and inference memory for a model size and method (CPU as Mentor trains, or a GPU)."""
    from mentor.deploy.memory import GiB, ModelShape, inference_memory, parse_params, training_memory

    if (params is None) == (model is None):
        raise MentorError("Give exactly one of --params (e.g. 7B) or --model.")
    if method not in ("full", "lora", "qlora"):
        raise MentorError(f"--method '{method}': the estimator knows full, lora and qlora "
                          "(`mentor methods --model M` measures every method on a real model).")
    if model is not None:
        from mentor.models import load_causal_lm

        loaded = load_causal_lm(model)
        shape = ModelShape.from_config(loaded.config, sum(p.numel() for p in loaded.parameters()))
    else:
        try:
            shape = ModelShape.from_params(parse_params(params))
        except ValueError as e:
            raise MentorError(f"--params: {e}") from None
    device = "gpu" if gpu_mem else "cpu"
    train = training_memory(shape, method, batch_size, seq_len, device, gradient_checkpointing, lora_rank)
    table = Table("", "training (GB)", title=f"{shape.params / 1e9:.3g}B parameters, {method}, batch {batch_size} x "
                                             f"{seq_len} tokens, {'GPU (bf16)' if device == 'gpu' else 'CPU (Mentor)'}")
    for part, gb in train.parts_gb().items():
        table.add_row(part, f"{gb:.2f}")
    console = Console()
    console.print(table)
    console.print(f"trainable parameters: {train.trainable:,} ({100 * train.trainable / shape.params:.3g}% of "
                  f"{shape.params:,.0f})")
    for bits, label in ((16, "16-bit"), (8, "int8"), (4.5, "4-bit")):
        need = inference_memory(shape, bits, device=device).total / GiB
        console.print(f"inference {label}, 2048-token context: {need:.1f} GB")
    if gpu_mem:
        fits = train.total <= gpu_mem * GiB
        console.print(f"[{'green' if fits else 'red'}]{'fits' if fits else 'does not fit'}[/] in {gpu_mem:g} GB")
