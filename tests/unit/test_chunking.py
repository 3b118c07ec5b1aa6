"""Chunker boundaries pinned on English and Chinese text; document readers."""

from __future__ import annotations

import pytest

from mentor.errors import DataError
from mentor.rag.chunking import chunk_text, split_sentences
from mentor.rag.documents import read_sections
from tests.conftest import FIXTURES


def _count(text: str) -> int:  # one token per word, or per CJK character
    return sum(len(w) if ord(w[0]) > 0x2E80 else 1 for w in text.split())


def test_sentences_in_both_languages():
    assert split_sentences("第一句。第二句！“第三句？”最后") == ["第一句。", "第二句！", "“第三句？”", "最后"]
    assert split_sentences("Dr. Lin arrived. She said \"hi!\" Then left.") == ["Dr. Lin arrived.", 'She said "hi!"',
                                                                               "Then left."]


def test_chunks_follow_headings_and_pack_sentences_with_overlap():
    text = ("# Guide\n\n## Install\n\nOne two three. Four five six. Seven eight nine.\n\nTen eleven.\n\n"
            "## Use\n\nAlpha beta.")
    pieces = chunk_text(text, _count, size=7, overlap=3)
    assert [(p.heading, p.text) for p in pieces] == [
        ("Guide > Install", "One two three. Four five six."),
        ("Guide > Install", "Four five six. Seven eight nine."),  # overlap: the last whole sentence carried over
        ("Guide > Install", "Seven eight nine.\n\nTen eleven."),
        ("Guide > Use", "Alpha beta."),
    ]


def test_chinese_chunks_split_at_sentence_ends():
    text = "灯笼鱼公司成立于二〇一四年。总部位于杭州。公司生产仓储机器人和巡检无人机。"
    pieces = chunk_text(text, _count, size=21, overlap=0)  # 14 + 7 characters fit, the third (16) does not
    assert [p.text for p in pieces] == ["灯笼鱼公司成立于二〇一四年。总部位于杭州。", "公司生产仓储机器人和巡检无人机。"]


def test_over_long_sentence_is_cut():
    pieces = chunk_text("x" * 25, lambda s: len(s), size=10, overlap=2)
    assert [len(p.text) for p in pieces] == [10, 10, 5]


def test_readers_keep_locations_and_report_bad_files(tmp_path):
    html = read_sections(FIXTURES / "kb" / "office.html")[0].text
    assert "# Our offices" in html and "## Parking" in html and "ignore me" not in html and "color:red" not in html
    rows = tmp_path / "faq.csv"
    rows.write_text("question,answer\nOpen on Sunday?,No\n", encoding="utf-8")
    assert read_sections(rows)[0].text == "question: Open on Sunday?\nanswer: No" and read_sections(rows)[0].location == "row 2"
    with pytest.raises(DataError, match="broken.pdf: cannot read it as PDF"):
        read_sections(FIXTURES / "kb" / "broken.pdf")
    latin = tmp_path / "old.txt"
    latin.write_bytes("café".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_sections(latin)
