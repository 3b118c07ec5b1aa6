"""`mentor distill`: teacher -> student, by sequences (the teacher's answers become the training data),
by logits (the student matches the teacher's next-token distributions) or both.

Output folder::

    teacher/answers.jsonl   every teacher answer as it was generated (the resumable cache)
    teacher/train.jsonl     the kept answers as chat examples (seq / both)
    heldout.jsonl           prompts kept out of training, for the report
    student-init/           the student built from the teacher's layers (--student-layers)
    student/                the student's training run (any method, the normal loop)
    baseline/               with --baseline: the same student trained on the data's own answers, no teacher
    distill.json            settings and results
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mentor.distill.student import SELECTIONS
from mentor.distill.teacher import Prompt, keep_answer, read_prompts, sample_key, teacher_answers
from mentor.generation import load_run_or_model
from mentor.errors import MentorError
from mentor.files import atomic_write_json, atomic_write_text
from mentor.workspace import Workspace

MODES = ("seq", "logits", "both")


@dataclass
class DistillSettings:
    teacher: str  # model alias / folder, or a run (its adapter applied)
    data: str  # prompts (JSONL {"prompt": ...}) or conversations in any training format
    output: str
    mode: str = "seq"
    student: str | None = None  # a smaller model sharing the teacher's tokenizer (logits) or any model (seq)
    student_layers: int | None = None  # or: build the student from this many of the teacher's layers
    layer_selection: str = "block"  # which layers: "block" (drop the least-needed contiguous block) or "even"
    method: str = "full"  # how the student trains (any tuning method)
    method_options: dict | None = None
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 4
    learning_rate: float | None = None  # default: the method's (5e-5 for full)
    max_length: int = 512
    heldout: int = 16  # prompts kept for the report
    max_new_tokens: int = 256  # teacher answers
    temperature: float = 0.0  # teacher sampling (0: greedy)
    top_p: float = 1.0
    samples: int = 1  # teacher answers per prompt (more than one needs temperature > 0)
    alpha: float = 0.5  # logits: weight of cross-entropy vs divergence
    kd_temperature: float = 2.0
    divergence: str = "forward_kl"
    topk: int = 0  # logits: store the teacher's top-k log-probs once instead of running it online
    judge: str | None = None  # optional: drop teacher answers this judge scores below min_judge_score
    min_judge_score: float = 6.0
    keep_truncated: bool = False  # keep teacher answers cut off at max_new_tokens (dropped by default)
    baseline: bool = False  # also train the same student on the data's own answers, without the teacher
    seed: int = 42


@dataclass
class DistillResult:
    output: Path
    student_run: Path
    teacher_answers: int = 0
    generated_now: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    train_examples: int = 0
    baseline_run: Path | None = None


def distill(settings: DistillSettings, workspace: Workspace | None = None, console: Console | None = None) -> DistillResult:
    from mentor.generation import GenerationOptions
    from mentor.models import load_tokenizer

    ws = workspace or Workspace()
    console = console or Console(stderr=True)
    if settings.mode not in MODES:
        raise MentorError(f"Unknown --mode '{settings.mode}' (known: {', '.join(MODES)}).")
    if (settings.student is None) == (settings.student_layers is None):
        raise MentorError("Name the student: --student MODEL, or --student-layers N to build it from the teacher.")
    out = Path(settings.output).resolve()
    prompts = read_prompts(settings.data)
    train_prompts, heldout = _split(prompts, settings.heldout)
    _write_heldout(out / "heldout.jsonl", heldout)
    if settings.samples < 1 or (settings.samples > 1 and settings.temperature <= 0):
        raise MentorError(f"--samples {settings.samples}: answers per prompt must be at least 1, and more than one "
                          "needs --temperature above 0 (greedy answers to a prompt are all the same).")
    if settings.layer_selection not in SELECTIONS:
        raise MentorError(f"Unknown --layer-selection '{settings.layer_selection}' (known: {', '.join(SELECTIONS)}).")
    teacher = load_run_or_model(settings.teacher, ws)
    result = DistillResult(out, out / "student")
    if settings.mode == "logits":
        data = _own_answers(train_prompts, out / "data.jsonl", settings.data)
        result.train_examples = len(train_prompts)
    else:
        options = GenerationOptions(settings.max_new_tokens, settings.temperature, settings.top_p, settings.seed)
        with _progress(console) as progress:
            task = progress.add_task("teacher answers", total=None)
            answers, result.generated_now = teacher_answers(
                teacher, train_prompts + heldout, out / "teacher" / "answers.jsonl", options, settings.samples,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
        result.teacher_answers = len(answers)
        data, result.train_examples, result.dropped = _kept_answers(
            [answers[sample_key(p.key, j)] for p in train_prompts for j in range(settings.samples)],
            out / "teacher" / "train.jsonl", settings)
        console.print(f"teacher answers: {result.train_examples} kept for training, dropped {result.dropped or 'none'}")
    student = settings.student or str(_student_from_teacher(teacher, settings, data, out / "student-init", console))
    if settings.mode != "seq":
        from mentor.tune.distill_loss import check_tokenizers

        check_tokenizers(teacher.tokenizer, load_tokenizer(student, ws), settings.teacher, student)
    del teacher  # training loads its own copy when it needs the teacher (logits)
    _train_student(settings, ws, student, data, out / "student", console,
                   teacher=settings.teacher if settings.mode != "seq" else None)
    if settings.baseline:
        own = _own_answers(train_prompts, out / "data.jsonl", settings.data)
        _train_student(settings, ws, student, own, out / "baseline", console, teacher=None)
        result.baseline_run = out / "baseline"
    atomic_write_json(out / "distill.json", {"settings": asdict(settings), "student": student,
                                             "result": {k: str(v) if isinstance(v, Path) else v
                                                        for k, v in asdict(result).items()}})
    return result


def _split(prompts: list[Prompt], heldout: int) -> tuple[list[Prompt], list[Prompt]]:
    """Held-out prompts chosen by content hash: the same prompts every time, whatever the file order."""
    if heldout >= len(prompts):
        raise MentorError(f"{len(prompts)} prompts leave nothing to train on after holding out {heldout} (--heldout).")
    ordered = sorted(prompts, key=lambda p: p.key)
    held = {p.key for p in ordered[:heldout]}
    return [p for p in prompts if p.key not in held], [p for p in prompts if p.key in held]


def _write_heldout(path: Path, heldout: list[Prompt]) -> None:
    lines = [json.dumps({"messages": p.conversation.to_json()["messages"] +
                         ([{"role": "assistant", "content": p.reference}] if p.reference else []),
                         "key": p.key}, ensure_ascii=False) for p in heldout]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _student_from_teacher(teacher, settings: DistillSettings, data: Path, folder: Path, console: Console) -> Path:
    """The student built from the teacher's layers (kept from an earlier, interrupted run of the same settings)."""
    from mentor.data.formats import load_examples
    from mentor.data.template import encode
    from mentor.distill.student import block_indices, build_student, layer_indices, save_student
    from mentor.methods.artifact import artifact_dir, merge, read_method

    info = folder / "mentor-student.json"
    wanted = {"layers": settings.student_layers, "selection": settings.layer_selection}
    if info.exists() and {k: v for k, v in json.loads(info.read_text()).items() if k != "chosen"} == wanted:
        return folder
    model = teacher.model
    if teacher.run is not None:  # a tuned teacher: its tuning folded into the weights the student copies
        method, _, _ = read_method(artifact_dir(teacher.run))
        model = merge(model, method)
        teacher.model = model
    layers, total = settings.student_layers, model.config.num_hidden_layers
    if settings.layer_selection == "block":
        sample = [e for e in (encode(ex, teacher.tokenizer, settings.max_length) for ex in load_examples(data)[:32])
                  if e.trained_tokens]
        with console.status(f"choosing which {total - layers} of the teacher's {total} layers to drop"):
            chosen = block_indices(model, sample, layers, teacher.tokenizer.pad_token_id)
    else:
        chosen = layer_indices(total, layers)
    save_student(build_student(model, chosen), teacher.tokenizer, folder)
    atomic_write_json(info, {**wanted, "chosen": chosen})
    console.print(f"student: {layers} of the teacher's {total} layers {chosen} -> {folder}")
    return folder


def _own_answers(prompts: list[Prompt], path: Path, data: str) -> Path:
    with_answers = [p for p in prompts if p.reference]
    if not with_answers:
        raise MentorError(f"{data} holds prompts without answers: --mode logits and --baseline train on the data's "
                          "own answers; use --mode seq or both (the teacher writes the answers).")
    lines = [json.dumps({"messages": p.conversation.to_json()["messages"] + [{"role": "assistant", "content": p.reference}]},
                        ensure_ascii=False) for p in with_answers]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _kept_answers(answers, path: Path, settings: DistillSettings) -> tuple[Path, int, dict[str, int]]:
    scores = _judge_scores(answers, settings) if settings.judge else [None] * len(answers)
    seen: set[str] = set()
    dropped: dict[str, int] = {}
    lines = []
    for answer, score in zip(answers, scores, strict=True):
        why = keep_answer(answer, seen, settings.min_judge_score if settings.judge else None, score,
                          settings.keep_truncated)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        seen.add(answer.answer.strip())
        lines.append(json.dumps({"messages": answer.messages + [{"role": "assistant", "content": answer.answer}]},
                                ensure_ascii=False))
    if not lines:
        raise MentorError(f"No teacher answer survived the filters ({dropped}); raise --max-new-tokens or check the prompts.")
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path, len(lines), dropped


def _judge_scores(answers, settings: DistillSettings) -> list[float | None]:
    from mentor.evaluate.judge import DEFAULT_RUBRIC, Judge, parse_score, score_prompt

    judge = Judge(settings.judge)
    return [parse_score(judge.ask(score_prompt(a.messages[-1]["content"], a.answer, None, DEFAULT_RUBRIC)))
            for a in answers]


def _train_student(settings: DistillSettings, ws: Workspace, student: str, data: Path, run_dir: Path,
                   console: Console, teacher: str | None) -> None:
    from mentor.tune.config import load_config
    from mentor.tune.train import resume, train

    if (run_dir / "adapter").exists() or (run_dir / "model").exists():
        console.print(f"{run_dir.name}: already trained, kept")
        return
    config = load_config(None, data=str(data), model=student, method=settings.method,
                         method_options=settings.method_options, epochs=settings.epochs, max_steps=settings.max_steps,
                         batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                         max_length=settings.max_length,
                         seed=settings.seed, output=str(run_dir), name=f"{run_dir.parent.name}-{run_dir.name}",
                         teacher=teacher, distill_alpha=settings.alpha, distill_temperature=settings.kd_temperature,
                         distill_divergence=settings.divergence, teacher_topk=settings.topk)
    if (run_dir / "run.json").exists():  # interrupted earlier: continue from its checkpoint
        resume(str(run_dir), ws, console=console)
    else:
        train(config, ws, console=console)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console)
