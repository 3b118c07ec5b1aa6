"""An app at run time: guard(in) -> router -> flow (tools, rag, model) -> guard(out, streamed) -> answer, with
every step recorded in the audit log.

    apps = Apps(workspace, LocalGenerator(workspace))
    reply = apps.get("bike-help").respond([Message("user", "How long does express delivery take?")])
    for piece in reply.pieces: ...          # streamed, guarded
    reply.trace.to_json()                   # route, tool calls, guard findings, citations
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from mentor.data.conversation import Conversation, Message
from mentor.engine import audit, flows, store
from mentor.engine.config import KbTool, PythonTool, RagFlow
from mentor.engine.generator import Generator, Usage, complete, counted
from mentor.errors import MentorError
from mentor.generation import GenerationOptions
from mentor.workspace import Workspace


@dataclass
class Trace:
    """What happened to one request (the response's ``mentor`` metadata and the audit row)."""

    route: str | None = None
    by: str | None = None  # examples, llm, fallback
    score: float | None = None
    flow: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  # guard findings, each with "stage": input / output
    blocked: bool = False
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    log_id: int | None = None
    response_id: str = ""  # what feedback names (POST /v1/feedback, mentor app feedback)
    conversation: str = ""

    def to_json(self) -> dict:
        return {"response_id": self.response_id, "conversation": self.conversation, "route": self.route, "routed_by": self.by, "score": self.score, "flow": self.flow,
                "tool_calls": self.tool_calls, "citations": self.citations, "guard": self.findings,
                "blocked": self.blocked, "error": self.error, "log_id": self.log_id}


@dataclass
class Turn:
    """What a flow gets: the (redacted) conversation, its last user message, the app and the trace."""

    app: AppRuntime
    messages: list[Message]
    text: str
    lang: str
    trace: Trace

    def options(self, **overrides) -> GenerationOptions:
        s = self.app.config.sampling
        base = GenerationOptions(max_new_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p,
                                 repetition_penalty=1.05)
        return replace(base, **overrides)

    def generate(self, conversation: Conversation, **overrides) -> Iterator[str]:
        return counted(self.app.generator, self.app.config.model, conversation, self.options(**overrides), self.trace.usage)

    def complete(self, conversation: Conversation, **overrides) -> str:
        return complete(self.app.generator, self.app.config.model, conversation, self.options(**overrides), self.trace.usage)


@dataclass
class Reply:
    pieces: Iterator[str]  # the answer as it streams (already guarded); the audit row is written at its end
    trace: Trace
    text: str = ""

    def read(self) -> str:
        for _ in self.pieces:
            pass
        return self.text


class AppRuntime:
    def __init__(self, stored: store.StoredApp, ws: Workspace, generator: Generator, shared: dict, logged: bool = True):
        """``shared`` holds what apps share in one process: embedders and knowledge bases by name. Requests are
        written to the audit log unless ``logged`` is False (evaluation traffic is not the app's traffic)."""
        self.config, self.version, self.ws, self.generator, self.shared = stored.config, stored.version, ws, generator, shared
        self.logged = logged
        self._router = self._guard = self._tools = None

    # -- parts, built on first use ---------------------------------------------------------------
    @property
    def router(self):
        if self._router is None and self.config.router:
            from mentor.engine.router import Router

            name = self.config.router.embedder
            if ("embedder", name) not in self.shared:
                from mentor.rag.embedding import Embedder

                # one message at a time: fp32 is faster than bf16 autocast here (26 vs 39 ms a message)
                self.shared["embedder", name] = Embedder(name, self.ws, precision="fp32")
            self._router = Router(self.config.router, self.shared["embedder", name], self.generator, self.config.model)
        return self._router

    @property
    def guard(self):
        if self._guard is None and self.config.guard:
            from mentor.engine.guard import Guard

            self._guard = Guard(store.guard_config(self.config))
        return self._guard

    def knowledge_base(self, name: str):
        if ("kb", name) not in self.shared:
            from mentor.rag.knowledge_base import KnowledgeBase

            self.shared["kb", name] = KnowledgeBase.open(name, self.ws)
        return self.shared["kb", name]

    def tools(self) -> dict:
        """name -> RuntimeTool for the app's ``tools``."""
        if self._tools is None:
            from mentor.engine.tools import builtin, from_function

            out = {}
            for i, spec in enumerate(self.config.tools):
                if isinstance(spec, PythonTool):
                    tool = from_function(store.resolve_callable(spec.python, f"tools[{i}]"), f"tools[{i}]")
                elif isinstance(spec, KbTool) or spec == "kb_search":
                    tool = builtin("kb_search", self._kb_search(spec.kb_search if isinstance(spec, KbTool) else self._first_kb()))
                else:
                    tool = builtin(spec)
                out[tool.spec.name] = tool
            self._tools = out
        return self._tools

    def _first_kb(self) -> str:
        return next(f.rag for f in self.config.flows() if isinstance(f, RagFlow))

    def _kb_search(self, name: str):
        def kb_search(query: str) -> str:
            from mentor.rag.retrieval import search

            hits = search(self.knowledge_base(name), query, "hybrid", 3)
            return "\n\n".join(f"[{i}] ({h.chunk.source}) {h.chunk.text}" for i, h in enumerate(hits, 1)) or "no results"
        return kb_search

    # -- a request ---------------------------------------------------------------------------------
    def route(self, text: str):
        """The router's decision for ``text`` (None when the app has no router)."""
        return self.router.route(text) if self.config.router else None

    def respond(self, messages: list[Message], response_id: str | None = None, conversation: str | None = None) -> Reply:
        """Answer the conversation's last user message. Nothing runs until ``pieces`` is consumed.
        ``response_id`` (default: a new one) is what feedback names; ``conversation`` groups requests into
        conversations for the metrics (default: derived from the conversation's first user message)."""
        from mentor.evaluate.text import has_cjk

        if not messages or messages[-1].role != "user" or not messages[-1].content.strip():
            raise MentorError("messages: the last message must be a non-empty user message.")
        trace = Trace(response_id=response_id or f"chatcmpl-{uuid.uuid4().hex}",
                      conversation=conversation or _conversation_id(self.config.name, messages))
        reply = Reply(iter(()), trace)
        request = [{"role": m.role, "content": m.content} for m in messages]

        def pieces() -> Iterator[str]:
            start, sent = time.perf_counter(), []
            try:
                text = messages[-1].content
                if self.guard and self.guard.config.input:
                    verdict = self.guard.check_input(text)
                    trace.findings += [{**f.to_json(), "stage": "input"} for f in verdict.findings]
                    if not verdict.allowed:
                        trace.blocked = True
                        sent.append(self.guard.config.on_block)
                        yield sent[-1]
                        return
                    text = verdict.text  # PII redacted before the model or the log sees it
                turn = Turn(self, [*messages[:-1], Message("user", text)], text, "zh" if has_cjk(text) else "en", trace)
                flow = self.config.flow
                decision = self.route(text)
                if decision is not None:
                    trace.route, trace.by, trace.score = decision.route, decision.by, decision.score
                    flow = next(r.flow for r in self.config.router.routes if r.name == decision.route)
                trace.flow = f"rag:{flow.rag}" if isinstance(flow, RagFlow) else flow
                scan = flows.run(flow, turn)
                if self.guard and self.guard.config.output:
                    scan = self.guard.stream(scan)  # the answer checked a sentence at a time as it streams
                for piece in scan:
                    sent.append(piece)
                    yield piece
                if self.guard and self.guard.config.output:
                    trace.findings += [{**f.to_json(), "stage": "output"} for f in scan.findings]
                    trace.blocked = scan.blocked
            except MentorError as e:  # the user's to fix (a missing model or knowledge base): said, and logged
                trace.error = str(e)
                raise
            except Exception as e:  # a flow or tool failing ends the answer gracefully and is logged
                trace.error = f"{type(e).__name__}: {e}"
                sent.append("\n抱歉，出了点问题。" if has_cjk(messages[-1].content) else
                            "\nSorry, something went wrong while answering.")
                yield sent[-1]
            finally:
                reply.text = "".join(sent).strip()
                if self.logged:
                    trace.log_id = audit.write(self.ws, self.config.name, self.version, trace, request, reply.text,
                                               time.perf_counter() - start)

        reply.pieces = pieces()
        return reply


def _conversation_id(app: str, messages: list[Message]) -> str:
    """Clients that send no conversation id resend the whole history: its first user message identifies it."""
    first = next(m.content for m in messages if m.role == "user")
    return "conv-" + hashlib.sha256(f"{app}\0{first}".encode()).hexdigest()[:16]


class Apps:
    """Apps of a workspace, built once per version and shared by requests."""

    def __init__(self, ws: Workspace, generator: Generator):
        self.ws, self.generator = ws, generator
        self._built: dict[tuple[str, int], AppRuntime] = {}
        self._shared: dict = {}

    def get(self, name: str, version: int | None = None) -> AppRuntime:
        stored = store.get(name, self.ws, version)
        key = (name, stored.version)
        if key not in self._built:
            self._built[key] = AppRuntime(stored, self.ws, self.generator, self._shared)
        return self._built[key]

    def variant(self, name: str, version: int | None = None, model: str | None = None) -> AppRuntime:
        """A stored version of the app, on another ``model`` if given (for evaluation: not kept, not logged)."""
        stored = store.get(name, self.ws, version)
        if model:
            stored = replace(stored, config=stored.config.model_copy(update={"model": model}))
        return AppRuntime(stored, self.ws, self.generator, self._shared, logged=False)
