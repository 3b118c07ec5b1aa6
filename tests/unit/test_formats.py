import pytest

from mentor.data import check, load
from mentor.errors import DataError
from tests.conftest import FIXTURES, SAMPLE


def _where(result):
    return [(p.line, p.field, p.message, p.severity) for p in result.problems]


def test_broken_openai_file_reports_every_problem_with_line_and_field():
    result = load(FIXTURES / "broken.jsonl")
    assert result.format == "openai"
    assert len(result.examples) == 2  # lines 1 and 7 (the duplicate is not an error)
    problems = _where(result)
    assert (2, None, "bad JSON at column 91: Expecting ',' delimiter", "error") in problems
    assert (4, "messages[0].role", "unknown role 'narrator' (expected one of system, user, assistant)", "error") in problems
    assert (5, "messages", "no assistant turn to learn from", "error") in problems
    assert (6, "messages[1].content", "empty content", "error") in problems
    assert (8, "messages[1].content", "missing", "error") in problems
    assert (9, None, "expected a JSON object, got list", "error") in problems
    assert str(result.problems[0]).startswith("broken.jsonl:2: bad JSON")


def test_check_flags_duplicates_and_too_long(tokenizer):
    report = check(FIXTURES / "broken.jsonl", tokenizer, max_length=1024)
    warnings = [(p.line, p.message) for p in report.warnings]
    assert (7, "duplicate of the example on line 1") in warnings
    assert len(report.errors) == 6
    long = check(SAMPLE, tokenizer, max_length=60)
    assert any("longer than --max-length 60" in p.message for p in long.warnings)
    assert long.summary()["examples"] == 76
    assert long.percentiles()["max"] > 60


def test_alpaca_json_array_lines_history_and_system():
    result = load(FIXTURES / "alpaca.json")
    assert result.format == "alpaca"
    first, second = result.examples
    assert first.line == 2
    assert [m.content for m in first.messages] == ["Translate to French\n\nGood morning", "Bonjour"]
    assert second.line == 7
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert second.messages[0].content == "你是一位导游。"
    assert _where(result) == [(10, "output", "missing", "error")]


def test_sharegpt_roles_and_unknown_role():
    result = load(FIXTURES / "sharegpt.jsonl")
    assert result.format == "sharegpt"
    (ex,) = result.examples
    assert [(m.role, m.content) for m in ex.messages] == [("system", "Be brief."), ("user", "Name a prime number."),
                                                          ("assistant", "7")]
    assert _where(result) == [(2, "conversations[1].from", "unknown role 'bot' (expected human, gpt or system)", "error")]


def test_plain_text_paragraphs_for_continued_pretraining():
    result = load(FIXTURES / "notes.txt")
    assert result.format == "text"
    assert [(e.line, e.text) for e in result.examples] == [
        (1, "Lanternfish robots carry 180 kg.\nThey run for 11 hours."), (5, "灯笼鱼机器人总部在宁波。")]


def test_undetectable_format_names_the_fields(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:1: cannot tell the data format from the fields \['answer', 'question'\]"):
        load(bad)
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "missing.jsonl")
