"""`mentor distill report DIR`: teacher vs student (and the student trained without the teacher) on the
held-out prompts: size, speed, memory, perplexity, ROUGE-L against the references and the teacher."""

from __future__ import annotations

import gc
import json
import math
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mentor.data.formats import load_examples
from mentor.distill.teacher import read_cache, sample_key
from mentor.generation import load_run_or_model
from mentor.errors import MentorError
from mentor.files import atomic_write_json, atomic_write_text
from mentor.workspace import Workspace


@dataclass
class ModelScores:
    name: str
    parameters: int
    disk_mb: float
    tokens_per_s: float  # greedy decoding after the first token, one prompt at a time
    peak_rss_mb: float  # process memory high-water mark while loading and generating
    perplexity: float | None  # on the held-out references
    rougeL_reference: float | None
    rougeL_teacher: float  # against all of the teacher's answers (greedy ones: the teacher's own score is 100)


def distill_report(folder: str | Path, workspace: Workspace | None = None, max_new_tokens: int | None = None) -> dict:
    """Measure every model of a distillation output folder; writes report.json and report.md there."""
    from mentor.generation import load_for_inference

    ws = workspace or Workspace()
    out = Path(folder).resolve()
    if not (out / "distill.json").exists():
        raise MentorError(f"{out} is not a distillation output folder (no distill.json); run mentor distill first.")
    info = json.loads((out / "distill.json").read_text())
    settings = info["settings"]
    heldout = load_examples(out / "heldout.jsonl")
    pairs = [ex.prompt_and_reference() for ex in heldout]
    cached = read_cache(out / "teacher" / "answers.jsonl")
    max_tokens = max_new_tokens or settings["max_new_tokens"]
    keys = [[sample_key(p.fingerprint(), j) for j in range(settings.get("samples", 1))] for p, _ in pairs]
    rows, teacher_answers = [], [[cached[k].answer for k in ks if k in cached] for ks in keys]
    models = [("teacher", lambda: load_run_or_model(settings["teacher"], ws))]
    models.append(("student (distilled)", lambda: load_for_inference(run=str(out / "student"), workspace=ws)))
    if (out / "baseline" / "run.json").exists():
        models.append(("student (no teacher)", lambda: load_for_inference(run=str(out / "baseline"), workspace=ws)))
    replies = {}  # every model's held-out answers, kept in report.json for reading side by side
    for label, load in models:
        scores, answers = _measure(label, load, pairs, max_tokens, teacher_answers)
        replies[label] = answers
        if label == "teacher" and not all(teacher_answers):  # logits mode: no cached answers
            teacher_answers = [[a] for a in answers]
            scores.rougeL_teacher = 100.0
        rows.append(scores)
    teacher = rows[0]
    report = {"folder": str(out), "mode": settings["mode"], "heldout": len(pairs), "models": [asdict(r) for r in rows],
              "answers": replies}
    for r in rows[1:]:
        report.setdefault("ratios", {})[r.name] = {
            "speedup": r.tokens_per_s / teacher.tokens_per_s if teacher.tokens_per_s else None,
            "quality_retained_vs_reference": (r.rougeL_reference / teacher.rougeL_reference
                                              if r.rougeL_reference is not None and teacher.rougeL_reference else None),
            "rougeL_vs_teacher": r.rougeL_teacher,
            "quality_retained_vs_teacher": r.rougeL_teacher / teacher.rougeL_teacher if teacher.rougeL_teacher else None,
            "size": r.disk_mb / teacher.disk_mb if teacher.disk_mb else None}
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", markdown(report))
    return report


def _measure(label: str, load, pairs, max_tokens: int, teacher_answers) -> tuple[ModelScores, list[str]]:
    from mentor.data.template import render_prompt
    from mentor.evaluate.evaluation import reference_loss
    from mentor.evaluate.scores import score
    from mentor.inference.decode import Row, Sampling, decode, stop_token_ids

    gc.collect()
    with _PeakRSS() as peak:
        lm = load()
        tok = lm.tokenizer
        answers, tokens, seconds = [], 0, 0.0
        for prompt, _ in pairs:  # one at a time, greedy: the speed a single user sees
            first: list[float] = []
            row = Row(tok(render_prompt(prompt, tok), add_special_tokens=False)["input_ids"],
                      Sampling(max_tokens, temperature=0), emit=lambda delta, finish: first or first.append(time.perf_counter()))
            decode(lm.model, tok, [row], stop_token_ids(tok))
            if len(row.ids) > 1 and first:  # decoding speed after the first token: answers of any length compare
                seconds += time.perf_counter() - first[0]
                tokens += len(row.ids) - 1
            answers.append(row.text.strip())
    references = [r for _, r in pairs]
    with_refs = [i for i, r in enumerate(references) if r]
    loss = reference_loss(lm, [_with_reply(pairs[i][0], references[i]) for i in with_refs]) if with_refs else None
    rouge_ref = score([answers[i] for i in with_refs], [references[i] for i in with_refs], ("rougeL",))["rougeL"].value \
        if with_refs else None
    rouge_teacher = rouge_vs_samples(answers, teacher_answers)
    scores = ModelScores(label, sum(p.numel() for p in lm.model.parameters()), _disk_mb(lm),
                         tokens / seconds if seconds else 0.0, peak.mb, math.exp(loss) if loss is not None else None,
                         rouge_ref, rouge_teacher)
    del lm
    gc.collect()
    return scores, answers


def rouge_vs_samples(answers: list[str], samples: list[list[str]]) -> float:
    """ROUGE-L of each answer against every answer the teacher gave to the same prompt, averaged over all pairs."""
    from mentor.evaluate.scores import score

    pairs = [(answer, t) for answer, given in zip(answers, samples, strict=True) for t in given]
    return score([a for a, _ in pairs], [t for _, t in pairs], ("rougeL",))["rougeL"].value if pairs else 0.0


def _with_reply(prompt, reply: str):
    from mentor.data.conversation import Conversation, Message

    return Conversation((*prompt.messages, Message("assistant", reply)))


def _disk_mb(lm) -> float:
    """Weights on disk: the run's artifact plus, for adapters, the base model they need."""
    from mentor.models import resolve
    from mentor.methods.artifact import artifact_dir, read_method

    folders = []
    if lm.run is not None:
        folder = artifact_dir(lm.run)
        folders.append(folder)
        method, _, base = read_method(folder)
        if method.storage != "full":
            folders.append(Path(resolve(base).location))
    else:
        folders.append(Path(resolve(lm.name).location))
    return sum(f.stat().st_size for d in folders for f in d.glob("*.safetensors")) / 2**20


class _PeakRSS:
    """Samples this process's resident memory every 10 ms; ``mb`` is the high-water mark."""

    def __enter__(self):
        import psutil

        self._process, self._stop, self.mb = psutil.Process(), threading.Event(), 0.0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.mb = max(self.mb, self._process.memory_info().rss / 2**20)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def markdown(report: dict) -> str:
    lines = [f"# Distillation report ({report['mode']}, {report['heldout']} held-out prompts)", "",
             "| model | parameters | disk MB | tokens/s | peak RSS MB | perplexity | ROUGE-L vs reference | ROUGE-L vs teacher |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, f="{:.1f}": "-" if v is None else f.format(v)  # noqa: E731
    for m in report["models"]:
        lines.append(f"| {m['name']} | {m['parameters'] / 1e6:.1f}M | {m['disk_mb']:.0f} | {m['tokens_per_s']:.1f} | "
                     f"{m['peak_rss_mb']:.0f} | {fmt(m['perplexity'], '{:.2f}')} | {fmt(m['rougeL_reference'])} | "
                     f"{m['rougeL_teacher']:.1f} |")
    for name, r in report.get("ratios", {}).items():
        lines.append("")
        lines.append(f"{name}: {fmt(r['speedup'], '{:.2f}')}x the teacher's speed, {fmt(r['size'], '{:.2f}')}x its size, "
                     f"quality retained (ROUGE-L vs reference) {fmt(r['quality_retained_vs_reference'], '{:.0%}')}, "
                     f"ROUGE-L vs the teacher's answers {r['rougeL_vs_teacher']:.1f} "
                     f"({fmt(r.get('quality_retained_vs_teacher'), '{:.0%}')} of the teacher's own)")
    return "\n".join(lines) + "\n"
