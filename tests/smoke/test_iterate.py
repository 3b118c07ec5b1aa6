"""The iteration loop on the real model and a small text-to-SQL app: feedback and metrics, mining, the next
dataset, `train --from`, compare, promote (refusing another base model), rollback, and `mentor iterate`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from bench.sqlset import PROMPT, questions
from mentor.data.conversation import Message
from mentor.apps import feedback
from mentor.engine import config, store
from mentor.engine.app import Apps
from mentor.engine.generator import LocalGenerator
from mentor.errors import MentorError, NotFound
from mentor.apps import build_dataset, compare, iterations, mine, promote, rollback, run_round
from tests.conftest import MODEL, REPO


def _app(tmp_path, eval_rows: list[dict]) -> str:
    cases = tmp_path / "eval.jsonl"
    cases.write_text("".join(json.dumps({"q": r["q"], "reference": r["reference"]}) + "\n" for r in eval_rows))
    return json.dumps({
        "name": "sql", "model": MODEL, "prompt": PROMPT, "sampling": {"temperature": 0, "max_tokens": 40},
        "evaluation": {"cases": str(cases), "scorer": "bench.sqlset:execution_match", "regex": "SELECT"},
        "iterate": {"min_cases": 3, "hold_out": 0.25, "train": {"max_steps": 2, "batch_size": 2}},
    })


def _ask(apps, question: str, conversation: str | None = None):
    reply = apps.get("sql").respond([Message("user", question)], conversation=conversation)
    reply.read()
    return reply


def test_feedback_mining_dataset_rounds_promote_and_rollback(tmp_path, workspace, monkeypatch):
    monkeypatch.chdir(REPO)  # bench.sqlset importable for the scorer
    ws = workspace
    store.save(config.parse(_app(tmp_path, questions(4, "test"))), ws)
    apps = Apps(ws, LocalGenerator(ws))
    train = questions(10)
    replies = [_ask(apps, r["q"], conversation="c1" if i < 2 else None) for i, r in enumerate(train[:9])]

    # feedback: corrections, a thumbs-up, one without a correction, one whose correction fails the app's checks
    for reply, row in zip(replies[:6], train):
        assert feedback.record(ws, reply.trace.response_id, -1, correction=row["reference"])["flags"] == []
    assert feedback.record(ws, str(replies[6].trace.log_id), 1)["rating"] == 1
    feedback.record(ws, replies[7].trace.response_id, -1, comment="wrong table")
    flagged = feedback.record(ws, replies[8].trace.response_id, -1, correction="no idea")
    assert flagged["flags"] == ["correction does not match regex 'SELECT'"]
    with pytest.raises(NotFound):
        feedback.record(ws, "chatcmpl-nope", 1)
    with pytest.raises(MentorError, match="rating"):
        feedback.record(ws, replies[0].trace.response_id, 5)

    day = feedback.metrics(ws, "sql")[0]
    assert day["requests"] == 9 and day["conversations"] == 8 and day["feedback_coverage"] == 100.0
    assert day["thumbs_up_rate"] == pytest.approx(100 / 9, abs=0.1) and day["latency_p95"] >= day["latency_p50"] > 0

    cases = mine(ws, "sql")
    by_id = {c["response_id"]: c for c in cases}
    assert all(c["reasons"] for c in cases) and all(c.get("topic") for c in cases)
    assert by_id[replies[0].trace.response_id]["reasons"][0] == "thumbs-down with a correction"
    assert by_id[replies[0].trace.response_id]["reviewed"] and not by_id[replies[8].trace.response_id]["reviewed"]
    assert by_id[replies[7].trace.response_id]["reasons"][0] == "thumbs-down"

    out = tmp_path / "next.jsonl"
    stats = build_dataset(ws, "sql", cases, out)
    assert stats["new_rows"] + stats["held_out"] == 6 and stats["flagged_skipped"] == 1 and stats["replay"] == 0
    assert stats["preference_pairs"] == stats["new_rows"]  # every corrected answer was rated down
    row = json.loads(out.read_text().splitlines()[0])
    assert row["messages"][0]["role"] == "system" and "rentals.rider_id" in row["messages"][0]["content"]
    assert row["messages"][-1]["content"].startswith("SELECT")
    assert stats["no_answer"] >= 1  # thumbs-down without a correction (and no teacher): nothing to train on
    from mentor.evaluate.judge import Judge

    uncorrected = [c for c in cases if not c["correction"]][:2]
    taught = build_dataset(ws, "sql", uncorrected, tmp_path / "taught.jsonl", teacher=Judge(MODEL), hold_out=0)
    assert taught["teacher"] == 2 and taught["unreviewed_skipped"] == 2 and taught["new_rows"] == 0
    taught = build_dataset(ws, "sql", uncorrected, tmp_path / "taught.jsonl", teacher=Judge(MODEL), hold_out=0,
                           accept_unreviewed=True)
    assert taught["new_rows"] == 2

    # round 1 trains on the base model; the candidate is compared, then promoted by force
    first = run_round(ws, "sql", promote_winner=False, log=lambda _: None)
    assert first["status"] in ("candidate", "refused") and first["run"] == "sql-r1"
    assert set(first["compare"]["score"]) == {"set", "current", "candidate", "delta"}
    assert (tmp_path / "home" / "iterations" / "sql" / "round-1" / "compare.html").exists()
    saved = promote(ws, "sql", "sql-r1", force=True)
    assert saved.config.model == "sql-r1" and saved.note.startswith("promoted sql-r1")

    # used feedback is not mined again; round 2 (new feedback) continues from round 1's run, with replay
    more = [_ask(apps, r["q"]) for r in questions(17)[10:]]
    for reply, row in zip(more, questions(17)[10:]):
        feedback.record(ws, reply.trace.response_id, -1, correction=row["reference"])
    second = run_round(ws, "sql", force=True, log=lambda _: None)
    assert second["status"] != "stopped", second["reason"]
    assert second["status"] == "promoted" and second["model"] == "sql-r1" and second["dataset"]["replay"] >= 1
    assert second["dataset"]["cases"] < len(cases) + 7
    run2 = ws.get_run(second["run"])
    assert "from_run: sql-r1" in (run2.path / "config.yaml").read_text() and run2.base_model == MODEL
    assert [r["status"] for r in iterations(ws, "sql")] == ["promoted", first["status"]]

    # the continued run started from round 1's weights: its adapter differs from round 1's by 2 small steps
    from safetensors.torch import load_file

    a = load_file(ws.get_run("sql-r1").path / "adapter" / "adapter_model.safetensors")
    b = load_file(run2.path / "adapter" / "adapter_model.safetensors")
    key = next(k for k in a if "lora_B" in k)
    assert torch.count_nonzero(a[key]) > 0 and torch.allclose(a[key], b[key], atol=5e-3) and not torch.equal(a[key], b[key])

    assert rollback(ws, "sql").config.model == "sql-r1"
    assert rollback(ws, "sql").config.model == second["run"]
    notes = [v.note for v in store.history("sql", ws)]
    assert sum(bool(n and n.startswith("promoted")) for n in notes) == 2 and notes[-1].startswith("rolled back")


def test_promotion_refuses_another_base_model_and_cli(tmp_path, workspace, tiny_model, monkeypatch):
    from mentor.tune import load_config, train

    monkeypatch.chdir(REPO)
    ws = workspace
    store.save(config.parse(_app(tmp_path, questions(2, "test"))), ws)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": r["q"]},
                                                     {"role": "assistant", "content": r["reference"]}]}) + "\n"
                            for r in questions(4)))
    train(load_config(None, data=str(data), model=tiny_model, name="other", max_steps=1), ws, show_progress=False)
    with pytest.raises(MentorError, match="built on"):
        promote(ws, "sql", "other", force=True)
    with pytest.raises(MentorError, match="built on"):
        compare(ws, "sql", "other")
    with pytest.raises(MentorError, match="trained on"):
        train(load_config(None, data=str(data), from_run="other", model="org/another-model", name="again"), ws)

    def mentor(*args):
        return subprocess.run([sys.executable, "-m", "mentor", *args], capture_output=True, text=True, timeout=600,
                              cwd=REPO)

    reply = _ask(Apps(ws, LocalGenerator(ws)), questions(1)[0]["q"])
    rated = mentor("app", "feedback", reply.trace.response_id, "--rating", "-1", "--correction",
                   questions(1)[0]["reference"], "--json")
    assert rated.returncode == 0 and json.loads(rated.stdout)["flags"] == [], rated.stderr
    unknown = mentor("app", "feedback", "chatcmpl-nope", "--rating", "1")
    assert unknown.returncode != 0 and "No app response" in unknown.stderr
    metrics = json.loads(mentor("app", "metrics", "sql", "--json").stdout)
    assert metrics[0]["requests"] == 1 and metrics[0]["thumbs_up_rate"] == 0.0
    mined = mentor("iterate", "mine", "sql", "--out", str(tmp_path / "cases.jsonl"))
    assert mined.returncode == 0 and "1 cases" in mined.stdout, mined.stderr
    built = mentor("iterate", "dataset", str(tmp_path / "cases.jsonl"), "--out", str(tmp_path / "n.jsonl"), "--hold-out", "0")
    assert built.returncode == 0 and "1 new" in built.stdout, built.stderr
    stopped = mentor("iterate", "sql")  # one reviewed case, min_cases 3: stops before training
    assert stopped.returncode == 0 and "stopped" in stopped.stdout and "min_cases" in stopped.stdout, stopped.stderr
    refused = mentor("app", "promote", "sql", "--run", "other")
    assert refused.returncode != 0 and "built on" in refused.stderr
    assert "nothing to roll back" in mentor("app", "rollback", "sql").stderr


def test_dpo_on_the_loops_preference_pairs_prefers_the_corrections(tmp_path, workspace):
    """Preference pairs as the dataset step writes them (corrected answer chosen, served answer rejected):
    DPO raises the policy's margin for the chosen answers over the reference's, in the one training loop."""
    from mentor.generation import load_for_inference
    from mentor.tune import load_config, train
    from mentor.tune.preference import encode_pairs, load_pairs, pair_loss, sequence_logps
    from mentor.tune.batching import collate

    rows = questions(8)
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"prompt": [{"role": "system", "content": PROMPT["role"]},
                                                   {"role": "user", "content": r["q"]}],
                                        "chosen": r["reference"], "rejected": "I am not sure."}) + "\n" for r in rows))
    result = train(load_config(None, data=str(data), objective="dpo", name="dpo", max_steps=6, batch_size=4,
                               learning_rate=2e-3), workspace, show_progress=False)
    run = workspace.get_run("dpo")
    assert run.status == "succeeded" and (result.run_dir / "dpo-reference.json").exists()
    losses = [json.loads(line)["train_loss"] for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()
              if "train_loss" in line]
    assert losses[0] == pytest.approx(pair_loss(0.0, 0.0, 0.1), abs=0.02)  # step 1: policy = reference: log 2
    assert losses[-1] < losses[0]

    lm = load_for_inference(run="dpo", workspace=workspace)
    pairs = encode_pairs(load_pairs(data), lm.tokenizer, 512)
    batch = collate(pairs, lm.tokenizer.pad_token_id)
    with torch.no_grad():
        tuned = sequence_logps(lm.model, batch)
        with lm.base_only() as base:
            before = sequence_logps(base.model, batch)
    margin = lambda lp: (lp[:8] - lp[8:]).mean().item()  # noqa: E731
    assert margin(tuned) > margin(before) + 1.0

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "q", "chosen": "a"}) + "\n")
    with pytest.raises(MentorError, match=r"bad.jsonl:1: rejected"):
        train(load_config(None, data=str(bad), objective="dpo", name="bad", max_steps=1), workspace)

    # the fine-tuning jobs API: OpenAI's DPO rows and method, and a fine-tuned model as the base (continue it)
    from mentor.serve.files import FileStore
    from mentor.serve.jobs import train_config

    openai_rows = tmp_path / "openai-dpo.jsonl"
    openai_rows.write_text("".join(json.dumps({
        "input": {"messages": [{"role": "user", "content": r["q"]}]},
        "preferred_output": [{"role": "assistant", "content": r["reference"]}],
        "non_preferred_output": [{"role": "assistant", "content": "I am not sure."}]}) + "\n" for r in rows))
    files = FileStore(workspace, 10**7)
    with open(openai_rows, "rb") as f:
        uploaded = files.save(f, "pairs.jsonl", "fine-tune")
    job = train_config(workspace, "ftjob-1", {"model": f"ft:{MODEL}::dpo", "training_file": uploaded["id"],
                                              "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}}, files)
    assert (job.objective, job.dpo_beta, job.from_run) == ("dpo", 0.2, "dpo")
    assert len(load_pairs(job.data)) == 8
