"""Serving speed: `mentor serve` (official openai client, streaming) vs transformers' own generate loop.

    python bench/serve.py [--max-tokens 64] [--rounds 3]

Time to first token (TTFT) and generated tokens/s, for 1 client and for 8 concurrent clients, on the
embedded SmolLM2-135M-Instruct, greedy. The baseline is what a plain server built on transformers does:
`model.generate` with a TextIteratorStreamer, one request at a time (8 clients queue behind each other);
transformers' static batch of 8 (`generate` on a padded batch, no streaming) is printed as a second
reference. Writes bench/out/serve.md and bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m-instruct"
PROMPTS = [f"Tell me something interesting about the number {i}." for i in range(8)]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    import openai

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mentor", "serve", "--port", str(port), "--no-worker"],
                            env={**os.environ, "MENTOR_HOME": str(home)})
    url = f"http://127.0.0.1:{port}/v1"
    client = openai.OpenAI(base_url=url, api_key="-", max_retries=0)
    for _ in range(180):
        try:
            client.models.list()
            return proc, url
        except openai.APIConnectionError:
            time.sleep(0.5)
    raise SystemExit("server did not start")


def mentor_request(client, prompt: str, max_tokens: int) -> dict:
    started = time.perf_counter()
    first, tokens = None, 0
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                            temperature=0, max_tokens=max_tokens, stream=True,
                                            stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.perf_counter() - started
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return {"ttft": first, "seconds": time.perf_counter() - started, "tokens": tokens}


def baseline_request(lm, prompt: str, max_tokens: int, queued_at: float) -> dict:
    """transformers generate + TextIteratorStreamer; times count from when the client asked (``queued_at``)."""
    import torch
    from transformers import TextIteratorStreamer

    tok = lm.tokenizer
    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import render_prompt

    enc = tok(render_prompt(Conversation((Message("user", prompt),)), tok), return_tensors="pt", add_special_tokens=False)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    out = {}

    def work():
        with torch.no_grad():
            out["ids"] = lm.model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, temperature=None,
                                           top_p=None, top_k=None, streamer=streamer, pad_token_id=tok.pad_token_id)

    thread = threading.Thread(target=work)
    thread.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter() - queued_at
    thread.join()
    return {"ttft": first, "seconds": time.perf_counter() - queued_at,
            "tokens": out["ids"].shape[1] - enc["input_ids"].shape[1]}


def summarise(results: list[dict], wall: float) -> dict:
    return {"ttft_mean_s": statistics.mean(r["ttft"] for r in results),
            "ttft_max_s": max(r["ttft"] for r in results),
            "tokens": sum(r["tokens"] for r in results), "wall_s": wall,
            "tokens_per_s": sum(r["tokens"] for r in results) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import openai

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "home")
        try:
            client = openai.OpenAI(base_url=url, api_key="-", max_retries=0, timeout=600)
            mentor_request(client, "Hi", 4)  # load the model
            single = [mentor_request(client, PROMPTS[i % 8], args.max_tokens) for i in range(args.rounds)]
            results["mentor, 1 client"] = summarise(single, sum(r["seconds"] for r in single))
            walls, runs = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                with ThreadPoolExecutor(8) as pool:
                    runs += list(pool.map(lambda p: mentor_request(client, p, args.max_tokens), PROMPTS))
                walls.append(time.perf_counter() - started)
            results["mentor, 8 clients"] = summarise(runs, sum(walls))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)

        from mentor.generation import load_for_inference
        from mentor.workspace import Workspace

        lm = load_for_inference(MODEL, workspace=Workspace(Path(tmp) / "home"))
        baseline_request(lm, "Hi", 4, time.perf_counter())
        single = []
        for i in range(args.rounds):
            single.append(baseline_request(lm, PROMPTS[i % 8], args.max_tokens, time.perf_counter()))
        results["transformers generate, 1 client"] = summarise(single, sum(r["seconds"] for r in single))
        walls, runs = [], []
        for _ in range(args.rounds):  # 8 clients arrive together and are served one after another
            started = time.perf_counter()
            runs += [baseline_request(lm, p, args.max_tokens, started) for p in PROMPTS]
            walls.append(time.perf_counter() - started)
        results["transformers generate, 8 clients (one at a time)"] = summarise(runs, sum(walls))
        results["transformers static batch of 8 (no streaming)"] = static_batch(lm, args.max_tokens, args.rounds)

    m1, m8 = results["mentor, 1 client"], results["mentor, 8 clients"]
    b1, b8 = results["transformers generate, 1 client"], results["transformers generate, 8 clients (one at a time)"]
    ratios = {"1 client tokens/s": m1["tokens_per_s"] / b1["tokens_per_s"],
              "1 client TTFT (baseline / mentor)": b1["ttft_mean_s"] / m1["ttft_mean_s"],
              "8 clients tokens/s": m8["tokens_per_s"] / b8["tokens_per_s"],
              "8 clients mean TTFT (baseline / mentor)": b8["ttft_mean_s"] / m8["ttft_mean_s"]}
    lines = [f"# Serving: mentor serve vs transformers generate ({MODEL}, greedy, {args.max_tokens} new tokens, "
             f"{args.rounds} rounds)", "", "| setup | mean TTFT s | max TTFT s | tokens/s |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['ttft_mean_s']:.3f} | {r['ttft_max_s']:.3f} | {r['tokens_per_s']:.1f} |")
    lines += ["", "| ratio (mentor vs baseline, >1 is better) | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f}x |" for k, v in ratios.items()]
    report = "\n".join(lines)
    print(report)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.md").write_text(report + "\n")
    (out / "serve.json").write_text(json.dumps({"results": results, "ratios": ratios}, indent=2))


def static_batch(lm, max_tokens: int, rounds: int) -> dict:
    import torch

    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import render_prompt

    tok = lm.tokenizer
    tok.padding_side = "left"
    enc = tok([render_prompt(Conversation((Message("user", p),)), tok) for p in PROMPTS], return_tensors="pt",
              padding=True, add_special_tokens=False)
    tokens, wall = 0, 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        with torch.no_grad():
            ids = lm.model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, temperature=None, top_p=None,
                                    top_k=None, pad_token_id=tok.pad_token_id)
        wall += time.perf_counter() - started
        new = ids[:, enc["input_ids"].shape[1]:]
        tokens += int(sum(int((row != tok.pad_token_id).sum()) for row in new))
    return {"ttft_mean_s": wall / rounds, "ttft_max_s": wall / rounds, "tokens": tokens, "wall_s": wall,
            "tokens_per_s": tokens / wall}


if __name__ == "__main__":
    main()
