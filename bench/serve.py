"""Serving speed: `mentor serve` on each backend (official openai client, streaming) vs llama.cpp and
transformers' own generate loop.

    python bench/serve.py [--max-tokens 64] [--rounds 3] [--backends torch,ctranslate2:float32,ctranslate2:int8]

Time to first token (TTFT) and generated tokens/s, for 1 client and for 8 concurrent clients, on the
embedded SmolLM2-135M-Instruct, greedy, 2 threads. Peers:
- llama.cpp (llama-cpp-python, when installed: it is a source build, so not part of `make setup`) on
  Mentor's own GGUF exports of the same weights, f16 and q8_0, streaming in-process; 8 clients are served
  one after another as its Python server does (one model, one sequence at a time);
- what a plain server built on transformers does: `model.generate` with a TextIteratorStreamer, one
  request at a time; transformers' static batch of 8 (no streaming) as a second reference.
Ratios pair each Mentor backend with llama.cpp at the nearest quantisation (float32 with f16, int8 with
q8_0). Writes bench/out/serve.md and bench/out/serve.json.
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


def start_server(home: Path, backend: str = "auto") -> tuple[subprocess.Popen, str]:
    import openai

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mentor", "serve", "--port", str(port), "--no-worker",
                             "--backend", backend], env={**os.environ, "MENTOR_HOME": str(home)})
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


def mentor_rows(backend: str, home: Path, max_tokens: int, rounds: int) -> dict[str, dict]:
    import openai

    proc, url = start_server(home, backend)
    try:
        client = openai.OpenAI(base_url=url, api_key="-", max_retries=0, timeout=600)
        mentor_request(client, "Hi", 4)  # load (and convert) the model
        single = [mentor_request(client, PROMPTS[i % 8], max_tokens) for i in range(rounds)]
        walls, runs = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                runs += list(pool.map(lambda p: mentor_request(client, p, max_tokens), PROMPTS))
            walls.append(time.perf_counter() - started)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    return {f"mentor {backend}, 1 client": summarise(single, sum(r["seconds"] for r in single)),
            f"mentor {backend}, 8 clients": summarise(runs, sum(walls))}


def llama_cpp_rows(home: Path, max_tokens: int, rounds: int) -> dict[str, dict]:
    """llama.cpp on Mentor's GGUF exports of the same weights, streaming chat completions in-process."""
    try:
        from llama_cpp import Llama
    except ImportError:
        print("llama-cpp-python is not installed: no llama.cpp rows (pip install llama-cpp-python; a source build)",
              file=sys.stderr)
        return {}
    from mentor.deploy.export import export
    from mentor.workspace import Workspace

    out = {}
    for qtype in ("f16", "q8_0"):
        folder = export(MODEL, "gguf", home.parent / f"gguf-{qtype}", quantize=qtype, workspace=Workspace(home))
        llm = Llama(model_path=str(folder / f"model-{qtype}.gguf"), n_ctx=1024, n_threads=2, verbose=False)

        def ask(prompt: str, queued_at: float) -> dict:
            first, tokens = None, 0
            for chunk in llm.create_chat_completion([{"role": "user", "content": prompt}], temperature=0, top_k=1,
                                                    max_tokens=max_tokens, stream=True):
                if chunk["choices"][0]["delta"].get("content"):
                    tokens += 1  # one chunk per token
                    first = first or time.perf_counter() - queued_at
            return {"ttft": first, "seconds": time.perf_counter() - queued_at, "tokens": tokens}

        ask("Hi", time.perf_counter())
        single = [ask(PROMPTS[i % 8], time.perf_counter()) for i in range(rounds)]
        out[f"llama.cpp {qtype}, 1 client"] = summarise(single, sum(r["seconds"] for r in single))
        walls, runs = [], []
        for _ in range(rounds):  # one sequence at a time: clients queue
            started = time.perf_counter()
            runs += [ask(p, started) for p in PROMPTS]
            walls.append(time.perf_counter() - started)
        out[f"llama.cpp {qtype}, 8 clients (one at a time)"] = summarise(runs, sum(walls))
    return out


PEER = {"ctranslate2:float32": "f16", "ctranslate2": "f16", "ctranslate2:int8": "q8_0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="torch,ctranslate2:float32,ctranslate2:int8")
    parser.add_argument("--no-transformers", action="store_true", help="skip transformers' generate rows")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        for backend in args.backends.split(","):
            results.update(mentor_rows(backend, home, args.max_tokens, args.rounds))
            print(json.dumps({k: v for k, v in results.items() if k.startswith(f"mentor {backend},")}), flush=True)
        results.update(llama_cpp_rows(home, args.max_tokens, args.rounds))
        if not args.no_transformers:
            results.update(transformers_rows(home, args.max_tokens, args.rounds))

    ratios = {}
    for backend in args.backends.split(","):
        m1, m8 = results[f"mentor {backend}, 1 client"], results[f"mentor {backend}, 8 clients"]
        ratios[f"{backend}: 8 clients vs its own 1 client, tokens/s"] = m8["tokens_per_s"] / m1["tokens_per_s"]
        peer = PEER.get(backend)
        if peer and f"llama.cpp {peer}, 1 client" in results:
            l1, l8 = results[f"llama.cpp {peer}, 1 client"], results[f"llama.cpp {peer}, 8 clients (one at a time)"]
            ratios[f"{backend} vs llama.cpp {peer}: 1 client tokens/s (target >= 0.9)"] = m1["tokens_per_s"] / l1["tokens_per_s"]
            ratios[f"{backend} vs llama.cpp {peer}: 1 client TTFT, mentor / llama.cpp (target <= 1.2)"] = \
                m1["ttft_mean_s"] / l1["ttft_mean_s"]
            ratios[f"{backend} vs llama.cpp {peer}: 8 clients tokens/s (target >= 1.0)"] = m8["tokens_per_s"] / l8["tokens_per_s"]
        if "transformers generate, 1 client" in results:
            b1 = results["transformers generate, 1 client"]
            b8 = results["transformers generate, 8 clients (one at a time)"]
            ratios[f"{backend} vs transformers generate: 1 client tokens/s"] = m1["tokens_per_s"] / b1["tokens_per_s"]
            ratios[f"{backend} vs transformers generate: 8 clients tokens/s"] = m8["tokens_per_s"] / b8["tokens_per_s"]
    lines = [f"# Serving ({MODEL}, greedy, {args.max_tokens} new tokens, {args.rounds} rounds, 2 threads)", "",
             "| setup | mean TTFT s | max TTFT s | tokens/s |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['ttft_mean_s']:.3f} | {r['ttft_max_s']:.3f} | {r['tokens_per_s']:.1f} |")
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f}x |" for k, v in ratios.items()]
    report = "\n".join(lines)
    print(report)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.md").write_text(report + "\n")
    (out / "serve.json").write_text(json.dumps({"results": results, "ratios": ratios}, indent=2))


def transformers_rows(home: Path, max_tokens: int, rounds: int) -> dict[str, dict]:
    import torch

    from mentor.generation import load_for_inference
    from mentor.workspace import Workspace

    torch.set_num_threads(2)
    lm = load_for_inference(MODEL, workspace=Workspace(home))
    baseline_request(lm, "Hi", 4, time.perf_counter())
    single = [baseline_request(lm, PROMPTS[i % 8], max_tokens, time.perf_counter()) for i in range(rounds)]
    walls, runs = [], []
    for _ in range(rounds):  # 8 clients arrive together and are served one after another
        started = time.perf_counter()
        runs += [baseline_request(lm, p, max_tokens, started) for p in PROMPTS]
        walls.append(time.perf_counter() - started)
    return {"transformers generate, 1 client": summarise(single, sum(r["seconds"] for r in single)),
            "transformers generate, 8 clients (one at a time)": summarise(runs, sum(walls)),
            "transformers static batch of 8 (no streaming)": static_batch(lm, max_tokens, rounds)}


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
