"""Do the defaults teach a small task? Four private tasks, four ways to train, one table.

    python bench/defaults.py [--tasks sql,json,classify,style] [--search "--lr 1e-3;--epochs 6"] [--no-search]

Tasks (bench/tasks.py, generated here, 60-160 training rows, English and Chinese): text-to-SQL scored by
execution accuracy, JSON extraction (every field exact), 8-label ticket routing (accuracy), a house style
((format regex + ROUGE-L) / 2). Rows per task, each scored on the same held-out questions (greedy):

- ``mentor defaults``: ``mentor train --data train.jsonl`` and nothing else;
- ``mentor <flags>``: each flag set of the small search (``--search``, ';'-separated), the best one marked;
- ``plain peft``: a plain PEFT loop: LoRA r 8 / alpha 16 on all linear layers, AdamW lr 3e-4 constant, fp32,
  every row, 3 epochs, batch 4, shuffled (the loop the issue's 1.00 came from);
- ``base``: the untuned model.

Ratios printed: defaults / best found, defaults - plain peft, and the defaults' training time against
``--baseline-flags`` (today's defaults before this change: ``--lr 2e-4 --epochs 3 --val-ratio 0.1``).
Writes bench/out/defaults.md and defaults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from tasks import TASKS  # noqa: E402

MENTOR = [str(Path(sys.executable).with_name("mentor"))]
SEARCH = "--lr 3e-4;--lr 1e-3;--lr 1e-3 --epochs 6"
MAX_NEW = 128


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--search", default=SEARCH, help="';'-separated flag sets for `mentor train`")
    ap.add_argument("--no-defaults", action="store_true", help="skip the defaults row (fill in other rows only)")
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--no-peft", action="store_true")
    ap.add_argument("--no-base", action="store_true")
    ap.add_argument("--baseline-flags", default="",
                    help="flags of the old defaults, trained once per task for the time ratio (empty: skip)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--peft-child", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peft_child:
        return plain_peft(Path(args.peft_child[0]), Path(args.peft_child[1]))
    home = Path(tempfile.mkdtemp(prefix="mentor-bench-defaults-"))
    env = {**os.environ, "MENTOR_HOME": str(home / "ws")}
    shared_cache = Path(os.environ.get("MENTOR_MODEL_CACHE", REPO / ".mentor" / "models"))
    env.setdefault("MENTOR_MODEL_CACHE", str(shared_cache))  # de-quantise the embedded model once, not per run
    results: dict[str, list[dict]] = {}
    for key in args.tasks.split(","):
        task = TASKS[key]()
        folder = home / key
        folder.mkdir(parents=True)
        for split, rows in (("train", task.train), ("test", task.test)):
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                   encoding="utf-8")
        systems: list[tuple[str, list[str] | None]] = [] if args.no_defaults else [("mentor defaults", [])]
        if not args.no_search:
            systems += [(f"mentor {flags.strip()}", shlex.split(flags)) for flags in args.search.split(";") if flags.strip()]
        if args.baseline_flags:
            systems.append((f"old defaults {args.baseline_flags}", shlex.split(args.baseline_flags)))
        if not args.no_peft:
            systems.append(("plain peft", None))
        if not args.no_base:
            systems.append(("base", None))
        rows = []
        for label, flags in systems:
            print(f"\n=== {task.name}: {label}", flush=True)
            rows.append(run_system(task, folder, label, flags, env))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "predictions"}, ensure_ascii=False), flush=True)
        results[task.name] = rows
    write_tables(results, args.out)


def run_system(task, folder: Path, label: str, flags: list[str] | None, env: dict) -> dict:
    preds = folder / f"{label.replace(' ', '_').replace('/', '_')}.jsonl"
    train_seconds, settings = 0.0, {}
    if label == "base":
        subprocess.run([*MENTOR, "generate", "--data", str(folder / "test.jsonl"), "--out", str(preds),
                        "--max-new-tokens", str(MAX_NEW)], check=True, env=env)
    elif label == "plain peft":
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--peft-child", str(folder), str(preds)], check=True, env=env)
        train_seconds = json.loads((folder / "peft-time.json").read_text())["train_seconds"]
        del started
    else:
        run = folder / f"run-{abs(hash(label))}"
        started = time.perf_counter()
        subprocess.run([*MENTOR, "train", "--data", str(folder / "train.jsonl"), "--output", str(run), *flags],
                       check=True, env=env)
        train_seconds = time.perf_counter() - started
        settings = _settings(run)
        subprocess.run([*MENTOR, "generate", "--run", str(run), "--data", str(folder / "test.jsonl"), "--out", str(preds),
                        "--max-new-tokens", str(MAX_NEW)], check=True, env=env)
    records = [json.loads(line) for line in preds.read_text(encoding="utf-8").splitlines()]
    predictions, references = [r["prediction"] for r in records], [r["reference"] for r in records]
    score = sum(task.score(p, r) for p, r in zip(predictions, references)) / len(records)
    row = {"system": label, "score": round(score, 4), "train_seconds": round(train_seconds, 1), "settings": settings,
           "predictions": predictions[:5]}
    for name, fn in (task.extra_metrics or {}).items():
        row[name] = round(fn(predictions, references), 4)
    return row


def _settings(run: Path) -> dict:
    import yaml

    config = yaml.safe_load((run / "config.yaml").read_text())
    info = json.loads((run / "run.json").read_text())
    keep = ("epochs", "learning_rate", "lr_scheduler", "warmup_ratio", "val_ratio", "precision", "early_stopping_metric")
    return {**{k: config.get(k) for k in keep}, "steps": info.get("steps"), "train_examples": info.get("train_examples")}


def plain_peft(folder: Path, out: Path) -> None:
    """The reference loop: LoRA r 8 all-linear, AdamW 3e-4 constant, fp32, all rows, 3 epochs, batch 4."""
    import random

    import torch
    from peft import LoraConfig, get_peft_model

    from mentor.data.formats import load_examples
    from mentor.data.template import encode
    from mentor.generation import GenerationOptions, LoadedModel, generate
    from mentor.models import DEFAULT_LLM, load_causal_lm, load_tokenizer
    from mentor.tune.batching import collate

    torch.manual_seed(0)
    tokenizer = load_tokenizer(DEFAULT_LLM)
    model = get_peft_model(load_causal_lm(DEFAULT_LLM), LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16,
                                                                   lora_dropout=0.05, target_modules="all-linear"))
    train = [encode(e, tokenizer, 512, "assistant") for e in load_examples(folder / "train.jsonl")]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    rng = random.Random(0)
    model.train()
    started = time.perf_counter()
    for _ in range(3):
        order = list(range(len(train)))
        rng.shuffle(order)
        for s in range(0, len(order), 4):
            batch = collate([train[i] for i in order[s:s + 4]], tokenizer.pad_token_id, "cpu")
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    seconds = time.perf_counter() - started
    (folder / "peft-time.json").write_text(json.dumps({"train_seconds": seconds}))
    test = load_examples(folder / "test.jsonl")
    pairs = [e.prompt_and_reference() for e in test]
    lm = LoadedModel(model.eval(), tokenizer, DEFAULT_LLM)
    answers = generate(lm, [p for p, _ in pairs], GenerationOptions(MAX_NEW))
    out.write_text("".join(json.dumps({"reference": r, "prediction": a}, ensure_ascii=False) + "\n"
                           for (_, r), a in zip(pairs, answers)), encoding="utf-8")


def write_tables(results: dict[str, list[dict]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| task | system | score | extra | train s | settings |", "|---|---|---|---|---|---|"]
    summary = []
    for task, rows in results.items():
        for r in rows:
            extra = ", ".join(f"{k} {r[k]:.2f}" for k in ("regex", "rougeL") if k in r)
            s = r["settings"]
            chosen = (f"epochs {s['epochs']}, lr {s['learning_rate']}, {s['lr_scheduler']}, val {s['val_ratio']}, "
                      f"{s['steps']} steps" if s else "")
            lines.append(f"| {task} | {r['system']} | {r['score']:.3f} | {extra} | {r['train_seconds']:.0f} | {chosen} |")
        by = {r["system"]: r for r in rows}
        if "mentor defaults" not in by:  # --no-defaults: the other rows only
            continue
        default = by["mentor defaults"]
        tuned = [r for r in rows if r["system"].startswith("mentor")]
        best = max(tuned, key=lambda r: r["score"])
        line = {"task": task, "defaults": default["score"], "best": best["score"], "best_system": best["system"],
                "defaults_over_best": round(default["score"] / best["score"], 3) if best["score"] else None}
        if "plain peft" in by:
            line["defaults_minus_peft"] = round(default["score"] - by["plain peft"]["score"], 3)
        old = [r for r in rows if r["system"].startswith("old defaults")]
        if old and old[0]["train_seconds"]:
            line["time_vs_old_defaults"] = round(default["train_seconds"] / old[0]["train_seconds"], 2)
        summary.append(line)
    lines += ["", "| task | defaults | best (system) | defaults / best | defaults - plain peft | time vs old defaults |",
              "|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['task']} | {s['defaults']:.3f} | {s['best']:.3f} ({s['best_system']}) | "
                     f"{s['defaults_over_best']} | {s.get('defaults_minus_peft', '-')} | {s.get('time_vs_old_defaults', '-')} |")
    text = "\n".join(lines)
    print("\n" + text)
    (out / "defaults.md").write_text(text + "\n")
    (out / "defaults.json").write_text(json.dumps({"results": results, "summary": summary}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
