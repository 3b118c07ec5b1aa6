"""The router (pre-analysis): which route, and so which flow, serves a message.

First the examples: the message's embedding against each route's examples (a route scores the mean cosine
to its two nearest). At or above ``threshold`` the examples decide. Below it, with ``llm: true``, the model
picks a route name, constrained to the names, from a prompt that shows each route's examples. Otherwise the
examples' best route still serves the message if it scores at least ``floor``; a message below that, like
nothing any route was given, goes to the fallback route.

The LLM step is off by default because measurement says so for the embedded model: on bench/routeset.py
SmolLM2-135M picked the right route for 39% of the messages (8 of the 20 below the threshold), the
examples' best guess for 90% (13 of those 20). Turn it on with a model that classifies better.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from mentor.data.conversation import Conversation, Message
from mentor.engine.config import RouterConfig
from mentor.engine.generator import Generator, Usage, complete
from mentor.generation import GenerationOptions


NEAREST = 2


@dataclass(frozen=True)
class Decision:
    route: str
    score: float  # cosine to the nearest example of the best route by examples
    by: str  # "examples", "llm" or "fallback"

    def to_json(self) -> dict:
        return {"route": self.route, "score": round(self.score, 4), "by": self.by}


class Router:
    def __init__(self, config: RouterConfig, embedder, generator: Generator | None = None, model: str | None = None):
        """``embedder``: a :class:`mentor.rag.embedding.Embedder` (the caller shares it between apps)."""
        self.config, self.embedder, self.generator, self.model = config, embedder, generator, model
        self.names = [r.name for r in config.routes]
        texts, owners = [], []
        for i, route in enumerate(config.routes):
            texts += route.examples
            owners += [i] * len(route.examples)
        self.owners = np.array(owners, dtype=np.int64)
        self.vectors = embedder.embed(texts, role="query") if texts else np.zeros((0, 1), np.float32)  # (examples, dim)

    def scores(self, text: str) -> np.ndarray:
        """(routes,) each route's score for ``text``: the mean cosine to its NEAREST nearest examples (-1 for a
        route without examples). Two neighbours rather than one: on bench/routeset.py (80 messages, 5 examples a
        route) 91% right against 88% for the nearest alone; the routes' centroids gave 89%."""
        best = np.full(len(self.names), -1.0)
        if len(self.owners):
            sims = self.vectors @ self.embedder.embed([text], role="query")[0]  # (examples,)
            for i in range(len(self.names)):
                mine = np.sort(sims[self.owners == i])[-NEAREST:]
                if len(mine):
                    best[i] = float(mine.mean())
        return best

    def route(self, text: str, usage: Usage | None = None) -> Decision:
        scores = self.scores(text)
        top = int(scores.argmax())
        if scores[top] >= self.config.threshold:
            return Decision(self.names[top], float(scores[top]), "examples")
        if self.config.llm and self.generator is not None:
            return Decision(self._ask(text, usage), float(scores[top]), "llm")
        if scores[top] >= self.config.floor:
            return Decision(self.names[top], float(scores[top]), "examples")
        return Decision(self.config.fallback, float(scores[top]), "fallback")

    def _ask(self, text: str, usage: Usage | None) -> str:
        from mentor.inference.grammar import choice

        lines = []
        for r in self.config.routes:
            shown = "; ".join(f'"{e}"' for e in r.examples[:3])
            lines.append(f"- {r.name}: {r.description or ''}{' e.g. ' if shown else ''}{shown}")
        system = ("Pick the route that should handle the user's message. Routes:\n" + "\n".join(lines) +
                  "\nReply with the route name only.")
        conversation = Conversation((Message("system", system), Message("user", text)))
        options = GenerationOptions(max_new_tokens=16, constraint=choice(self.names))
        return complete(self.generator, self.model, conversation, options, usage)


def read_labelled(path, routes: list[str]) -> list[dict]:
    """Rows ``{"q": text, "route": name}`` of a JSONL file, each naming one of ``routes``."""
    from mentor.errors import DataError
    from mentor.files import read_jsonl

    rows = []
    for n, row in read_jsonl(path, "--data"):
        if not isinstance(row.get("q"), str) or not isinstance(row.get("route"), str):
            raise DataError(f'{path}:{n}: expected {{"q": text, "route": name}}.')
        if row["route"] not in routes:
            raise DataError(f"{path}:{n}: route: '{row['route']}' is not a route of the app ({', '.join(routes)}).")
        rows.append(row)
    return rows


def evaluate(router: Router, rows: list[dict]) -> dict:
    """Accuracy, a confusion table (expected -> got -> count), how routes were decided and latency, over rows
    ``{"q": text, "route": expected}``."""
    confusion: dict[str, Counter] = {}
    by, latencies, wrong = Counter(), [], []
    router.route(rows[0]["q"])  # warm-up: the first call pays for lazy initialisation
    for row in rows:
        start = time.perf_counter()
        decision = router.route(row["q"])
        latencies.append(time.perf_counter() - start)
        confusion.setdefault(row["route"], Counter())[decision.route] += 1
        by[decision.by] += 1
        if decision.route != row["route"]:
            wrong.append({"q": row["q"], "expected": row["route"], **decision.to_json()})
    right = sum(c[name] for name, c in confusion.items())
    ms = np.array(latencies) * 1000
    return {"rows": len(rows), "accuracy": right / len(rows),
            "confusion": {k: dict(v) for k, v in confusion.items()}, "by": dict(by),
            "latency_ms": {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))},
            "wrong": wrong}
