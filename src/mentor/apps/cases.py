"""Bad cases mined from an app's audit log and feedback, and the next training set built from them.

A case is one JSONL row: the request (PII already redacted by the audit log), the answer, the user's rating,
comment and correction, ``reasons`` (why it was picked), ``topic`` and ``reviewed``. A correction is a
person's answer: it counts as reviewed unless it fails the app's checks. A reviewer may edit the file (fix a
correction, set ``reviewed``) before ``mentor iterate dataset`` reads it back.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from mentor.data.conversation import Conversation, Message
from mentor.apps import feedback
from mentor.engine import audit, store
from mentor.engine.evaluation import failed_checks
from mentor.errors import DataError
from mentor.workspace import Workspace

_REFUSAL = re.compile(r"\b(I (do not|don't|cannot|can't) (know|find|answer|help)|no information|not sure)\b|"
                      r"(不知道|无法回答|无法找到|没有找到|没有相关|抱歉)", re.IGNORECASE)
CASE_KEYS = {"id", "response_id", "app", "version", "messages", "question", "answer", "rating", "comment",
             "correction", "flags", "reasons", "route", "topic", "reviewed", "teacher"}


def mine(ws: Workspace, app: str, since: float | None = None, include_used: bool = False,
         cluster: bool = True) -> list[dict]:
    """The app's requests worth fixing, newest first, near-duplicate questions dropped (a corrected case
    wins over an uncorrected one). Feedback already trained on in a finished round is skipped unless
    ``include_used``."""
    config = store.get(app, ws).config
    votes = feedback.latest(ws, app)
    cases = []
    for log in audit.read(ws, app, since, limit=10**9):
        vote = votes.get(log["id"])
        if vote and vote["iteration"] is not None and not include_used:
            continue
        reasons = _reasons(log, vote, config)
        if not reasons:
            continue
        question = next((m["content"] for m in reversed(log["request"]) if m["role"] == "user"), "")
        correction = vote["correction"] if vote else None
        flags = vote["flags"] if vote else []
        cases.append({"id": log["id"], "response_id": log["response_id"], "app": app, "version": log["version"],
                      "messages": log["request"], "question": question, "answer": log["answer"],
                      "rating": vote["rating"] if vote else None, "comment": vote["comment"] if vote else None,
                      "correction": correction, "flags": flags, "reasons": reasons, "route": log["route"],
                      "reviewed": bool(correction) and not flags})
    from mentor.data.prepare import unique_indices

    cases.sort(key=lambda c: not c["correction"])  # stable: newest first among corrected, then the rest
    cases = [cases[i] for i in unique_indices([c["question"] for c in cases], 0.9)]
    cases.sort(key=lambda c: -c["id"])
    if cluster and cases:
        _topics(cases, config.router.embedder if config.router else "me5-small", ws)
    return cases


def _reasons(log: dict, vote: dict | None, config) -> list[str]:
    reasons = []
    if vote and vote["rating"] == -1:
        if log["blocked"]:
            reasons.append("guard false positive: blocked, and the user disagreed")
        reasons.append("thumbs-down with a correction" if vote["correction"] else "thumbs-down")
    if config.router and log["route"] and (log["routed_by"] in ("llm", "fallback") or
                                           (log["route_score"] is not None and log["route_score"] < config.router.threshold)):
        score = "-" if log["route_score"] is None else f"{log['route_score']:.2f}"
        reasons.append(f"low-confidence route: {log['route']} by {log['routed_by']} (score {score})")
    if log["error"]:
        reasons.append(f"failed: {log['error'][:200]}")
    elif not log["blocked"]:
        reasons += [f"answer {p}" for p in failed_checks(config.evaluation, log["answer"])]
        if log["citations"] and _REFUSAL.search(log["answer"]):
            reasons.append(f"refused although the knowledge base returned {len(log['citations'])} passages")
    return reasons


def _topics(cases: list[dict], embedder: str, ws: Workspace, threshold: float = 0.9) -> None:
    """Greedy clustering by meaning: a case joins the first topic whose first question is at least
    ``threshold`` similar (cosine of multilingual embeddings), else starts a topic named after it."""
    from mentor.rag.embedding import Embedder

    vectors = Embedder(embedder, ws).embed([c["question"] for c in cases], role="query")
    leaders: list[int] = []
    for i, case in enumerate(cases):
        best = max(leaders, key=lambda j: float(vectors[i] @ vectors[j]), default=None)
        if best is None or float(vectors[i] @ vectors[best]) < threshold:
            leaders.append(i)
            best = i
        case["topic"] = cases[best]["question"][:80]


def write_cases(cases: list[dict], path: Path) -> None:
    from mentor.files import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))


def read_cases_file(path: str | Path) -> list[dict]:
    """Mined (and perhaps reviewed) cases back from JSONL; a bad row names its line and field."""
    from mentor.files import read_jsonl

    out = []
    for n, row in read_jsonl(Path(path), "cases"):
        unknown = sorted(set(row) - CASE_KEYS)
        if unknown:
            raise DataError(f"{path}:{n}: {unknown[0]}: unknown key (a mined case has: {', '.join(sorted(CASE_KEYS))}).")
        if not isinstance(row.get("messages"), list) or not row["messages"] or row["messages"][-1].get("role") != "user":
            raise DataError(f"{path}:{n}: messages: the request, ending with the user's message.")
        for key in ("correction", "teacher"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise DataError(f"{path}:{n}: {key}: must be a string or null.")
        if not isinstance(row.get("reviewed", False), bool):
            raise DataError(f"{path}:{n}: reviewed: must be true or false.")
        out.append(row)
    return out


def build_dataset(ws: Workspace, app: str, cases: list[dict], out: Path, teacher=None, judge=None,
                  accept_unreviewed: bool = False, replay: list[str] | None = None, replay_share: float | None = None,
                  hold_out: float | None = None, seed: int = 0) -> dict:
    """Write the next SFT set to ``out``, the held-out cases (eval rows ``{q, reference}``) next to it as
    ``<out>.held.jsonl`` and, for answers rated down and corrected, preference pairs (``--objective dpo``) as
    ``<out>.pairs.jsonl``; the counts. Each row is the conversation as the app sends it to its model (system
    turn, few-shot examples) ending in the reviewed answer: the correction, else a teacher's answer (kept when
    the judge scores it 7/10 or more; unreviewed). Replay rows from earlier training data are mixed in."""
    from mentor.engine.prompt import render
    from mentor.evaluate.text import has_cjk
    from mentor.files import atomic_write_text

    config = store.get(app, ws).config
    hold_out = config.iterate.hold_out if hold_out is None else hold_out
    replay_share = config.iterate.replay_share if replay_share is None else replay_share
    rows, held, pairs, stats = [], [], [], {"cases": len(cases), "corrections": 0, "teacher": 0, "unreviewed_skipped": 0,
                                 "flagged_skipped": 0, "no_answer": 0, "held_out": 0, "trained_ids": []}
    for case in cases:
        answer, reviewed = case.get("correction"), bool(case.get("reviewed"))
        if case.get("flags") and answer and not reviewed:
            stats["flagged_skipped"] += 1
            continue
        if not answer and teacher is not None:
            answer, reviewed = _teacher_answer(teacher, judge, config, case), False
            stats["teacher"] += answer is not None
        if not answer:
            stats["no_answer"] += 1
            continue
        if not reviewed and not accept_unreviewed:
            stats["unreviewed_skipped"] += 1
            continue
        if _share(case, seed) < hold_out:
            held.append({"q": case["question"], "reference": answer})
            continue
        messages = [Message(m["role"], m["content"]) for m in case["messages"] if m["role"] in ("system", "user", "assistant")]
        prompt = render(config.prompt, messages, "zh" if has_cjk(case["question"]) else "en")
        rows.append(Conversation((*prompt.messages, Message("assistant", answer))).to_json())
        stats["trained_ids"].append(case["id"])
        if case.get("rating") == -1 and case.get("answer") and case["answer"].strip() != answer.strip():
            # the served answer was rated down and replaced: a preference pair for --objective dpo
            pairs.append({"prompt": [{"role": m.role, "content": m.content} for m in prompt.messages],
                          "chosen": answer, "rejected": case["answer"]})
        stats["corrections"] += bool(case.get("correction"))
    stats["held_out"], stats["new_rows"] = len(held), len(rows)
    sources = replay if replay is not None else (config.iterate.replay or _run_data(ws, config.model))
    extra = _replay(sources, round(len(rows) * replay_share / (1 - replay_share)), seed) if rows and replay_share else []
    stats["replay"], stats["replay_sources"] = len(extra), sources
    rows += extra
    random.Random(seed).shuffle(rows)
    stats["rows"] = len(rows)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write_text(held_path(out), "".join(json.dumps(h, ensure_ascii=False) + "\n" for h in held))
    stats["preference_pairs"] = len(pairs)
    if pairs:
        atomic_write_text(pairs_path(out), "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    return stats


def pairs_path(out: Path) -> Path:
    return out.with_name(out.stem + ".pairs.jsonl")


def held_path(out: Path) -> Path:
    return out.with_name(out.stem + ".held.jsonl")


def _share(case: dict, seed: int) -> float:
    """A stable number in [0, 1) per case: the same case is held out in every rebuild."""
    digest = hashlib.sha256(f"{seed}\0{case['question']}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _run_data(ws: Workspace, model: str) -> list[str]:
    """The training data of the run the app serves (what the next round replays), if the model is a run."""
    import yaml

    from mentor.apps.compare import run_dir

    folder = run_dir(ws, model)
    if folder is None or not (folder / "config.yaml").exists():
        return []
    data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")).get("data")
    return [data] if data and Path(data).exists() else []


def _replay(sources: list[str], n: int, seed: int) -> list[dict]:
    from mentor.data.formats import load_examples

    pool = [ex.to_json() for src in sources for ex in load_examples(src)]
    random.Random(seed).shuffle(pool)
    return pool[:n]


def _teacher_answer(teacher, judge, config, case: dict) -> str | None:
    """The teacher's answer to the case, or None when the judge scores it below 7/10."""
    from mentor.engine.prompt import system_text

    system = system_text(config.prompt)
    answer = teacher.ask((system + "\n\n" if system else "") + case["question"], max_tokens=config.sampling.max_tokens).strip()
    if not answer:
        return None
    if judge is not None:
        from mentor.evaluate.judge import score_samples

        scored = score_samples(judge, [{"prompt": case["question"], "prediction": answer, "reference": None}])
        if (scored.get("mean") or 0) < 7:
            return None
    return answer

