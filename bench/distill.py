"""Distillation: SmolLM2-135M-Instruct teacher -> a student with 12 of its 30 layers, vs the same student
trained without the teacher.

    python bench/distill.py [--prompts 264] [--heldout 24] [--mode seq|logits|both] [--epochs 3] [--learning-rate LR]
                            [--temperature 0.7] [--samples 2] [--layers 12]

Prompts from ../shared/data/llamafactory-demo/alpaca_en_demo.json (their own answers are the
"no teacher" baseline's training data and the references). Prints the report table (parameters,
size, tokens/s one prompt at a time, peak RSS, perplexity, ROUGE-L against the references and against
the teacher's answers) and the targets: student >= 1.8x the teacher's speed, >= 90% of its quality.
The teacher's answers are samples (--temperature, --samples per prompt): every model's greedy answer is
scored against all of them, so the teacher's own score is how well its answer predicts its samples, and
"quality retained vs the teacher's answers" is the student's score over the teacher's.
Writes bench/out/distill.md and bench/out/distill.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "llamafactory-demo" / "alpaca_en_demo.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=264)
    parser.add_argument("--heldout", type=int, default=24)
    parser.add_argument("--mode", default="both", choices=("seq", "logits", "both"))
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--layers", type=int, default=12, help="student layers (the teacher has 30)")
    parser.add_argument("--temperature", type=float, default=0.7, help="teacher sampling")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--samples", type=int, default=2, help="teacher answers per prompt")
    parser.add_argument("--layer-selection", default="block", choices=("block", "even"))
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="student learning rate")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--output", default=None, help="keep the distillation folder here (resumable)")
    args = parser.parse_args()
    from mentor.distill.pipeline import DistillSettings, distill
    from mentor.distill.report import distill_report, markdown
    from mentor.workspace import Workspace

    rows = json.loads(DATA.read_text(encoding="utf-8"))
    rows = [r for r in rows if len(r["output"]) < 600]  # answers a 135M model can learn to give in a few epochs
    rows = random.Random(0).sample(rows, min(args.prompts, len(rows)))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "prompts.json"
        data.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        out = Path(args.output or Path(tmp) / "distilled")
        ws = Workspace(Path(tmp) / "home")
        started = time.perf_counter()
        result = distill(DistillSettings(
            teacher="smollm2-135m-instruct", data=str(data), output=str(out), mode=args.mode,
            student_layers=args.layers, layer_selection=args.layer_selection, method="full", epochs=args.epochs, heldout=args.heldout,
            learning_rate=args.learning_rate, temperature=args.temperature, top_p=args.top_p, samples=args.samples,
            max_new_tokens=args.max_new_tokens, baseline=True, topk=32 if args.mode != "seq" else 0), ws)
        distill_seconds = time.perf_counter() - started
        report = distill_report(out, ws, max_new_tokens=args.max_new_tokens)
    report["distill_seconds"] = distill_seconds
    report["teacher_answers_dropped"] = result.dropped
    report["train_examples"] = result.train_examples
    student = report["ratios"]["student (distilled)"]
    targets = (f"\nTargets: speed {student['speedup']:.2f}x (>= 1.8x: {'met' if student['speedup'] >= 1.8 else 'missed'}), "
               f"quality retained vs the teacher's answers {student['quality_retained_vs_teacher']:.0%} "
               f"(>= 90%: {'met' if student['quality_retained_vs_teacher'] >= 0.9 else 'missed'}), quality retained vs references "
               f"{student['quality_retained_vs_reference']:.0%} (>= 90%: "
               f"{'met' if (student['quality_retained_vs_reference'] or 0) >= 0.9 else 'missed'})\n"
               f"{result.train_examples} teacher answers trained on (dropped: {result.dropped or 'none'}); "
               f"distillation took {distill_seconds / 60:.1f} min.")
    text = markdown(report) + targets
    print(text)
    target = REPO / "bench" / "out"
    target.mkdir(parents=True, exist_ok=True)
    (target / "distill.md").write_text(text + "\n")
    (target / "distill.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
