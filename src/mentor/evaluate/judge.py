"""LLM-as-judge: a 1-10 score against a rubric, or a pairwise preference, from a local model or any
OpenAI-compatible endpoint (``http(s)://host/v1``). Pairwise asks in both orders to cancel the
judge's position bias."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from mentor.errors import MentorError

DEFAULT_RUBRIC = ("Is the answer correct (agreeing with the reference answer when one is given), helpful, "
                  "complete and clearly written, in the language of the question?")

_SCORE = re.compile(r"\b(10|[1-9])\b")
_CHOICE = re.compile(r"\b([AB])\b")


@dataclass
class Judge:
    """``target`` is a model alias / folder (run locally) or an endpoint URL (``model`` names the model there)."""

    target: str
    model: str | None = None
    api_key: str | None = None
    _local: object = None

    @property
    def remote(self) -> bool:
        return self.target.startswith(("http://", "https://"))

    def ask(self, prompt: str, max_tokens: int = 16) -> str:
        if self.remote:
            return self._ask_endpoint(prompt, max_tokens)
        from mentor.data.conversation import Conversation, Message
        from mentor.generation import GenerationOptions, generate, load_for_inference

        if self._local is None:
            self._local = load_for_inference(self.target)
        return generate(self._local, [Conversation((Message("user", prompt),))], GenerationOptions(max_tokens))[0]

    def _ask_endpoint(self, prompt: str, max_tokens: int) -> str:
        body = json.dumps({"model": self.model or "default", "temperature": 0, "max_tokens": max_tokens,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        key = self.api_key or os.environ.get("MENTOR_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        request = urllib.request.Request(self.target.rstrip("/") + "/chat/completions", body, headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)["choices"][0]["message"]["content"] or ""
        except urllib.error.HTTPError as e:
            raise MentorError(f"Judge endpoint {self.target} answered HTTP {e.code}: {e.read()[:300]!r}") from None
        except (urllib.error.URLError, TimeoutError) as e:
            raise MentorError(f"Cannot reach judge endpoint {self.target}: {getattr(e, 'reason', e)}") from None
        except (KeyError, IndexError, ValueError):
            raise MentorError(f"Judge endpoint {self.target} did not answer in the chat completions format.") from None


def score_prompt(question: str, answer: str, reference: str | None, rubric: str) -> str:
    ref = f"\n\nReference answer:\n{reference}" if reference else ""
    return (f"You are grading an answer. Rubric: {rubric}\n\nQuestion:\n{question}{ref}\n\nAnswer to grade:\n{answer}"
            "\n\nReply with only a score from 1 (worst) to 10 (best).")


def parse_score(reply: str) -> int | None:
    match = _SCORE.search(reply)
    return int(match.group(1)) if match else None


def score_samples(judge: Judge, samples: list[dict], rubric: str = DEFAULT_RUBRIC) -> dict:
    """Mean 1-10 score over the samples the judge answered with a number; the rest are counted."""
    scores = [parse_score(judge.ask(score_prompt(s.get("prompt") or "", s["prediction"], s.get("reference"), rubric)))
              for s in samples]
    valid = [v for v in scores if v is not None]
    return {"judge": judge.model or judge.target, "mode": "score", "rubric": rubric, "per_example": scores,
            "mean": sum(valid) / len(valid) if valid else None, "unparsed": len(scores) - len(valid)}


def pairwise_prompt(question: str, first: str, second: str, rubric: str) -> str:
    return (f"Two answers to the same question. Rubric: {rubric}\n\nQuestion:\n{question}\n\nAnswer A:\n{first}"
            f"\n\nAnswer B:\n{second}\n\nWhich answer is better? Reply with only the letter A or B.")


def parse_choice(reply: str) -> str | None:
    match = _CHOICE.search(reply.upper())
    return match.group(1) if match else None


def pairwise(judge: Judge, questions: list[str], baseline: list[str], candidate: list[str],
             rubric: str = DEFAULT_RUBRIC) -> dict:
    """Candidate's win rate against baseline (0-100): 1 for a win in both orders, 0.5 for a split or tie."""
    wins = []
    for q, base, cand in zip(questions, baseline, candidate, strict=True):
        first = parse_choice(judge.ask(pairwise_prompt(q, cand, base, rubric)))   # candidate shown as A
        second = parse_choice(judge.ask(pairwise_prompt(q, base, cand, rubric)))  # candidate shown as B
        wins.append(((first == "A") + (second == "B")) / 2)
    return {"judge": judge.model or judge.target, "mode": "pairwise", "rubric": rubric, "per_example": wins,
            "win_rate": 100.0 * sum(wins) / len(wins) if wins else None}
