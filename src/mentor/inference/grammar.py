"""Constrained decoding: a JSON schema, "any JSON object" or a set of function tools becomes a grammar that
masks every step's logits, so the reply always parses and validates, whatever the model would have said.

The engine is llguidance, chosen by measurement (SmolLM2's 49,152-token vocabulary, a tool-call schema, this
2-core CPU): llguidance compiles it in 1.2 ms and masks in 0.11 ms a token; xgrammar 0.2.9 in 2.8 ms and
0.007 ms. Both are under 0.2% of a 70 ms decode step, so speed does not decide; llguidance installs as one
small wheel (xgrammar brings triton and a TVM runtime, ~400 MB) and reads Lark grammars, which say
"free text or tool calls" (``tool_choice=auto``) in one grammar.

A grammar is compiled once per (tokenizer, grammar) and copied for each row (:func:`matcher`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from mentor.data.tools import CALL_CLOSE, CALL_OPEN, Tool
from mentor.errors import MentorError


class GrammarError(MentorError):
    """A schema or tool set the grammar engine cannot take (the message names the keyword)."""


_COMPACT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}  # JSON without runs of blanks


@dataclass(frozen=True)
class Constraint:
    """What a reply must be: ``grammar`` is llguidance's serialised grammar; ``kind`` says which request
    made it (json_object, json_schema, tools)."""

    grammar: str
    kind: str


def json_object() -> Constraint:
    return Constraint(_json_grammar({"type": "object"}), "json_object")


def json_schema(schema: dict, strict: bool = True) -> Constraint:
    """Any JSON value the schema accepts. ``strict`` false still constrains (a small model needs it to
    produce valid JSON at all); it only lets objects carry properties the schema does not name."""
    if not isinstance(schema, dict):
        raise GrammarError("response_format.json_schema.schema: must be a JSON schema object.")
    _check_schema(schema, "response_format.json_schema.schema")
    return Constraint(_json_grammar(schema, strict), "json_schema")


def tool_calls(tools: list[Tool], choice: str | None = "required", parallel: bool = True) -> Constraint:
    """Replies of ``<tool_call>`` blocks whose JSON names a declared tool and whose arguments fit its
    schema. ``choice``: ``required`` (one call or more), a tool's name (that tool), or ``auto`` (free text
    not starting with ``<``, or calls)."""
    if not tools:
        raise GrammarError("tools: tool_choice other than 'none' needs at least one tool.")
    chosen = tools if choice in ("required", "auto") else [t for t in tools if t.name == choice]
    if not chosen:
        raise GrammarError(f"tool_choice: the function '{choice}' is not among the tools "
                           f"({', '.join(t.name for t in tools)}).")
    bodies = []
    for t in chosen:
        _check_schema(t.parameters, f"tools[{tools.index(t)}].function.parameters")
        arguments = _strict(_bounded(t.parameters))
        bodies.append({"type": "object", "properties": {"name": {"const": t.name}, "arguments": arguments},
                       "required": ["name", "arguments"], "additionalProperties": False})
    body = {**(bodies[0] if len(bodies) == 1 else {"anyOf": bodies}), "x-guidance": _COMPACT}
    calls = 'call ("\\n" call)*' if parallel else "call"
    start = "TEXT | calls" if choice == "auto" else "calls"
    lark = (f"start: {start}\ncalls: {calls}\ncall: \"{_lark(CALL_OPEN)}\\n\" body \"\\n{_lark(CALL_CLOSE)}\"\n"
            f"body: %json {json.dumps(body)}\n")
    if choice == "auto":
        lark += "TEXT: /[^<\\s][\\s\\S]*/\n"
    return Constraint(_compile_check(_llg().LLMatcher.grammar_from_lark(lark), "tools"), "tools")


def lark(text: str, kind: str = "lark") -> Constraint:
    """Replies in the language of a Lark grammar (llguidance's dialect: ``%json {..}`` embeds a JSON schema)."""
    return Constraint(_compile_check(_llg().LLMatcher.grammar_from_lark(text), kind), kind)


def choice(options: list[str]) -> Constraint:
    """Exactly one of ``options`` (a label out of a fixed set: a route, a class)."""
    if not options:
        raise GrammarError("choice: needs at least one option.")
    return lark("start: " + " | ".join(f'"{_lark(o)}"' for o in options) + "\n", "choice")


class Matcher:
    """One row's grammar state: ``mask(logits)`` removes tokens the grammar forbids next; ``advance(token)``
    takes the chosen one; ``done`` once the grammar has ended (only end-of-text may follow)."""

    def __init__(self, constraint: Constraint, tokenizer, eos: set[int]):
        self.constraint = constraint
        self._m = _compiled(constraint.grammar, tokenizer, eos).deep_copy()
        self._vocab = _llg_tokenizer(tokenizer, eos).vocab_size
        self._bits = None

    def mask(self, logits) -> None:
        import llguidance.torch as lt
        import torch

        if self._bits is None:
            self._bits = lt.allocate_token_bitmask(1, self._vocab)
        lt.fill_next_token_bitmask(self._m, self._bits, 0)
        view = logits.view(1, -1)
        width = min(view.shape[1], self._vocab)
        allowed = view[:, :width].clone()
        lt.apply_token_bitmask_inplace(allowed, self._bits)
        view[:, :width] = allowed
        if view.shape[1] > width:  # padding rows of a larger embedding matrix are never text
            view[:, width:] = torch.finfo(view.dtype).min

    def advance(self, token: int) -> None:
        if not self._m.consume_token(token):
            raise MentorError(f"constrained decoding: token {token} broke the grammar ({self._m.get_error()})")

    @property
    def done(self) -> bool:
        return self._m.is_stopped()

    @property
    def accepting(self) -> bool:
        return self._m.is_accepting()


# -- compiling, once ----------------------------------------------------------------------------
_lock = threading.Lock()
_TOKENIZERS: dict[int, object] = {}
_COMPILED: dict[tuple[int, str], object] = {}
_MAX_COMPILED = 256


def _llg():
    import llguidance

    return llguidance


def _llg_tokenizer(tokenizer, eos: set[int]):
    key = id(tokenizer)
    with _lock:
        if key not in _TOKENIZERS:
            import llguidance.hf

            _TOKENIZERS[key] = llguidance.hf.from_tokenizer(tokenizer, eos_token=sorted(eos))
        return _TOKENIZERS[key]


def _compiled(grammar: str, tokenizer, eos: set[int]):
    """The compiled matcher for ``grammar`` (fresh state), built once per tokenizer and grammar; ``eos``:
    the tokens that end a reply (allowed once the grammar is complete)."""
    key = (id(tokenizer), grammar)
    llg_tok = _llg_tokenizer(tokenizer, eos)
    with _lock:
        if key not in _COMPILED:
            if len(_COMPILED) >= _MAX_COMPILED:
                _COMPILED.pop(next(iter(_COMPILED)))
            m = _llg().LLMatcher(llg_tok, grammar)
            if m.is_error():
                raise GrammarError(f"the grammar engine refused the constraint: {m.get_error()}")
            _COMPILED[key] = m
        return _COMPILED[key]


def compiled_count() -> int:
    return len(_COMPILED)


def _json_grammar(schema: dict, strict: bool = True) -> str:
    grammar = _llg().LLMatcher.grammar_from_json_schema(json.dumps(_strict(schema) if strict else schema),
                                                        defaults=_COMPACT)
    return _compile_check(grammar, "schema")


def _compile_check(grammar: str, where: str) -> str:
    error, messages = _llg().LLMatcher.validate_grammar_with_warnings(grammar)
    if error:
        raise GrammarError(f"{where}: the grammar engine cannot take this schema: {'; '.join(messages)}")
    return grammar


def _check_schema(schema: dict, where: str) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        raise GrammarError(f"{where}: invalid JSON schema at {'/'.join(map(str, e.absolute_path)) or 'the top'}: "
                           f"{e.message}") from None
    _compile_check(_llg().LLMatcher.grammar_from_json_schema(json.dumps(schema)), where)


def _strict(schema):
    """OpenAI's strict mode: objects take only the properties they name (unless the schema says otherwise)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if out.get("type") == "object" and "additionalProperties" not in out and "properties" in out:
        out["additionalProperties"] = False
    return out


ARGUMENT_CHARS = 200  # a tool argument string without a maxLength of its own ends by this many characters


def _bounded(schema):
    """Free strings in tool arguments get ``maxLength`` ARGUMENT_CHARS: a small model that starts repeating
    itself inside an argument ("search_policy_search_policy_...") then closes the call instead of running it
    into the token limit, cut off and unparseable. A schema's own maxLength, enum, const or pattern wins."""
    if isinstance(schema, list):
        return [_bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _bounded(v) for k, v in schema.items()}
    if out.get("type") == "string" and not {"maxLength", "enum", "const", "pattern", "format"} & out.keys():
        out["maxLength"] = ARGUMENT_CHARS
    return out


def _lark(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
