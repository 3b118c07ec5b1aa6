"""Loading general-knowledge question files (MMLU / CMMLU / JSONL) for the forgetting check."""

from __future__ import annotations

import pytest

from mentor.errors import DataError
from mentor.evaluate.general import load_questions
from tests.conftest import FIXTURES

GENERAL = FIXTURES / "general"


def test_folder_with_jsonl_and_cmmlu_csv():
    qs = load_questions([GENERAL])
    assert len(qs) == 12
    zh = [q for q in qs if q.chinese]
    assert len(zh) == 6 and zh[0].subject == "常识" and zh[0].choices[zh[0].answer] == "北京"
    assert zh[0].prompt().endswith("答案：")
    en = [q for q in qs if not q.chinese]
    assert en[2].answer == 0 and en[0].prompt().endswith("Answer:")  # an index answer works as well as a letter


def test_limit_spreads_over_subjects(tmp_path):
    (tmp_path / "astronomy_test.csv").write_text("Q1,a,b,c,d,A\nQ2,a,b,c,d,B\nQ3,a,b,c,d,C\n", encoding="utf-8")
    (tmp_path / "law_test.csv").write_text("L1,a,b,c,d,D\nL2,a,b,c,d,A\n", encoding="utf-8")
    qs = load_questions([tmp_path], limit=3)
    assert [q.question for q in qs] == ["Q1", "L1", "Q2"]
    assert qs[0].subject == "astronomy" and qs[1].answer == 3


def test_bad_answer_letter_names_file_and_line(tmp_path):
    bad = tmp_path / "x_test.csv"
    bad.write_text("Q1,a,b,c,d,A\nQ2,a,b,c,d,E\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"x_test.csv:2: answer: 'E'"):
        load_questions([bad])
    with pytest.raises(DataError, match="does not exist"):
        load_questions([tmp_path / "missing.csv"])
