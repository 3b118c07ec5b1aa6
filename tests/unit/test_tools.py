"""Tool calls as text (data.tools), tool rows in training data, and the grammars that force valid output."""

from __future__ import annotations

import json
import random

import pytest
import torch

from bench.toolset import TOOLS, literal_right, questions, training_row
from mentor.data.formats import load
from mentor.data.template import encode
from mentor.data.tools import Call, as_conversation, check_call, parse_calls, read_tools
from mentor.errors import DataError, MentorError
from mentor.inference import grammar
from mentor.inference.decode import Row, Sampling, choose, stop_token_ids


def test_read_tools_names_what_is_wrong():
    assert [t.name for t in read_tools(TOOLS)] == ["lookup_order", "convert_units", "calculate", "search_policy",
                                                   "create_return"]
    with pytest.raises(DataError, match=r"tools\[1\].function.name: 'a' is declared twice"):
        read_tools([{"type": "function", "function": {"name": "a"}}] * 2)
    with pytest.raises(DataError, match=r"tools\[0\].function.parameters: invalid JSON schema"):
        read_tools([{"type": "function", "function": {"name": "a", "parameters": {"type": "strin"}}}])
    with pytest.raises(DataError, match="only function tools"):
        read_tools([{"type": "web_search"}])


def test_conversation_renders_calls_and_results():
    row = training_row(questions(1, seed=3)[0], random.Random(0))
    conv = as_conversation(row["messages"], read_tools(row["tools"]))
    roles = [m.role for m in conv.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert "<tools>" in conv.messages[0].content and "lookup_order" in conv.messages[0].content
    call = conv.messages[2].content
    assert call.startswith("<tool_call>\n{") and call.endswith("</tool_call>")
    assert conv.messages[3].content.startswith("<tool_response>")
    with pytest.raises(DataError, match=r"messages\[1\]: a tool message needs the tool_call_id"):
        as_conversation([{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "1"}])


def test_parse_calls_splits_text_and_drops_a_cut_off_call():
    text = 'Sure.\n<tool_call>\n{"name": "calculate", "arguments": {"expression": "2 + 2"}}\n</tool_call>\n<tool_call>\n{"na'
    content, calls = parse_calls(text)
    assert content == "Sure." and [c.name for c in calls] == ["calculate"]
    assert json.loads(calls[0].arguments) == {"expression": "2 + 2"} and calls[0].id.startswith("call_")
    assert parse_calls("plain words") == ("plain words", [])


def test_check_call_against_schema():
    tools = read_tools(TOOLS)
    assert check_call(Call("lookup_order", '{"order_id": "AB123456"}'), tools) is None
    assert "does not match" in check_call(Call("lookup_order", '{"order_id": "12"}'), tools)
    assert "not among the tools" in check_call(Call("fly", "{}"), tools)
    item = {"arguments": {"value": 5, "expression": "3 * 4"}, "literal": ["value", "expression"]}
    assert literal_right(item, {"value": 5.0, "expression": "3*4"}) and not literal_right(item, {"value": 6})


def test_training_rows_with_tools_load_and_learn_the_call(tmp_path, tokenizer):
    rng = random.Random(1)
    rows = [training_row(q, rng) for q in questions(3)]
    bad = training_row(questions(1, seed=9)[0], rng)
    bad["messages"][1]["tool_calls"][0]["function"] = {"name": "lookup_order", "arguments": '{"order_id": 7}'}
    path = tmp_path / "tools.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows + [bad]) + "\n", encoding="utf-8")
    result = load(path)
    assert len(result.examples) == 3
    (problem,) = result.errors
    assert problem.line == 4 and problem.field == "messages[1].tool_calls[0]" and "order_id" in problem.message
    enc = encode(result.examples[0], tokenizer, 2048)
    learned = tokenizer.decode([t for t in enc.labels if t != -100])
    assert "<tool_call>" in learned and '"name"' in learned  # the call is an assistant turn: trained
    assert "<tools>" not in learned and "<tool_response>" not in learned  # the tool list and results are not


SCHEMA = {"type": "object", "properties": {
    "label": {"enum": ["billing", "shipping", "退货"]}, "urgent": {"type": "boolean"},
    "count": {"type": "integer", "minimum": 0, "maximum": 99}}, "required": ["label", "urgent", "count"]}


def _decode(constraint, tokenizer, logits_seed: int, steps: int = 80) -> str:
    """Sample from random logits under the constraint: whatever the 'model' prefers, the grammar decides."""
    gen = torch.Generator().manual_seed(logits_seed)
    row = Row([], Sampling(steps, temperature=1.0, seed=logits_seed, constraint=constraint))
    row.matcher = grammar.Matcher(constraint, tokenizer, stop_token_ids(tokenizer))
    for _ in range(steps):
        token = choose(torch.randn(len(tokenizer), generator=gen) * 5, row)
        if token in stop_token_ids(tokenizer) or row.matcher.done:
            break
        row.ids.append(token)
        row.matcher.advance(token)
    return tokenizer.decode(row.ids, skip_special_tokens=True)


def test_random_logits_still_give_valid_json(tokenizer):
    from jsonschema import validate

    constraint = grammar.json_schema(SCHEMA)
    for seed in range(12):
        validate(json.loads(_decode(constraint, tokenizer, seed)), SCHEMA)


def test_random_logits_still_give_valid_tool_calls(tokenizer):
    tools = read_tools([{"type": "function", "function": {"name": "route", "parameters": SCHEMA}},
                        {"type": "function", "function": {"name": "noop"}}])
    for choice in ("required", "route"):
        constraint = grammar.tool_calls(tools, choice, parallel=False)
        for seed in range(6):
            content, calls = parse_calls(_decode(constraint, tokenizer, seed, steps=120))
            assert content is None and len(calls) == 1, choice
            assert check_call(calls[0], tools) is None and (choice == "required" or calls[0].name == "route")


def test_grammar_is_compiled_once_and_bad_schemas_name_the_keyword(tokenizer):
    constraint = grammar.json_schema(SCHEMA)
    grammar.Matcher(constraint, tokenizer, stop_token_ids(tokenizer))
    before = grammar.compiled_count()
    grammar.Matcher(grammar.json_schema(dict(SCHEMA)), tokenizer, stop_token_ids(tokenizer))
    assert grammar.compiled_count() == before
    with pytest.raises(MentorError, match=r'Unimplemented keys: \["if"\]'):
        grammar.json_schema({"type": "object", "if": {"required": ["a"]}})
    with pytest.raises(MentorError, match="invalid JSON schema"):
        grammar.json_schema({"type": "objekt"})
    with pytest.raises(MentorError, match="'nope' is not among the tools"):
        grammar.tool_calls(read_tools(TOOLS), "nope")
