"""Quantised variants of one model: size on disk, load time, decoding speed, perplexity delta.

    python bench/quant.py [--model smollm2-135m-instruct] [--tokens 64] [--rounds 3]

Mentor's variants (`mentor quantize` int8 / int4 / nf4, `mentor export --format hf --quantize bf16`) run
through transformers' generate; the peer is llama.cpp (llama-cpp-python, when installed) on Mentor's
own GGUF exports (f16, q8_0, q4_0). Decoding speed is tokens/s after the first token (greedy, batch 1,
2 threads for both); perplexity on the English probe text that `mentor eval` uses, 512-token windows.
Writes bench/out/quant.md and bench/out/quant.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
PROMPT = "Write a short paragraph about the history of lighthouses."


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != "export-manifest.json")


def hf_row(label: str, folder: Path, tokenizer, text: str, tokens: int, rounds: int) -> dict:
    from mentor.evaluate.general import text_perplexity
    from mentor.models import load_causal_lm

    start = time.perf_counter()
    model = load_causal_lm(str(folder)).eval()
    load_s = time.perf_counter() - start
    ids = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)["input_ids"]

    def timed(n: int) -> float:
        with torch.no_grad():
            t = time.perf_counter()
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                           do_sample=False)
            return time.perf_counter() - t

    timed(2)  # warm-up
    first = min(timed(1) for _ in range(rounds))
    full = min(timed(tokens) for _ in range(rounds))
    return {"variant": label, "engine": "transformers", "size_mb": folder_size(folder) / 2**20, "load_s": load_s,
            "decode_tok_s": (tokens - 1) / max(full - first, 1e-9),
            "perplexity": text_perplexity(model, tokenizer, text)}


def llama_cpp_row(label: str, gguf: Path, tokenizer, text: str, tokens: int, rounds: int) -> dict:
    from llama_cpp import Llama

    start = time.perf_counter()
    llm = Llama(model_path=str(gguf), n_ctx=1024, n_threads=2, logits_all=True, verbose=False)
    load_s = time.perf_counter() - start
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                           tokenize=False)
    prompt_ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    rates = []
    for _ in range(rounds):
        llm.reset()
        count, t_first = 0, 0.0
        for _token in llm.generate(prompt_ids, temp=0.0, top_k=1, reset=True):
            count += 1
            if count == 1:
                t_first = time.perf_counter()
            if count == tokens:
                break
        rates.append((tokens - 1) / max(time.perf_counter() - t_first, 1e-9))
    # perplexity with the same windows as transformers' side
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    total, count = 0.0, 0
    for s in range(0, len(ids) - 1, 512):
        chunk = ids[s:s + 513]
        llm.reset()
        llm.eval(chunk[:-1])
        scores = torch.tensor(llm.scores[:len(chunk) - 1])
        total += torch.nn.functional.cross_entropy(scores, torch.tensor(chunk[1:]), reduction="sum").item()
        count += len(chunk) - 1
    return {"variant": label, "engine": "llama.cpp", "size_mb": gguf.stat().st_size / 2**20, "load_s": load_s,
            "decode_tok_s": max(rates), "perplexity": math.exp(total / count)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated variants to leave out (e.g. nf4)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from mentor.deploy.export import export
    from mentor.deploy.quantize import quantize
    from mentor.evaluate.general import probe_texts
    from mentor.models import load_tokenizer, resolve

    skip = set(filter(None, args.skip.split(",")))
    tokenizer = load_tokenizer(args.model)
    text = probe_texts()["general-en"]
    work = Path(tempfile.mkdtemp(prefix="mentor-bench-quant-"))
    rows = [hf_row("fp32 (original)", Path(resolve(args.model).location), tokenizer, text, args.tokens, args.rounds)]
    variants = {"bf16": lambda out: export(args.model, "hf", out, quantize="bf16"),
                "int8": lambda out: quantize(args.model, "int8", out),
                "int4": lambda out: quantize(args.model, "int4", out),
                "nf4": lambda out: quantize(args.model, "nf4", out)}
    for label, make in variants.items():
        if label in skip:
            continue
        make(work / label)
        rows.append(hf_row(label, work / label, tokenizer, text, args.tokens, args.rounds))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("llama-cpp-python is not installed: no llama.cpp peer rows (pip install llama-cpp-python)", file=sys.stderr)
    else:
        for qtype in ("f16", "q8_0", "q4_0"):
            folder = export(args.model, "gguf", work / f"gguf-{qtype}", quantize=qtype)
            rows.append(llama_cpp_row(f"GGUF {qtype}", folder / f"model-{qtype}.gguf", tokenizer, text, args.tokens,
                                      args.rounds))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base = rows[0]
    lines = ["| variant | engine | size MB | load s | decode tok/s | vs fp32 | perplexity | delta |", "|" + "---|" * 8]
    for r in rows:
        r["speedup"] = r["decode_tok_s"] / base["decode_tok_s"]
        r["perplexity_delta_pct"] = 100 * (r["perplexity"] / base["perplexity"] - 1)
        lines.append(f"| {r['variant']} | {r['engine']} | {r['size_mb']:.0f} | {r['load_s']:.2f} | "
                     f"{r['decode_tok_s']:.1f} | {r['speedup']:.2f}x | {r['perplexity']:.3f} | "
                     f"{r['perplexity_delta_pct']:+.1f}% |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "quant.md").write_text("\n".join(lines) + "\n")
    (OUT / "quant.json").write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
