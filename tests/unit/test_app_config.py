"""App YAML: fixed keys with errors naming key and line; prompt rendering; the calculator's pieces; the
translate flow's language detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor.data.conversation import Message
from mentor.engine import config, store
from mentor.engine.flows import expression_grammar, languages, numbers
from mentor.engine.prompt import render, split_answer
from mentor.engine.tools import CalcError, calculate, from_function, number_text
from mentor.errors import MentorError
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "northwind" / "bike-help.yaml"


def test_the_example_app_parses():
    app = config.load(EXAMPLE)
    assert [r.name for r in app.router.routes] == ["calc", "translate", "kb", "chat"]
    assert app.router.routes[2].flow.rag == "shop-policies" and app.guard.allowed_domains == ["northwind-cycles.example"]
    assert all(len(r.examples) == 5 for r in app.router.routes)


@pytest.mark.parametrize("text, message", [
    ("name: a\nprompt:\n  role: x\n  stlye: short\n", "app.yaml:4: prompt.stlye: unknown key 'stlye'"),
    ("name: a\nrouter:\n  routes:\n    - {name: c, flow: calculatr}\n  fallback: c\n", "app.yaml:4: router.routes.0.flow: unknown flow 'calculatr'"),
    ("name: a\nrouter:\n  routes:\n    - {name: c, flow: chat}\n  fallback: kb\n", "fallback 'kb' is not a route (c)"),
    ("name: a\ntools:\n  - calculator\n  - {pythn: m:f}\n", "app.yaml:4: tools.1.pythn: unknown key 'pythn'"),
    ("name: a\nsampling: {temperature: 5}\n", "app.yaml:2: sampling.temperature"),
    ("name: a\nflow: {rag: kb, kk: 1}\n", "flow.kk: unknown key 'kk'"),
    ("name: a\nguard: {input: [pii], pii: hide}\n", "guard.pii"),
    ("name: a\nflow: chat: x\n", "app.yaml:2: invalid YAML"),
    ("- a\n", "expected a mapping"),
])
def test_bad_yaml_names_key_and_line(text, message):
    with pytest.raises(MentorError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        config.parse(text)


def test_create_checks_what_the_app_names(workspace):
    with pytest.raises(MentorError, match="no knowledge base 'shop-policies'"):
        store.save(config.load(EXAMPLE), workspace)
    with pytest.raises(MentorError, match="model: 'nope' is not a model alias"):
        store.save(config.parse("name: a\nmodel: nope\n"), workspace)
    with pytest.raises(MentorError, match=r"tools\[0\]: cannot import 'no_such_module'"):
        store.save(config.parse("name: a\ntools: [{python: 'no_such_module:f'}]\n"), workspace)
    with pytest.raises(MentorError, match=r"flow: '.*shop_tools' has no function 'nope'"):
        store.save(config.parse("name: a\nflow: tests.fixtures.apps.shop_tools:nope\n"), workspace)


def test_versions_history_and_delete(workspace):
    first, changed = store.save(config.parse("name: a\nprompt: {role: You help.}\n"), workspace)
    assert (first.version, changed) == (1, True)
    assert store.save(config.parse("name: a\nprompt: {role: You help.}\n"), workspace) == (first, False)
    second, _ = store.save(config.parse("name: a\nprompt: {role: You help kindly.}\n"), workspace)
    assert second.version == 2 and store.get("a", workspace).config.prompt.role == "You help kindly."
    assert store.get("a", workspace, version=1).config.prompt.role == "You help."
    assert [v.version for v in store.history("a", workspace)] == [1, 2]
    store.delete("a", workspace)
    assert store.list_apps(workspace) == []
    with pytest.raises(MentorError, match="Unknown app 'a'"):
        store.get("a", workspace)
    again, _ = store.save(config.parse("name: a\n"), workspace)
    assert again.version == 3


def test_prompt_renders_parts_in_order_with_few_shot():
    prompt = config.parse("name: a\nprompt:\n  style: Short.\n  role: You are the assistant of Northwind.\n"
                          "  task: Answer questions.\n  reasoning: step_by_step\n"
                          "  examples: [{user: Hi, assistant: Hello!}]\n").prompt
    conv = render(prompt, [Message("system", "Be nice."), Message("user", "Where is my order?")])
    roles = [m.role for m in conv.messages]
    assert roles == ["system", "user", "assistant", "user"]
    system = conv.messages[0].content
    assert system.index("You are the assistant") < system.index("Task: Answer") < system.index("Style: Short.")
    assert "Think step by step" in system and system.endswith("Be nice.")
    zh = render(prompt, [Message("user", "订单在哪？")], lang="zh").messages[0].content
    assert "任务: Answer questions." in zh and "一步一步" in zh
    assert split_answer("Reasoning: 2 and 2.\nAnswer: 4") == "4" and split_answer("just 4") == "just 4"


def test_calculator_is_safe_and_exact():
    assert calculate("3 * 45 * (1 - 10 / 100)") == pytest.approx(121.5)
    assert number_text(calculate("1350 / 9")) == "150" and number_text(calculate("60 / 9")) == "6.6667"
    assert calculate("2 × 3 ÷ 4") == 1.5
    for bad in ("__import__('os').system('ls')", "open('x')", "(1).__class__", "1 / 0", "'a' * 3"):
        with pytest.raises(CalcError):
            calculate(bad)


def test_numbers_and_the_expression_grammar():
    assert numbers("Split £1,350 over 9 payments") == ["1350", "9"]
    assert numbers("一辆 1200 英镑的车打八五折") == ["1200", "0.85", "1"]
    assert numbers("两副手套每副 18 英镑") == ["18", "2"]
    assert expression_grammar(["12", "3.5"]).kind == "expression"


def test_translate_reads_source_and_target():
    assert languages("Translate into Chinese: my order arrived damaged") == ("my order arrived damaged", "en", "zh")
    assert languages("How do I say 'saddle' in Chinese?") == ("saddle", "en", "zh")
    assert languages("把这句话翻译成英文：刹车有异响") == ("刹车有异响", "zh", "en")
    assert languages("What does 车把 mean in English?") == ("车把", "zh", "en")
    assert languages("这句英文什么意思：Out of stock until March") == ("Out of stock until March", "en", "zh")
    assert languages("Please translate to French: thank you") == ("thank you", "en", "fr")


def test_python_tools_get_a_schema_from_the_signature():
    from tests.fixtures.apps.shop_tools import order_status

    tool = from_function(order_status, "tools[0]")
    assert tool.spec.name == "order_status" and tool.spec.parameters["required"] == ["order_id"]
    assert tool.spec.parameters["properties"]["order_id"] == {"type": "string"}
    assert tool.spec.description.startswith("Look up an order")
    assert '"status": "shipped"' in tool({"order_id": "A-1001"})


def test_case_and_labelled_files_name_file_and_line(tmp_path):
    from mentor.engine.evaluation import check, read_cases
    from mentor.engine.router import read_labelled

    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"q": "hi", "contains": "hello"}\n\n{"q": "x", "expect": 1}\n')
    with pytest.raises(MentorError, match=r"cases.jsonl:3: expect: unknown key"):
        read_cases(cases)
    cases.write_text('{"q": "hi", "contains": "Hello", "route": "chat"}\n')
    case = read_cases(cases)[0]
    assert case["contains"] == ["Hello"] and check(case, "hello there", "chat", None) is True
    assert check(case, "hello there", "kb", None) is False and check({"q": "x"}, "y", None, None) is None
    labelled = tmp_path / "routes.jsonl"
    labelled.write_text('{"q": "hi", "route": "chat"}\n{"q": "2+2", "route": "maths"}\n')
    with pytest.raises(MentorError, match=r"routes.jsonl:2: route: 'maths' is not a route"):
        read_labelled(labelled, ["chat", "calc"])
    labelled.write_text("not json\n")
    with pytest.raises(MentorError, match=r"routes.jsonl:1: not JSON"):
        read_labelled(labelled, ["chat"])


@pytest.mark.parametrize("template", ["qa", "writer", "viewpoints", "tutor", "titles", "summary"])
def test_templates_write_a_valid_app_and_an_english_and_chinese_eval_set(template, tmp_path):
    from mentor.engine.evaluation import failed_checks, read_cases
    from mentor.apps.templates import write
    from mentor.evaluate.scores import json_match
    from mentor.evaluate.text import has_cjk

    app_file, cases_file = write(template, "mine", tmp_path, kb="docs", model="smollm2-135m-instruct")
    app = config.load(app_file)
    assert app.name == "mine" and app.evaluation.cases == str(cases_file)
    cases = read_cases(cases_file)
    assert sum(has_cjk(c["q"]) for c in cases) >= 4 and sum(not has_cjk(c["q"]) for c in cases) >= 4
    assert all(c.get("reference") for c in cases)
    if template == "viewpoints":  # the references pass the app's own checks and score 1 against themselves
        assert all(not failed_checks(app.evaluation, c["reference"]) and json_match(c["reference"], c["reference"]) == 1
                   for c in cases)
    if template == "qa":
        assert app.flow.rag == "docs"
    with pytest.raises(MentorError, match="exists already"):
        write(template, "mine", tmp_path, kb="docs")


def test_template_errors():
    from mentor.apps.templates import write

    with pytest.raises(MentorError, match="unknown template 'blog'"):
        write("blog", "x", Path("."))
    with pytest.raises(MentorError, match="--kb"):
        write("qa", "x", Path("."))
