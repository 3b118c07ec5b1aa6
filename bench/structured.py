"""Structured outputs and tool calling on the embedded 135M model: validity, argument copying, tool choice
after a LoRA run, and what the grammar costs.

    python bench/structured.py [--questions 60] [--train 300] [--no-train]

The tool set (bench/toolset.py): order lookup, unit conversion, calculator, policy search, create return;
questions in English and Chinese, held out from the training questions. Greedy decoding throughout.

- validity: replies under tool_choice=required, a named function, and response_format json_schema (the right
  tool's argument schema) that parse and validate (target 100%);
- literal arguments: under the named (right) function, the arguments copied from the question (order ids,
  numbers) right (target >= 80%);
- choice: under tool_choice=auto, the right function called, for the base model and for a LoRA run trained
  with `mentor train --data` (defaults) on --train generated tool conversations (target >= 90%);
- cost: decode tokens/s of the named-function requests, constrained vs the same prompts unconstrained and
  forced to the same length, one request at a time (target: within 15%), and grammars compiled per schema.

Writes bench/out/structured.md and structured.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from toolset import TOOLS, literal_right, questions, training_row  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--train-flags", default="", help="flags for `mentor train` (default: none, the defaults)")
    ap.add_argument("--tuned-only", action="store_true", help="keep the base figures of the last structured.json")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mentor-bench-structured-"))
    os.environ["MENTOR_HOME"] = str(home / "ws")
    os.environ.setdefault("MENTOR_MODEL_CACHE", str(REPO / ".mentor" / "models"))

    from mentor.data.tools import check_call, parse_calls, read_tools
    from mentor.generation import load_for_inference

    tools = read_tools(TOOLS)
    held_out = questions(args.questions, seed=1)
    train_qs = {q["question"] for q in held_out}
    rows, rng = [], random.Random(2)
    for q in questions(args.train + args.questions, seed=3):
        if q["question"] not in train_qs and len(rows) < args.train:
            rows.append(training_row(q, rng))
    lm = load_for_inference(backend="torch")
    if args.tuned_only:
        out = json.loads((args.out / "structured.json").read_text())
        return tuned(out, rows, held_out, tools, home, args)
    out: dict = {"questions": len(held_out), "languages": {"en": sum(q["lang"] == "en" for q in held_out),
                                                            "zh": sum(q["lang"] == "zh" for q in held_out)}}

    # validity and literal arguments
    from mentor.inference import grammar

    valid, counted = {}, {}
    required = _replies(lm, held_out, tools, "required")
    named = _replies(lm, held_out, tools, None)
    schema_replies = _schema_replies(lm, held_out)
    out["compiled"] = {"requests": 3 * len(held_out), "grammars": grammar.compiled_count(),
                       "distinct": 1 + 2 * len({q["name"] for q in held_out})}
    for mode, replies in (("required", required), ("named", named)):
        ok = 0
        for reply in replies:
            content, calls = parse_calls(reply)
            ok += bool(calls) and content is None and all(check_call(c, tools) is None for c in calls)
        valid[mode], counted[mode] = ok, len(replies)
    valid["json_schema"] = sum(_fits(r, _params(q["name"])) for r, q in zip(schema_replies, held_out))
    counted["json_schema"] = len(schema_replies)
    literal = [literal_right(q, json.loads(parse_calls(r)[1][0].arguments)) for q, r in zip(held_out, named)
               if q["literal"] and parse_calls(r)[1]]
    with_literal = sum(bool(q["literal"]) for q in held_out)
    out["validity"] = {m: {"valid": valid[m], "of": counted[m], "percent": 100 * valid[m] / counted[m]} for m in valid}
    out["literal_arguments"] = {"right": sum(literal), "of": with_literal, "percent": 100 * sum(literal) / with_literal}
    out["choice_base"] = _choice(lm, held_out, tools)
    out["cost"] = _cost(lm, held_out[:20], tools)
    write(out, args.out)  # the base model's figures, before the (long) training run

    if not args.no_train:
        tuned(out, rows, held_out, tools, home, args)


def tuned(out: dict, rows: list[dict], held_out: list[dict], tools, home: Path, args) -> None:
    """Train a LoRA run on the tool conversations with `mentor train`, then ask it the held-out questions."""
    from mentor.data.tools import parse_calls
    from mentor.generation import load_for_inference

    data = home / "tools-train.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    run = home / "runs" / "tools"
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("mentor")), "train", "--data", str(data), "--output", str(run),
                    *args.train_flags.split()], check=True, env=os.environ.copy())
    out["train"] = {"rows": len(rows), "seconds": round(time.perf_counter() - started, 1),
                    "flags": args.train_flags or "(defaults)"}
    lm = load_for_inference(run=str(run), backend="torch")
    out["choice_tuned"] = _choice(lm, held_out, tools)
    named = _replies(lm, held_out, tools, None)
    literal = [literal_right(q, json.loads(parse_calls(r)[1][0].arguments)) for q, r in zip(held_out, named)
               if q["literal"] and parse_calls(r)[1]]
    out["literal_tuned"] = {"right": sum(literal), "of": sum(bool(q["literal"]) for q in held_out)}
    write(out, args.out)


def _replies(lm, items: list[dict], tools, choice: str | None, max_tokens: int = 384) -> list[str]:
    """Greedy replies under tool_choice ``choice`` (None: each question's right function, named), decoded
    in batches of the questions that share a constraint."""
    from mentor.data.conversation import Conversation, Message
    from mentor.data.tools import with_tools
    from mentor.inference import grammar

    convs = [with_tools(Conversation((Message("user", q["question"]),)), tools) for q in items]
    return _grouped(lm, items, convs, lambda q: grammar.tool_calls(tools, choice or q["name"], parallel=False),
                    max_tokens)


def _grouped(lm, items: list[dict], convs: list, constraint_of, max_tokens: int) -> list[str]:
    from mentor.generation import GenerationOptions, generate

    replies: list[str] = [""] * len(items)
    groups: dict = {}
    for i, q in enumerate(items):
        constraint = constraint_of(q)
        groups.setdefault(constraint, (constraint, []))[1].append(i)
    for constraint, index in groups.values():
        answers = generate(lm, [convs[i] for i in index], GenerationOptions(max_tokens, constraint=constraint))
        for i, answer in zip(index, answers):
            replies[i] = answer
    return replies


def _params(name: str) -> dict:
    return next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == name)


def _schema_replies(lm, items: list[dict]) -> list[str]:
    """response_format json_schema: the question's arguments as JSON under its tool's argument schema."""
    from mentor.data.conversation import Conversation, Message
    from mentor.inference import grammar

    convs = [Conversation((Message("user", f"Give the arguments for {q['name']} as JSON.\n{q['question']}"),))
             for q in items]
    return _grouped(lm, items, convs, lambda q: grammar.json_schema(_params(q["name"])), 384)


def _fits(reply: str, schema: dict) -> bool:
    from jsonschema import Draft202012Validator

    try:
        return Draft202012Validator(schema).is_valid(json.loads(reply))
    except json.JSONDecodeError:
        return False


def _choice(lm, items: list[dict], tools) -> dict:
    """tool_choice=auto: did the model call the right function (its first call), per language."""
    replies = _replies(lm, items, tools, "auto", max_tokens=40)  # enough to name the function
    right = {"en": 0, "zh": 0}
    texts = 0
    for q, reply in zip(items, replies):
        called = re.match(r'<tool_call>\n\{"name": "(\w+)"', reply)
        texts += not called
        right[q["lang"]] += bool(called) and called.group(1) == q["name"]
    total = sum(right.values())
    return {"right": total, "of": len(items), "percent": 100 * total / len(items), "answered_in_text": texts,
            "by_language": right, "sample": replies[:3]}


def _cost(lm, items: list[dict], tools) -> dict:
    """Constrained vs unconstrained decode speed on the same prompts and lengths, one request at a time."""
    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import render_prompt
    from mentor.data.tools import with_tools
    from mentor.inference import grammar
    from mentor.inference.decode import Row, Sampling, decode, stop_token_ids

    tok, eos = lm.tokenizer, stop_token_ids(lm.tokenizer)
    prompts = [tok(render_prompt(with_tools(Conversation((Message("user", q["question"]),)), tools), tok),
                   add_special_tokens=False)["input_ids"] for q in items]
    timings = {"constrained": [0.0, 0], "unconstrained": [0.0, 0]}
    lengths = []
    for ids, q in zip(prompts, items):
        row = Row(ids, Sampling(384, 0.0, constraint=grammar.tool_calls(tools, q["name"], parallel=False)))
        started = time.perf_counter()
        decode(lm.model, tok, [row], eos)
        timings["constrained"][0] += time.perf_counter() - started
        timings["constrained"][1] += len(row.ids)
        lengths.append(len(row.ids))
    for ids, n in zip(prompts, lengths):
        row = Row(ids, Sampling(n, 0.0, min_tokens=n))
        started = time.perf_counter()
        decode(lm.model, tok, [row], eos)
        timings["unconstrained"][0] += time.perf_counter() - started
        timings["unconstrained"][1] += len(row.ids)
    rate = {k: n / s for k, (s, n) in timings.items()}
    return {"tokens_per_second": rate, "ratio": rate["constrained"] / rate["unconstrained"],
            "tokens": timings["constrained"][1]}


def write(out: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "structured.json").write_text(json.dumps(out, ensure_ascii=False, indent=2))
    v, c = out["validity"], out["cost"]
    lines = [f"# Structured outputs: SmolLM2-135M-Instruct, {out['questions']} held-out questions "
             f"({out['languages']['en']} EN, {out['languages']['zh']} ZH), greedy", "",
             "| figure | value | target |", "|---|---|---|"]
    for mode in ("required", "named", "json_schema"):
        lines.append(f"| valid under {mode} | {v[mode]['valid']}/{v[mode]['of']} ({v[mode]['percent']:.0f}%) | 100% |")
    la = out["literal_arguments"]
    lines.append(f"| literal arguments right (named function) | {la['right']}/{la['of']} ({la['percent']:.0f}%) | >= 80% |")
    b = out["choice_base"]
    lines.append(f"| right function under auto, base | {b['right']}/{b['of']} ({b['percent']:.0f}%; {b['answered_in_text']} "
                 f"in text) | (printed beside) |")
    if "choice_tuned" in out:
        t = out["choice_tuned"]
        lines.append(f"| right function under auto, LoRA on {out['train']['rows']} rows ({out['train']['flags']}, "
                     f"{out['train']['seconds']:.0f} s) | {t['right']}/{t['of']} ({t['percent']:.0f}%) | >= 90% |")
        lt = out["literal_tuned"]
        lines.append(f"| literal arguments right (named function), LoRA run | {lt['right']}/{lt['of']} "
                     f"({100 * lt['right'] / lt['of']:.0f}%) | >= 80% |")
    lines.append(f"| decode tok/s constrained / unconstrained | {c['tokens_per_second']['constrained']:.1f} / "
                 f"{c['tokens_per_second']['unconstrained']:.1f} = {c['ratio']:.2f} | >= 0.85 |")
    k = out["compiled"]
    lines.append(f"| grammars compiled for {k['requests']} constrained requests | {k['grammars']} "
                 f"({k['distinct']} distinct constraints) | once per schema |")
    (folder / "structured.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
