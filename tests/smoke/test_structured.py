"""Tools, tool_choice, response_format, logprobs and the Responses API through the official openai client,
against a live `mentor serve` on its default backend (constrained rows decode in torch beside it)."""

from __future__ import annotations

import json

import openai
import pytest
from jsonschema import validate

from bench.toolset import TOOLS
from tests.conftest import MODEL
from tests.smoke.test_server import Server

ORDER = [{"role": "user", "content": "Where is my order AB123456?"}]
CITY = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                         "population": {"type": "integer"}}, "required": ["city", "population"]}


@pytest.fixture(scope="module")
def client(tmp_path_factory, model_cache):
    server = Server(tmp_path_factory.mktemp("structured") / "home")
    yield server.client
    server.stop()


def _args(call) -> dict:
    return json.loads(call.function.arguments)


def test_tool_calls_plain_and_streamed(client):
    reply = client.chat.completions.create(model=MODEL, messages=ORDER, tools=TOOLS, tool_choice="required",
                                           temperature=0, parallel_tool_calls=False)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call.function.name)
    validate(_args(call), schema)
    assert call.id.startswith("call_")

    named = client.chat.completions.create(model=MODEL, messages=ORDER, tools=TOOLS, temperature=0,
                                           tool_choice={"type": "function", "function": {"name": "lookup_order"}})
    assert named.choices[0].message.tool_calls[0].function.name == "lookup_order"
    assert _args(named.choices[0].message.tool_calls[0]) == {"order_id": "AB123456"}  # copied from the question

    stream = client.chat.completions.create(model=MODEL, messages=ORDER, tools=TOOLS, temperature=0, stream=True,
                                            tool_choice={"type": "function", "function": {"name": "lookup_order"}})
    deltas, finish = [], None
    for chunk in stream:
        if chunk.choices:
            deltas += chunk.choices[0].delta.tool_calls or []
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and deltas[0].function.name == "lookup_order"
    assert "".join(d.function.arguments or "" for d in deltas) == named.choices[0].message.tool_calls[0].function.arguments


def test_tool_result_round_trip_and_tool_choice_none(client):
    call = {"id": "call_1", "type": "function",
            "function": {"name": "lookup_order", "arguments": json.dumps({"order_id": "AB123456"})}}
    messages = ORDER + [{"role": "assistant", "content": None, "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped", "eta": "Friday"}'}]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="none",
                                           temperature=0, max_tokens=24)
    message = reply.choices[0].message
    assert message.tool_calls is None and message.content and reply.choices[0].finish_reason in ("stop", "length")
    plain = client.chat.completions.create(model=MODEL, messages=ORDER, tools=TOOLS, tool_choice="none",
                                           temperature=0, max_tokens=16)
    assert plain.choices[0].message.tool_calls is None and "<tool_call>" not in plain.choices[0].message.content


@pytest.mark.parametrize("question", ["Give the largest city of France and its population as JSON.",
                                      "用JSON给出中国人口最多的城市和它的人口。"])
def test_json_schema_strict_and_logprobs(client, question):
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], temperature=0, max_tokens=64,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}},
        logprobs=True, top_logprobs=2)
    value = json.loads(reply.choices[0].message.content)
    validate(value, {**CITY, "additionalProperties": False})
    scored = reply.choices[0].logprobs.content
    assert len(scored) == reply.usage.completion_tokens
    assert all(s.logprob <= 0 and len(s.top_logprobs) == 2 for s in scored)
    assert bytes(b for s in scored for b in s.bytes).decode() == reply.choices[0].message.content
    obj = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                         temperature=0, max_tokens=48, response_format={"type": "json_object"})
    if obj.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(obj.choices[0].message.content), dict)


def test_responses_api_subset(client):
    text = client.responses.create(model=MODEL, input="Say hello in one short sentence.", temperature=0,
                                   max_output_tokens=16)
    assert text.status in ("completed", "incomplete") and text.output_text
    tools = [{"type": "function", "name": t["function"]["name"], "description": t["function"]["description"],
              "parameters": t["function"]["parameters"]} for t in TOOLS]
    called = client.responses.create(model=MODEL, input="Where is my order AB123456?", tools=tools,
                                     tool_choice={"type": "function", "name": "lookup_order"}, temperature=0)
    (call,) = [item for item in called.output if item.type == "function_call"]
    assert call.name == "lookup_order" and json.loads(call.arguments) == {"order_id": "AB123456"}
    back = client.responses.create(model=MODEL, tools=tools, tool_choice="none", temperature=0, max_output_tokens=16,
                                   input=[{"role": "user", "content": "Where is my order AB123456?"},
                                          {"type": "function_call", "call_id": call.call_id, "name": call.name,
                                           "arguments": call.arguments},
                                          {"type": "function_call_output", "call_id": call.call_id,
                                           "output": '{"status": "shipped"}'}])
    assert back.output_text
    events = list(client.responses.create(model=MODEL, input="Say hello.", temperature=0, max_output_tokens=12,
                                          stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] in ("response.completed", "response.incomplete")
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert streamed == events[-1].response.output_text


@pytest.mark.parametrize("fields, says", [
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "fly"}}}, "'fly' is not among the tools"),
    ({"tool_choice": "required"}, "needs tools"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object",
                                                                                         "if": {}}}}},
     'Unimplemented keys: ["if"]'),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objekt"}}}},
     "invalid JSON schema"),
    ({"messages": ORDER + [{"role": "tool", "tool_call_id": "call_9", "content": "{}"}]}, "tool_call_id"),
    ({"tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": 3}}}]}, "invalid JSON schema"),
])
def test_bad_structured_requests_get_400(client, fields, says):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, **{"messages": ORDER, **fields})
    assert says in refused.value.message


def test_cli_generate_with_schema_and_tools_then_eval(tmp_path):
    from tests.smoke.test_cli import _mentor

    schema = tmp_path / "city.json"
    schema.write_text(json.dumps(CITY))
    made = _mentor("generate", "--backend", "auto", "--json-schema", str(schema), "--max-new-tokens", "64",
                   "--prompt", "The largest city of Japan and its population, as JSON.")
    assert made.returncode == 0, made.stderr
    validate(json.loads(made.stdout), CITY)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps({"tools": TOOLS}))
    called = _mentor("generate", "--tools", str(tools), "--tool-choice", "create_return", "--max-new-tokens", "80",
                     "--prompt", "I want to return order QX654321 because it arrived broken.")
    assert called.returncode == 0, called.stderr
    (call,) = json.loads(called.stdout)["tool_calls"]
    assert call["name"] == "create_return"  # how often the id is copied right: bench/structured.py
    validate(call["arguments"], TOOLS[4]["function"]["parameters"])
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("\n".join(json.dumps({"prediction": p}) for p in
                                     [made.stdout.strip(), '{"city": "Oslo"}', "not json"]) + "\n")
    scored = _mentor("eval", "--predictions", str(predictions), "--metrics", "json", "--json-schema", str(schema),
                     "--json")
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads(scored.stdout)["metrics"]
    assert round(metrics["json_schema"]["value"], 2) == 33.33 and round(metrics["json"]["value"], 2) == 66.67
    bad = _mentor("generate", "--tools", str(schema), "--prompt", "hi")
    assert bad.returncode != 0 and "expected a list of function tools" in bad.stderr
