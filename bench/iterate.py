"""The continuous-iteration loop, end to end, with default training settings (issue 22's targets).

An app serves a private text-to-SQL task (bench/sqlset.py) with the base model. Users ask through the
OpenAI-compatible server (the official `openai` client), and 60 thumbs-down with corrections arrive through
POST /v1/feedback. One `mentor iterate APP` round mines, builds the dataset, trains, compares and promotes.
Then more feedback and a second round that continues from the first round's run.

Measured: execution accuracy on held-out questions (entities never trained on) before and after each round,
and general-knowledge multiple choice (MMLU + CMMLU questions from ../shared/data) of the current model and
the candidate. Targets: +40 points execution accuracy after one round, at most 2 points of general accuracy lost.

    python bench/iterate.py                      # ~25 min on 2 CPU cores
    python bench/iterate.py --feedback 60 --second 25 --eval 40 --questions 100
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
KEY = "bench-key"


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def _server(home: Path):
    import openai

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MENTOR_HOME": str(home), "MENTOR_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "mentor", "serve", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=300)
    deadline = time.monotonic() + 120
    while True:
        try:
            client.models.list()
            return proc, client, f"http://127.0.0.1:{port}"
        except openai.APIConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start") from None
            time.sleep(0.5)


def _feedback(client, url: str, rows: list[dict], first: int = 0) -> dict:
    """Ask each question through the server as a user would, then send a thumbs-down with the correct query."""
    from bench.sqlset import execution_match

    right, sent = 0, 0
    for i, row in enumerate(rows):
        reply = client.chat.completions.create(model="app:sql-help", messages=[{"role": "user", "content": row["q"]}],
                                               metadata={"conversation_id": f"bench-{first + i}"})
        if execution_match(reply.choices[0].message.content, row["reference"]):
            right += 1
            status, _ = _post(f"{url}/v1/feedback", {"id": reply.id, "rating": 1})
        else:
            status, _ = _post(f"{url}/v1/feedback", {"id": reply.id, "rating": -1, "correction": row["reference"],
                                                     "comment": "wrong query"})
            sent += 1
        assert status == 200, status
    return {"asked": len(rows), "already_right": right, "corrections": sent}


def _mentor(home: Path, *args: str) -> str:
    env = {**os.environ, "MENTOR_HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "mentor", *args], env=env, cwd=REPO, capture_output=True, text=True)
    sys.stderr.write(proc.stderr[-3000:])
    if proc.returncode != 0:
        raise RuntimeError(f"mentor {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feedback", type=int, default=60, help="questions answered and corrected before round 1")
    ap.add_argument("--second", type=int, default=25, help="more questions before round 2 (0: no second round)")
    ap.add_argument("--eval", type=int, default=40, help="held-out questions (entities never trained on)")
    ap.add_argument("--questions", type=int, default=100, help="general-knowledge questions for the forgetting probe")
    ap.add_argument("--min-cases", type=int, default=20, help="the app's iterate.min_cases")
    ap.add_argument("--again", type=Path, help="a workspace of an earlier run of this bench: set --min-cases on its "
                                               "app and run one more round on the feedback it has (no new questions)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "iterate.json")
    args = ap.parse_args()
    from bench.sqlset import PROMPT, questions

    if args.again:
        app = json.loads((args.again.parent / "app.yaml").read_text(encoding="utf-8"))
        app["iterate"]["min_cases"] = args.min_cases
        app["model"] = json.loads(_mentor(args.again, "app", "show", "sql-help", "--json"))["config"]["model"]  # keep the promoted run
        (args.again.parent / "app.yaml").write_text(json.dumps(app, ensure_ascii=False), encoding="utf-8")
        _mentor(args.again, "app", "create", "--config", str(args.again.parent / "app.yaml"))
        started = time.perf_counter()
        result = json.loads(_mentor(args.again, "iterate", "sql-help", "--json"))
        result["seconds"] = round(time.perf_counter() - started, 1)
        saved = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {"rounds": []}
        saved["rounds"].append({**result, "min_cases": args.min_cases})
        args.out.write_text(json.dumps(saved, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        _report(saved["rounds"][-1:], args.out)
        return
    home = Path(tempfile.mkdtemp(prefix="mentor-iterate-")) / "home"
    home.mkdir(parents=True)
    eval_file = home.parent / "eval.jsonl"
    eval_file.write_text("".join(json.dumps({"q": r["q"], "reference": r["reference"]}, ensure_ascii=False) + "\n"
                                 for r in questions(args.eval, "test")), encoding="utf-8")
    general = [str(p) for p in (SHARED / "mmlu" / "data" / "test", SHARED / "cmmlu" / "data" / "test") if p.exists()]
    app = {"name": "sql-help", "prompt": PROMPT, "sampling": {"temperature": 0, "max_tokens": 64},
           "evaluation": {"cases": str(eval_file), "scorer": "bench.sqlset:execution_match"},
           "iterate": {"general": general, "questions": args.questions, "min_cases": args.min_cases}}
    (home.parent / "app.yaml").write_text(json.dumps(app, ensure_ascii=False), encoding="utf-8")
    _mentor(home, "app", "create", "--config", str(home.parent / "app.yaml"))
    pool = questions(args.feedback + args.second)
    results: dict = {"settings": vars(args) | {"out": str(args.out)}, "home": str(home)}
    proc, client, url = _server(home)
    try:
        results["feedback_1"] = _feedback(client, url, pool[:args.feedback])
        # bad input on the same route: unknown id, rating out of range
        results["bad_input"] = {"unknown_id": _post(f"{url}/v1/feedback", {"id": "chatcmpl-x", "rating": 1})[0],
                                "rating_5": _post(f"{url}/v1/feedback", {"id": "1", "rating": 5})[0]}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    started = time.perf_counter()
    rounds = [json.loads(_mentor(home, "iterate", "sql-help", "--json"))]
    rounds[0]["seconds"] = round(time.perf_counter() - started, 1)
    if args.second:
        proc, client, url = _server(home)
        try:
            results["feedback_2"] = _feedback(client, url, pool[args.feedback:], args.feedback)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        started = time.perf_counter()
        rounds.append(json.loads(_mentor(home, "iterate", "sql-help", "--json")))
        rounds[1]["seconds"] = round(time.perf_counter() - started, 1)
    results["rounds"] = rounds
    results["metrics"] = json.loads(_mentor(home, "app", "metrics", "sql-help", "--json"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    print(f"bad input: unknown id -> HTTP {results['bad_input']['unknown_id']}, rating 5 -> HTTP {results['bad_input']['rating_5']}")
    _report(rounds, args.out)


def _report(rounds: list[dict], out: Path) -> None:
    for r in rounds:
        c = r.get("compare") or {}
        s, f = c.get("score", {}), c.get("forgetting", {})
        print(f"round {r['id']}: {r['status']} ({r.get('reason', '')})")
        if s:
            print(f"  execution accuracy on {s['set']}: {s['current']:.1f} -> {s['candidate']:.1f} ({s['delta']:+.1f} points); "
                  f"rows {r['dataset']['new_rows']} new + {r['dataset']['replay']} replayed; {r['seconds']:.0f} s")
        if f.get("drop") is not None:
            print(f"  general knowledge ({f['questions']} questions): {f['current']:.1f} -> {f['candidate']:.1f} "
                  f"({-f['drop']:+.1f} points)")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
