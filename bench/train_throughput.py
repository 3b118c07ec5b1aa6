"""Training throughput: mentor's loop vs plain transformers Trainer + peft, same data and config, one run.

    python bench/train_throughput.py [--steps 30] [--examples 240] [--precision fp32|bf16] [--seeds 42,1,2]
                                     [--device cuda --trainer-precision bf16] [--model FOLDER]
                                     [--llamafactory PATH/TO/llamafactory-cli]

Both train LoRA (r=8, alpha=16, dropout 0.05, all linear layers) on SmolLM2-135M-Instruct with
batch 4, max length 512, lr 2e-4, on the same tokenised examples (alpaca_en_demo from
../shared/data, loss on assistant tokens). Mentor runs with its defaults (length-grouped batches,
selective loss, bf16 autocast where the CPU has bf16 — see --precision); the baseline pads to the longest in each batch, fp32,
random order. Real tokens exclude padding. Both final models are scored on the same held-out
examples with the same loss function. Prints a table and the speed ratio; writes bench/out/*.json.
--seeds runs both systems once per seed (data order, LoRA init and dropout) and prints each system's
final validation loss as mean and standard deviation over the seeds, so "equal or lower" is judged
against the spread between seeds rather than one draw.
On a GPU (--device cuda) peak GPU memory is printed too, and --trainer-precision bf16 gives the
baseline bf16 mixed precision (Trainer's bf16=True), the stronger peer there.
--llamafactory adds LLaMA-Factory as a third system (its CLI from a separate environment: its install
replaces this one's torch and transformers): the same LoRA, data (ShareGPT-style file, its `smollm`
ChatML template), steps and fp32 on the CPU; its real tokens are counted with the same tokenizer and its
saved adapter is scored with the same loss function.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "llamafactory-demo" / "alpaca_en_demo.json"
LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--examples", type=int, default=240)
    ap.add_argument("--val-examples", type=int, default=40)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="mentor's precision (the baseline stays fp32)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--device", default="cpu", help="cpu, cuda (both systems)")
    ap.add_argument("--trainer-precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--llamafactory", help="llamafactory-cli of a separate environment: LLaMA-Factory as a third system")
    ap.add_argument("--seeds", default="42", help="comma-separated seeds; each system runs once per seed")
    ap.add_argument("--only", choices=["mentor", "trainer"], help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        return run_one(args)
    if not args.data.exists():
        sys.exit(f"benchmark data not found: {args.data}")

    from mentor.data import load
    from mentor.workspace import Workspace

    home = Path(tempfile.mkdtemp(prefix="mentor-bench-"))
    ws = Workspace(home)
    examples = load(args.data).examples
    train_file, val_file = home / "train.jsonl", home / "val.jsonl"
    for path, subset in ((train_file, examples[:args.examples]),
                         (val_file, examples[args.examples:args.examples + args.val_examples])):
        path.write_text("".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in subset), encoding="utf-8")

    # Each system runs in its own process, so peak memory is its own.
    seeds = [int(x) for x in args.seeds.split(",")]
    runs: dict[str, list[dict]] = {}
    for seed in seeds:
        for system in ("mentor", "trainer") + (("llamafactory",) if args.llamafactory else ()):
            if system == "llamafactory":
                runs.setdefault(system, []).append(run_llamafactory(ws, train_file, val_file, args, seed))
                continue
            out_json = home / f"{system}.json"
            cmd = [sys.executable, __file__, "--only", system, "--home", str(home), "--steps", str(args.steps),
                   "--examples", str(args.examples), "--precision", args.precision, "--model", args.model,
                   "--device", args.device, "--trainer-precision", args.trainer_precision, "--seeds", str(seed)]
            subprocess.run(cmd, check=True)
            runs.setdefault(system, []).append(json.loads(out_json.read_text()))
    results = {system: {k: statistics.mean(r[k] for r in rs) for k in rs[0]} for system, rs in runs.items()}
    ours, base = results["mentor"], results["trainer"]
    ratio = ours["real_tokens_per_s"] / base["real_tokens_per_s"]
    print(f"\n{'mean over ' + str(len(seeds)) + ' seed(s)':28}{'mentor':>12}{'HF Trainer+peft':>18}")
    for key in ("real_tokens_per_s", "seconds", "padding_share", "final_val_loss", "peak_rss_gb", "peak_gpu_gb"):
        print(f"{key:28}{ours[key]:>12.3f}{base[key]:>18.3f}")
    if "llamafactory" in results:
        lf = results["llamafactory"]
        print("llamafactory: " + ", ".join(f"{k} {v:.3f}" for k, v in lf.items()))
        print(f"speed ratio (real tokens/s, mentor / LLaMA-Factory): {ours['real_tokens_per_s'] / lf['real_tokens_per_s']:.2f}x")
    for system, rs in runs.items():
        losses = [r["final_val_loss"] for r in rs]
        spread = f" +- {statistics.stdev(losses):.4f}" if len(losses) > 1 else ""
        print(f"final val loss {system} by seed {seeds}: {', '.join(f'{x:.4f}' for x in losses)} "
              f"(mean {statistics.mean(losses):.4f}{spread})")
    print(f"\nspeed ratio (real tokens/s, mentor / Trainer+peft): {ratio:.2f}x")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_throughput.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                           **results, "by_seed": runs, "ratio": ratio}, indent=2))


def run_one(args) -> None:
    from mentor.workspace import Workspace

    ws = Workspace(args.home)
    train_file, val_file = args.home / "train.jsonl", args.home / "val.jsonl"
    run = run_mentor if args.only == "mentor" else run_trainer
    (args.home / f"{args.only}.json").write_text(json.dumps(run(ws, train_file, val_file, args)))


def run_mentor(ws, train_file, val_file, args) -> dict:
    from mentor.tune import load_config, train

    config = load_config(None, model=args.model, data=str(train_file), val=str(val_file), max_steps=args.steps,
                         batch_size=4, learning_rate=2e-4, max_length=512, precision=args.precision,
                         device=args.device, save_steps=10**6, seed=int(args.seeds),
                         name=f"bench-mentor-{args.seeds}", method_options=dict(LORA))
    result = train(config, ws, show_progress=True)
    from mentor.data import load
    from mentor.tune import evaluate

    tok, _ = _encoded(ws, train_file, args)
    val = [e for e in _encode_all(tok, load(val_file).examples) if e.trained_tokens]
    # scored like the baseline's model: fp32, same function (mentor's own validation ran under its precision)
    return {"real_tokens_per_s": result.real_tokens_per_second, "seconds": result.train_seconds,
            "padding_share": _padding_share(ws, train_file, args, grouped=True),
            "final_val_loss": evaluate(result.model, val, 4, tok.pad_token_id),
            "final_val_loss_own_precision": result.val_loss_after, "peak_rss_gb": _peak_rss_gb(),
            "peak_gpu_gb": _peak_gpu_gb()}


def _encoded(ws, train_file, args):
    from mentor.data import encode, load
    from mentor.models import load_tokenizer

    tok = load_tokenizer(args.model, ws)
    return tok, [encode(e, tok, 512) for e in load(train_file).examples]


def _padding_share(ws, train_file, args, grouped: bool) -> float:
    from mentor.tune.batching import epoch_batches

    _, enc = _encoded(ws, train_file, args)
    lengths = [len(e.input_ids) for e in enc]
    batches = epoch_batches(lengths, 4, int(args.seeds), 0, grouped)[:args.steps]
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths[i] for b in batches for i in b) / padded


def run_trainer(ws, train_file, val_file, args) -> dict:
    """The baseline: transformers Trainer + peft LoRA, padding to the longest in batch, fp32."""
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from mentor.data import load
    from mentor.models import load_causal_lm
    from mentor.tune import evaluate
    from mentor.tune.batching import collate

    tok, enc = _encoded(ws, train_file, args)
    val = [e for e in (_encode_all(tok, load(val_file).examples)) if e.trained_tokens]
    model = get_peft_model(load_causal_lm(args.model, ws, device=args.device),
                           LoraConfig(task_type="CAUSAL_LM", **LORA))
    counts = {"real": 0, "padded": 0}

    def collator(rows):
        batch = collate([enc[r["i"]] for r in rows], tok.pad_token_id)
        counts["real"] += int(batch["attention_mask"].sum())
        counts["padded"] += batch["attention_mask"].numel()
        return batch

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.start

    clock = Clock()
    targs = TrainingArguments(output_dir=str(ws.home / "trainer"), per_device_train_batch_size=4, max_steps=args.steps,
                              learning_rate=2e-4, warmup_steps=int(0.03 * args.steps), lr_scheduler_type="linear", logging_steps=10,
                              save_strategy="no", report_to="none", use_cpu=args.device == "cpu", seed=int(args.seeds),
                              bf16=args.trainer_precision == "bf16", dataloader_num_workers=0,
                              remove_unused_columns=False)
    trainer = Trainer(model=model, args=targs, train_dataset=[{"i": i} for i in range(len(enc))],
                      data_collator=collator, callbacks=[clock])
    trainer.train()
    val_loss = evaluate(model, val, 4, tok.pad_token_id)
    return {"real_tokens_per_s": counts["real"] / clock.seconds, "seconds": clock.seconds,
            "padding_share": 1 - counts["real"] / counts["padded"], "final_val_loss": val_loss,
            "peak_rss_gb": _peak_rss_gb(), "peak_gpu_gb": _peak_gpu_gb()}


def run_llamafactory(ws, train_file, val_file, args, seed: int) -> dict:
    """LLaMA-Factory's SFT + LoRA with the same settings, run by its own CLI in its own environment."""
    import yaml
    from peft import PeftModel

    from mentor.data import load
    from mentor.models import load_causal_lm, resolve
    from mentor.tune import evaluate

    tok, _ = _encoded(ws, train_file, args)
    folder = ws.home / "llamafactory"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in train_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    (folder / "data" / "train.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (folder / "data" / "dataset_info.json").write_text(json.dumps({"mentor_train": {
        "file_name": "train.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}}))
    config = {"model_name_or_path": resolve(args.model, ws).location, "stage": "sft", "do_train": True,
              "finetuning_type": "lora", "lora_rank": LORA["r"], "lora_alpha": LORA["lora_alpha"],
              "lora_dropout": LORA["lora_dropout"], "lora_target": "all", "dataset": "mentor_train",
              "dataset_dir": str(folder / "data"), "template": "smollm", "cutoff_len": 512,
              "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 2e-4,
              "max_steps": args.steps, "lr_scheduler_type": "linear", "warmup_ratio": 0.03, "logging_steps": 10,
              "save_strategy": "no", "report_to": "none", "use_cpu": args.device == "cpu", "seed": seed,
              "output_dir": str(folder / "out"), "overwrite_output_dir": True, "preprocessing_num_workers": 1,
              "dataloader_num_workers": 0, "bf16": args.trainer_precision == "bf16"}
    (folder / "train.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1", "WANDB_DISABLED": "true"}
    env.pop("PYTHONPATH", None)
    child = subprocess.Popen([args.llamafactory, "train", str(folder / "train.yaml")], env=env)
    _, status, usage = os.wait4(child.pid, 0)  # its own peak memory
    if status:
        sys.exit(f"llamafactory-cli train failed (status {status})")
    seconds = json.loads((folder / "out" / "train_results.json").read_text())["train_runtime"]
    # real tokens of the examples it trained on, in its ChatML format, counted with the same tokenizer
    texts = ["".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in r["messages"]) for r in rows]
    lengths = [min(512, len(tok(t, add_special_tokens=False)["input_ids"])) for t in texts]
    real = sum(lengths) / len(lengths) * min(len(rows), 4 * args.steps)
    model = PeftModel.from_pretrained(load_causal_lm(args.model, ws, device=args.device), folder / "out")
    val = [e for e in _encode_all(tok, load(val_file).examples) if e.trained_tokens]
    return {"real_tokens_per_s": real / seconds, "seconds": seconds, "final_val_loss": evaluate(model, val, 4, tok.pad_token_id),
            "peak_rss_gb": usage.ru_maxrss / 1e6}


def _encode_all(tok, examples):
    from mentor.data import encode

    return [encode(e, tok, 512) for e in examples]


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _peak_gpu_gb() -> float:
    return torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else 0.0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.manual_seed(0)
    main()
