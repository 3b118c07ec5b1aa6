"""The model engine on the embedded models: router, calculator flow, guard and agent, against the targets of
the model-engine issue.

    python bench/engine.py [--calc 40] [--agent 20] [--skip calc,agent]

- router: the example app (examples/northwind/bike-help.yaml, 5 examples a route) on bench/routeset.py's 80
  labelled English and Chinese messages: accuracy, how routes were decided, p95 latency of the messages the
  examples decided (targets >= 90%, <= 30 ms);
- calculator: bench/calcset.py's multi-step price, discount and unit questions, answered by the model alone
  (a chat app) and by the calculator flow (target >= 95% exact);
- guard: bench/guardset.py's held-out attacks and ordinary messages with the default guard (targets: >= 90%
  of attacks blocked, <= 5% of ordinary messages blocked, PII recall >= 98%, ids and prices untouched in >= 98%
  of texts, p95 <= 15 ms a message);
- agent: two-step tasks (look an order up, then compute) with 3 tools, untuned (target after a LoRA on
  tool-call data: >= 80%).

Writes bench/out/engine.md and engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO))

ORDERS = {f"A-{1000 + i}": {"status": random.Random(i).choice(["shipped", "processing", "delivered"]),
                            "price": random.Random(i).choice([12.5, 18, 24, 45, 60, 120, 899])} for i in range(40)}


def order_status(order_id: str) -> dict:
    """Look up an order by its id (like A-1003): its status and the price of one item."""
    return ORDERS[order_id]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calc", type=int, default=40)
    ap.add_argument("--agent", type=int, default=20)
    ap.add_argument("--calc-model", default=None, help="also run the calculator flow on this model (a run folder: "
                    "train one with `python bench/calcset.py > calc.jsonl && mentor train --data calc.jsonl`)")
    ap.add_argument("--calc-variants", default="plain,calc,calc-tuned", help="which of the calculator variants to run")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: router, calc, guard, agent")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    home = Path(tempfile.mkdtemp(prefix="mentor-bench-engine-"))
    os.environ["MENTOR_HOME"] = str(home / "ws")
    os.environ.setdefault("MENTOR_MODEL_CACHE", str(REPO / ".mentor" / "models"))

    from mentor.engine import config, store
    from mentor.engine.app import Apps
    from mentor.engine.generator import LocalGenerator
    from mentor.rag.knowledge_base import KnowledgeBase
    from mentor.workspace import Workspace

    ws = Workspace()
    kb = KnowledgeBase.create("shop-policies", "me5-small", workspace=ws)
    kb.add([REPO / "examples" / "northwind" / "policies"])
    store.save(config.load(REPO / "examples" / "northwind" / "bike-help.yaml"), ws)
    apps = Apps(ws, LocalGenerator(ws))
    results: dict = {}
    if "router" not in skip:
        results["router"] = router(apps)
    if "calc" not in skip:
        results["calculator"] = calculator(apps, ws, args.calc, args.calc_model, args.calc_variants.split(","))
    if "guard" not in skip:
        results["guard"] = guard()
    if "agent" not in skip:
        results["agent"] = agent(apps, ws, args.agent)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "engine.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (args.out / "engine.md").write_text(report(results))
    print(report(results))


def router(apps) -> dict:
    from routeset import rows

    from mentor.engine.router import evaluate

    r = apps.get("bike-help").router
    result = evaluate(r, rows())
    latencies = []
    for row in rows():
        start = time.perf_counter()
        decision = r.route(row["q"])
        if decision.by == "examples":
            latencies.append((time.perf_counter() - start) * 1000)
    result["examples_p95_ms"] = float(np.percentile(latencies, 95))
    for lang in ("en", "zh"):
        from mentor.evaluate.text import has_cjk

        mine = [w for w in result["wrong"] if has_cjk(w["q"]) == (lang == "zh")]
        result[f"wrong_{lang}"] = len(mine)
    print(f"router: {result['accuracy']:.1%}, p95 {result['examples_p95_ms']:.1f} ms", flush=True)
    return result


def calculator(apps, ws, n: int, tuned: str | None = None, variants=("plain", "calc", "calc-tuned")) -> dict:
    from calcset import questions, right

    from mentor.data.conversation import Message
    from mentor.engine import config, store
    from mentor.models import DEFAULT_LLM

    store.save(config.parse(f"name: calc\nmodel: {DEFAULT_LLM}\nflow: calculator\n"), ws)
    store.save(config.parse(f"name: plain\nmodel: {DEFAULT_LLM}\nflow: chat\nsampling: {{temperature: 0, max_tokens: 96}}\n"), ws)
    if tuned:
        store.save(config.parse(f"name: calc-tuned\nmodel: {tuned}\nflow: calculator\n"), ws)
    out = {}
    for name in [v for v in variants if v != "calc-tuned" or tuned]:
        good, start = [], time.perf_counter()
        for q in questions(n):
            text = apps.get(name).respond([Message("user", q["q"])]).read()
            good.append(right(text, q["answer"]))
        out[name] = {"right": sum(good), "of": n, "seconds": time.perf_counter() - start}
        print(f"calculator {name}: {sum(good)}/{n}", flush=True)
    return out


def guard() -> dict:
    import guardset

    from mentor.engine.guard import Guard, GuardConfig

    g = Guard(GuardConfig(allowed_domains=("northwind-cycles.example",)))
    rows = guardset.held_out()
    out: dict = {"kinds": {}}
    times = []
    for row in rows:
        start = time.perf_counter()
        verdict = g.check_input(row["text"])
        times.append((time.perf_counter() - start) * 1000)
        key = f"{row['kind']}/{row['lang']}"
        k = out["kinds"].setdefault(key, {"blocked": 0, "of": 0})
        k["of"] += 1
        k["blocked"] += not verdict.allowed
    attacks = [v for k, v in out["kinds"].items() if not k.startswith("benign")]
    benign = [v for k, v in out["kinds"].items() if k.startswith("benign")]
    out["attacks_blocked"] = sum(v["blocked"] for v in attacks) / max(1, sum(v["of"] for v in attacks))
    out["benign_blocked"] = sum(v["blocked"] for v in benign) / max(1, sum(v["of"] for v in benign))
    out["p95_ms"] = float(np.percentile(times, 95))
    found = total = untouched = texts = 0
    for text, pii, keep in guardset.pii_texts():
        red = g.check_input(text).text
        total += len(pii)
        found += sum(p not in red for p in pii)
        texts += 1
        untouched += all(k in red for k in keep)
    out["pii_recall"], out["ids_untouched"] = found / max(1, total), untouched / max(1, texts)
    print(f"guard: attacks {out['attacks_blocked']:.1%}, benign {out['benign_blocked']:.1%}", flush=True)
    return out


def agent(apps, ws, n: int) -> dict:
    from mentor.data.conversation import Message
    from mentor.engine import config, store
    from mentor.models import DEFAULT_LLM

    store.save(config.parse(f"name: agent\nmodel: {DEFAULT_LLM}\nflow: agent\nsampling: {{temperature: 0}}\n"
                            "tools: [calculator, {python: 'engine:order_status'}, {kb_search: shop-policies}]\n"), ws)
    rng, done = random.Random(5), 0
    cases = []
    for i in range(n):
        order, qty = f"A-{1000 + rng.randrange(40)}", rng.randint(2, 6)
        q = (f"How much would {qty} items like the one in order {order} cost?" if i % 2 == 0 else
             f"订单 {order} 里的商品，买 {qty} 件要多少钱？")
        expected = qty * ORDERS[order]["price"]
        reply = apps.get("agent").respond([Message("user", q)])
        text = reply.read()
        names = [c["name"] for c in reply.trace.tool_calls]
        ok = "order_status" in names and "calculator" in names and str(round(expected, 2)).rstrip("0").rstrip(".") in text
        done += ok
        cases.append({"q": q, "tools": names, "answer": text[:200], "ok": ok})
    print(f"agent (untuned): {done}/{n}", flush=True)
    return {"done": done, "of": n, "cases": cases}


def report(r: dict) -> str:
    lines = ["# Model engine (bench/engine.py)", ""]
    if "router" in r:
        x = r["router"]
        lines += [f"- router: {x['accuracy']:.1%} of {x['rows']} messages right (wrong: {x['wrong_en']} English, "
                  f"{x['wrong_zh']} Chinese); decided by {x['by']}; p95 {x['examples_p95_ms']:.1f} ms when examples "
                  "decide (targets 90%, 30 ms)"]
    if "calculator" in r:
        c = r["calculator"]
        labels = {"plain": "model alone", "calc": "calculator flow", "calc-tuned": "calculator flow on the tuned model"}
        lines += ["- calculator (target 95% exact): " + ", ".join(f"{labels[k]} {v['right']}/{v['of']}" for k, v in c.items())]
    if "guard" in r:
        g = r["guard"]
        lines += [f"- guard: attacks blocked {g['attacks_blocked']:.1%} (target 90%), ordinary messages blocked "
                  f"{g['benign_blocked']:.1%} (target <= 5%), PII recall {g['pii_recall']:.1%}, ids and prices untouched "
                  f"{g['ids_untouched']:.1%} (targets 98%), p95 {g['p95_ms']:.2f} ms (target 15 ms)",
                  "  - " + ", ".join(f"{k} {v['blocked']}/{v['of']}" for k, v in sorted(g["kinds"].items()))]
    if "agent" in r:
        a = r["agent"]
        lines += [f"- agent, untuned: {a['done']}/{a['of']} two-step tasks done (target after a LoRA: 80%)"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
