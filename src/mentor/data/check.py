"""`mentor data check`: validate a data file and describe it (sizes, token lengths, time to train)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mentor.data.formats import LoadResult, Problem, load
from mentor.data.template import Encoded, encode

# Measured on this project's 2-core reference machine (bench/train_throughput.py): LoRA on
# SmolLM2-135M trains about 140 real tokens/s with mentor's defaults (bf16 autocast). Throughput
# scales roughly inversely with parameter count; this is an estimate, shown as one.
_REFERENCE_TOKENS_PER_S = 140.0
_REFERENCE_PARAMS = 134.5e6


@dataclass
class CheckReport:
    result: LoadResult
    max_length: int
    lengths: list[int] = field(default_factory=list)  # tokens per example, before truncation
    trained_tokens: int = 0  # tokens that carry loss, after truncation

    @property
    def problems(self) -> list[Problem]:
        return self.result.problems

    @property
    def errors(self) -> list[Problem]:
        return self.result.errors

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def tokens_per_epoch(self) -> int:
        return sum(min(n, self.max_length) for n in self.lengths)

    def percentiles(self) -> dict[str, int]:
        if not self.lengths:
            return {}
        ordered = sorted(self.lengths)
        pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
        return {"min": ordered[0], "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": ordered[-1]}

    def estimated_seconds_per_epoch(self, parameters: float = _REFERENCE_PARAMS) -> float:
        return self.tokens_per_epoch() / (_REFERENCE_TOKENS_PER_S * _REFERENCE_PARAMS / parameters)

    def summary(self) -> dict:
        return {
            "file": str(self.result.path), "format": self.result.format,
            "examples": len(self.result.examples), "errors": len(self.errors), "warnings": len(self.warnings),
            "max_length": self.max_length, "token_lengths": self.percentiles(),
            "tokens_per_epoch": self.tokens_per_epoch(), "trained_tokens_per_epoch": self.trained_tokens,
        }


def check(path: str | Path, tokenizer=None, max_length: int = 1024, fmt: str | None = None,
          train_on: str = "assistant") -> CheckReport:
    """Validate every example; report problems with file, line and field, and token statistics.

    Errors: unreadable JSON, unknown roles, missing or empty content, no assistant turn, nothing
    left to learn after truncation. Warnings: duplicates, examples longer than ``max_length``.
    """
    result = load(path, fmt)
    report = CheckReport(result, max_length)
    seen: dict[str, int] = {}
    name = result.path.name
    for ex in result.examples:
        first = seen.setdefault(ex.fingerprint(), ex.line)
        if first != ex.line:
            result.problems.append(Problem(name, ex.line, None, f"duplicate of the example on line {first}", "warning"))
        if tokenizer is None:
            continue
        enc = encode(ex, tokenizer, max_length=10**9, train_on=train_on)
        report.lengths.append(len(enc.input_ids))
        kept = Encoded(enc.input_ids[:max_length], enc.labels[:max_length])  # what training keeps
        report.trained_tokens += kept.trained_tokens
        if len(enc.input_ids) > max_length:
            if kept.trained_tokens == 0:
                result.problems.append(Problem(name, ex.line, None, f"{len(enc.input_ids)} tokens: nothing left to learn "
                                               f"after truncation to --max-length {max_length}"))
            else:
                result.problems.append(Problem(name, ex.line, None, f"{len(enc.input_ids)} tokens, longer than "
                                               f"--max-length {max_length} (will be truncated)", "warning"))
    result.problems.sort(key=lambda p: (p.line, p.severity))
    return report
