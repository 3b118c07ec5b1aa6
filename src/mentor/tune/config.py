"""Training configuration: a YAML recipe and/or CLI flags, validated strictly (typos are errors)."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from mentor.errors import MentorError
from mentor.models.aliases import DEFAULT_LLM
from mentor.methods import get_method, parse_options


@dataclass(config=ConfigDict(extra="forbid"))
class TrainConfig:
    """Everything a run needs; saved resolved as ``config.yaml`` in the run folder."""

    data: str
    model: str = DEFAULT_LLM
    # continue fine-tuning this finished run (name or folder): its base model, method and adapter shape, its
    # trained weights as the start (the iteration loop's next round); the new run is a separate run
    from_run: str | None = None
    val: str | None = None  # without it, ``val_ratio`` of ``data`` is held out (deterministic)
    # None (the default) for the settings below: chosen from the data set and the method when training starts
    # (tune/defaults.py), printed with the reason, and saved resolved in the run's config.yaml.
    val_ratio: float | None = None
    method: str = "lora"
    # what the weights learn from: "sft" (the answers in the data) or "dpo" (preference pairs: prompt, chosen,
    # rejected; tune/preference.py), with any method
    objective: Literal["sft", "dpo"] = "sft"
    dpo_beta: float = 0.1  # how far from the reference the policy may move (DPO's beta)
    method_options: dict[str, Any] | None = None  # validated by the method (YAML: a section named after it)
    name: str | None = None  # run name in the workspace
    output: str | None = None  # run folder (default: <workspace>/runs/<name>)
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float | None = None
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] | None = None
    max_grad_norm: float = 1.0
    max_length: int | None = None  # None: the longest example, rounded up (tune.defaults)
    train_on: Literal["assistant", "all"] = "assistant"
    seed: int = 42
    device: str = "auto"  # auto: a CUDA GPU when torch sees one, else the CPU; or cpu, cuda, cuda:N
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast where the hardware has bf16
    nproc: int = 1  # data-parallel processes (gloo on CPU, NCCL on GPUs)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% slower
    group_by_length: bool = True
    eval_steps: int | None = None  # validation every N steps, besides every epoch
    eval_generate: int | None = None  # also answer this many validation examples at each evaluation and score them
    eval_max_new_tokens: int = 128
    early_stopping_patience: int | None = None  # stop after N evaluations without improvement
    # the validation metric whose best checkpoint is kept (and that early stopping watches)
    early_stopping_metric: Literal["val_loss", "rougeL", "bleu", "f1", "exact_match", "json", "regex",
                                   "scorer"] | None = None
    scorer: str | None = None  # task check for validation answers: module:function or file.py:function -> bool or [0, 1]
    regex: str | None = None  # task check: a validation answer passes when this pattern matches it
    check_forgetting: list[str] | None = None  # general-knowledge question files: base vs tuned at the end
    forgetting_questions: int = 200
    teacher: str | None = None  # logit distillation from this model (alias, folder) or run
    distill_alpha: float = 0.5  # weight of cross-entropy; 1 - alpha goes to the divergence from the teacher
    distill_temperature: float = 2.0
    distill_divergence: Literal["forward_kl", "reverse_kl", "jsd"] = "forward_kl"
    teacher_topk: int = 0  # >0: the teacher's top-k log-probs, computed once and stored; 0: online, full vocab
    save_steps: int = 50  # checkpoint every N steps, besides every epoch
    keep_checkpoints: int = 2
    log_steps: int = 1
    trust_remote_code: bool = False

    def options(self):
        """The method's validated options object."""
        return parse_options(get_method(self.method), self.method_options, f"the '{self.method}' section")

    def to_yaml(self) -> str:
        data = asdict(self)
        data.pop("method_options")
        data[self.method] = asdict(self.options())
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Recipe from YAML (if given) with non-None ``overrides`` (CLI flags) on top."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MentorError(f"Config file '{path}' does not exist.") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise MentorError(f"{where}: invalid YAML ({getattr(e, 'problem', e)}).") from None
        if not isinstance(loaded, dict):
            raise MentorError(f"{path}: expected a mapping of config keys at the top level.")
        raw.update(loaded)
        # Relative data paths in a recipe are relative to where the user runs mentor (the repo root).
    raw.update({k: v for k, v in overrides.items() if v is not None})
    method = raw.get("method", "lora")
    get_method(method)
    if method in raw:
        raw["method_options"] = {**(raw.pop(method) or {}), **(raw.get("method_options") or {})}
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        where = str(path) if path else "the options"
        raise MentorError(f"Unknown config key '{unknown[0]}' in {where} (known keys: {', '.join(sorted(known))}, "
                          f"and a '{method}' section for the method's options).")
    if "data" not in raw:
        raise MentorError("No training data: pass --data FILE or set 'data:' in the config.")
    try:
        config = TrainConfig(**raw)
    except ValidationError as e:
        err = e.errors()[0]
        raise MentorError(f"Invalid value for '{'.'.join(map(str, err['loc']))}' in "
                          f"{path or 'the options'}: {err['msg']}.") from None
    config.options()  # validate the method section now, not mid-run
    return config
