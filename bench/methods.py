"""Every tuning method on the same data and token budget, one table (Markdown + JSON).

    python bench/methods.py [--steps 20] [--examples 160] [--max-length 256] [--methods lora,dora,...]

SmolLM2-135M-Instruct, batch 4, each method's default options and default learning rate,
alpaca_en_demo from ../shared/data (loss on assistant tokens). Each method runs in its own process so
peak RSS is its own. Writes bench/out/methods.md and bench/out/methods.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "llamafactory-demo" / "alpaca_en_demo.json"


def main() -> None:
    from mentor.methods import method_names

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--examples", type=int, default=160)
    ap.add_argument("--val-examples", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--methods", default=",".join(method_names()))
    ap.add_argument("--only", help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        return run_one(args)
    from mentor.data import load

    home = Path(tempfile.mkdtemp(prefix="mentor-bench-methods-"))
    examples = load(DATA).examples
    for name, subset in (("train", examples[:args.examples]),
                         ("val", examples[args.examples:args.examples + args.val_examples])):
        (home / f"{name}.jsonl").write_text("".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in subset),
                                            encoding="utf-8")
    rows = []
    for method in args.methods.split(","):
        cmd = [sys.executable, __file__, "--only", method, "--home", str(home), "--steps", str(args.steps),
               "--max-length", str(args.max_length)]
        proc = subprocess.run(cmd)
        out = home / f"{method}.json"
        rows.append(json.loads(out.read_text()) if proc.returncode == 0 and out.exists()
                    else {"method": method, "error": f"exit {proc.returncode}"})
    header = "| method | trainable | % | lr | real tok/s | peak RSS GB | val loss before | val loss after |"
    lines = [header, "|" + "---|" * 8]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | | | | | |")
            continue
        lines.append(f"| {r['method']} | {r['trainable']:,} | {r['percent']:.3f} | {r['learning_rate']:g} | "
                     f"{r['real_tokens_per_s']:.0f} | {r['peak_rss_gb']:.2f} | {r['val_loss_before']:.4f} | "
                     f"{r['val_loss_after']:.4f} |")
    table = "\n".join(lines)
    print(f"\n{args.steps} steps x batch 4, max length {args.max_length}, SmolLM2-135M-Instruct\n\n{table}")
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "methods.md").write_text(table + "\n")
    (out / "methods.json").write_text(json.dumps(rows, indent=2))


def run_one(args) -> None:
    from mentor.tune import load_config, train
    from mentor.methods import get_method
    from mentor.workspace import Workspace

    lr = get_method(args.only).learning_rate  # each method's default (prompt-based ones need far larger)
    config = load_config(None, data=str(args.home / "train.jsonl"), val=str(args.home / "val.jsonl"), method=args.only,
                         max_steps=args.steps, batch_size=4, learning_rate=lr, max_length=args.max_length,
                         save_steps=10**6, name=f"bench-{args.only}")
    result = train(config, Workspace(args.home / "ws"), show_progress=False)
    run = json.loads((result.run_dir / "run.json").read_text())
    row = {"method": args.only, "trainable": run["trainable_parameters"], "total": run["parameters"],
           "percent": 100 * run["trainable_parameters"] / run["parameters"], "learning_rate": lr,
           "real_tokens_per_s": result.real_tokens_per_second, "val_loss_before": result.val_loss_before,
           "val_loss_after": result.val_loss_after,
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
    (args.home / f"{args.only}.json").write_text(json.dumps(row))


if __name__ == "__main__":
    main()
