"""An app is a YAML file: the model, the prompt, sampling, a router over flows, tools, an agent and a guard.

Keys are fixed (a misspelled key is an error naming it and its line). Checks that need the workspace (the
model, knowledge bases, importable tools) run in :func:`mentor.engine.store.check`, when the app is created.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mentor.errors import MentorError
from mentor.models import DEFAULT_LLM

BUILTIN_FLOWS = ("chat", "calculator", "translate", "agent")
BUILTIN_TOOLS = ("calculator", "kb_search")
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    user: str
    assistant: str


class PromptConfig(_Strict):
    """Prompt engineering: each part optional, rendered in this order into the system turn."""

    role: str | None = None
    task: str | None = None
    scene: str | None = None
    boundaries: str | None = None
    requirements: str | None = None
    style: str | None = None
    examples: list[Example] = []  # few-shot turns before the conversation
    reasoning: Literal["none", "step_by_step", "chain_of_thought"] = "none"
    version: int | None = None  # informational: the store numbers every change itself


class SamplingConfig(_Strict):
    temperature: float = Field(0.2, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, le=4096)


class RagFlow(_Strict):
    rag: str  # knowledge base name
    k: int = Field(3, ge=1, le=20)


Flow = str | RagFlow  # chat, calculator, translate, agent, module:function, or {rag: KB}


def _check_flow(flow: Flow) -> Flow:
    if isinstance(flow, str) and flow not in BUILTIN_FLOWS and not CALLABLE.match(flow):
        raise ValueError(f"unknown flow '{flow}' (built in: {', '.join(BUILTIN_FLOWS)}, {{rag: KB}}, "
                         "or a Python function as module:function)")
    return flow


class Route(_Strict):
    name: str = Field(pattern=NAME)
    flow: Flow
    examples: list[str] = []  # messages this route serves (5 per route is enough with the default embedder)
    description: str = ""  # for the LLM classifier

    _flow = field_validator("flow")(classmethod(lambda cls, v: _check_flow(v)))


class RouterConfig(_Strict):
    routes: list[Route] = Field(min_length=1)
    fallback: str
    embedder: str = "me5-small"  # reads Chinese and English
    threshold: float = Field(0.86, ge=0, le=1)  # route score (cosine to its nearest examples) at which examples decide
    llm: bool = False  # below the threshold the model picks a route name (constrained); see engine/router.py
    floor: float = Field(0.8, ge=0, le=1)  # without the LLM step: below this score the fallback serves the message

    @model_validator(mode="after")
    def _names(self):
        names = [r.name for r in self.routes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"route '{name}' is declared twice")
        if self.fallback not in names:
            raise ValueError(f"fallback '{self.fallback}' is not a route ({', '.join(names)})")
        return self


class PythonTool(_Strict):
    python: str  # module:function

    @field_validator("python")
    @classmethod
    def _callable(cls, v: str) -> str:
        if not CALLABLE.match(v):
            raise ValueError(f"'{v}' is not module:function")
        return v


class KbTool(_Strict):
    kb_search: str  # the knowledge base it searches


Tool = str | PythonTool | KbTool


class AgentConfig(_Strict):
    max_steps: int = Field(5, ge=1, le=20)
    require_tool: bool = False  # the first step must call a tool (a small model otherwise often answers alone)


class GuardSection(_Strict):
    input: list[str] = ["injection", "moderation", "pii", "links", "words"]
    output: list[str] = ["pii", "links", "words"]
    words: list[str] = []
    allowed_domains: list[str] = []
    on_block: str = "Sorry, I can't help with that."
    pii: Literal["redact", "block"] = "redact"


class EvaluationSection(_Strict):
    """How the app's answers are judged: ``checks`` on every answer (online ones, users' corrections, eval
    cases) and the eval set that ``mentor app eval`` and ``mentor iterate compare`` score."""

    cases: str | None = None  # JSONL eval set (q, reference, contains, regex, route), relative to the working dir
    regex: str | None = None  # every answer must match (re.search)
    json_schema: dict | None = None  # every answer must be JSON fitting this schema
    scorer: str | None = None  # module:function or file.py:function(answer, reference) -> bool or [0, 1]
    metric: str = "rougeL"  # without a scorer: the reference metric that scores the eval set, or "judge"
    judge: str | None = None  # metric judge: the LLM judge (alias, run, or OpenAI-compatible URL; default the app's model)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v):
        from mentor.evaluate.scores import GENERATION_METRICS

        if v != "judge" and v not in GENERATION_METRICS:
            raise ValueError(f"unknown metric '{v}' (known: {', '.join(GENERATION_METRICS)}, judge)")
        return v

    @field_validator("regex")
    @classmethod
    def _regex(cls, v):
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from None
        return v


class IterateSection(_Strict):
    """The continuous-iteration loop (``mentor iterate``): when to train, on what, and when to promote."""

    min_cases: int = Field(20, ge=1)  # fewer reviewed cases than this: the round stops before training
    hold_out: float = Field(0.2, ge=0, lt=1)  # share of the mined cases kept out of training, scored in compare
    replay: list[str] = []  # earlier training data mixed in against forgetting (default: the current run's data)
    replay_share: float = Field(0.2, ge=0, lt=1)  # share of the next dataset that is replayed rows
    general: list[str] = []  # general-knowledge question files (MMLU/CMMLU style) for the forgetting probe
    questions: int = Field(100, ge=1)  # of those, at most this many
    max_forgetting: float = Field(2.0, ge=0)  # points of general accuracy a candidate may lose and still be promoted
    train: dict = {}  # `mentor train` settings for the round (epochs, learning_rate, max_steps, r...)


class AppConfig(_Strict):
    name: str = Field(pattern=NAME)
    description: str = ""
    model: str = DEFAULT_LLM  # alias, run name or model folder
    prompt: PromptConfig = PromptConfig()
    sampling: SamplingConfig = SamplingConfig()
    flow: Flow = "chat"  # the flow when there is no router
    router: RouterConfig | None = None
    tools: list[Tool] = []
    agent: AgentConfig = AgentConfig()
    guard: GuardSection | None = None
    evaluation: EvaluationSection = EvaluationSection()
    iterate: IterateSection = IterateSection()

    _flow = field_validator("flow")(classmethod(lambda cls, v: _check_flow(v)))

    @field_validator("tools")
    @classmethod
    def _tools(cls, tools: list[Tool]) -> list[Tool]:
        for t in tools:
            if isinstance(t, str) and t not in BUILTIN_TOOLS:
                raise ValueError(f"unknown tool '{t}' (built in: {', '.join(BUILTIN_TOOLS)}; or {{python: module:function}})")
        return tools

    def flows(self) -> list[Flow]:
        return [r.flow for r in self.router.routes] if self.router else [self.flow]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False)


_UNION_TAGS = {"str", "RagFlow", "PythonTool", "KbTool"}


def parse(text: str, where: str = "app.yaml") -> AppConfig:
    """The app in ``text`` (YAML); errors name the key and its line in ``where``."""
    try:
        root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise MentorError(f"{where}:{mark.line + 1 if mark else '?'}: invalid YAML ({getattr(e, 'problem', e)}).") from None
    if not isinstance(raw, dict):
        raise MentorError(f"{where}: expected a mapping of app keys at the top level.")
    try:
        return AppConfig.model_validate(raw)
    except ValidationError as e:
        # a union (flow, tools) reports one error per member: the unknown key, else the non-string one, says most
        errors = sorted(e.errors(), key=lambda x: (x["type"] != "extra_forbidden", x["type"] == "string_type"))
        err = errors[0]
        loc = [p for p in err["loc"] if p not in _UNION_TAGS]
        key = ".".join(map(str, loc)) or "the top"
        line = _line(root, loc)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
        raise MentorError(f"{where}:{line}: {key}: {message}.") from None


def load(path: str | Path) -> AppConfig:
    path = Path(path)
    if not path.is_file():
        raise MentorError(f"{path}: no such app file.")
    return parse(path.read_text(encoding="utf-8"), str(path))


def _line(node, loc: list) -> int | str:
    """The 1-based line of the YAML key or item at ``loc`` (or of the nearest parent that exists)."""
    line = node.start_mark.line + 1 if node is not None else "?"
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
