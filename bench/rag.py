"""Retrieval quality and speed: Mentor's search modes vs LlamaIndex's VectorStoreIndex and BM25Retriever.

    python bench/rag.py [--queries 300] [--fusion-queries 30] [--latency-chunks 10000] [--embedder me5-small]

Data from ../shared/data: cmrc2018 (Chinese, 848 passages), medquad (English QA over documents: the
2,000 answers, each under its page's title, are the corpus, each question's own answer its one relevant
passage; `--medquad-untitled` drops the titles) and clapnq
(English, gold passages; its unanswerable questions check `mentor ask`'s "I don't know").
Both tools use the same embedding model (`--embedder`, Mentor's default unless named; an E5 model gets
its "query: " / "passage: " prompts in both). `--latency-chunks 0` skips the latency run. LlamaIndex needs
`pip install llama-index-core llama-index-embeddings-huggingface llama-index-retrievers-bm25`
(a benchmark peer, not a Mentor dependency). Writes bench/out/rag.md and bench/out/rag.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def load_set(name: str, untitled: bool = False) -> tuple[list[tuple[str, str, str]], list[tuple[str, list[str]]]]:
    """(passages as (id, title, text), queries as (text, relevant passage ids))."""
    if name == "cmrc2018":
        corpus = [json.loads(l) for l in (DATA / "cmrc2018" / "dev_corpus.jsonl").open(encoding="utf-8")]
        queries = [json.loads(l) for l in (DATA / "cmrc2018" / "dev_queries.jsonl").open(encoding="utf-8")]
        return ([(c["_id"], c["title"], c["text"]) for c in corpus],
                [(q["text"], q["gold_passage_ids"]) for q in queries])
    if name == "medquad":
        rows = [json.loads(l) for l in (DATA / "medquad" / "medquad_sample2000.jsonl").open(encoding="utf-8")]
        # each answer under the title of the page it was published on ("focus"), as a knowledge base of
        # those pages holds it; without it 180 of the 2,000 answers never name their subject ("This
        # condition is inherited in an autosomal recessive pattern, ...": the same text for dozens of
        # conditions), which no retriever can tell apart. --medquad-untitled: answers alone.
        return ([(r["id"], "" if untitled else r["focus"], r["answer"]) for r in rows],
                [(r["question"], [r["id"]]) for r in rows])
    if name == "clapnq":
        corpus = [json.loads(l) for l in (DATA / "clapnq" / "mini_corpus.jsonl").open(encoding="utf-8")]
        queries = [json.loads(l) for l in (DATA / "clapnq" / "mini_queries.jsonl").open(encoding="utf-8")]
        return ([(c["_id"], c["title"], c["text"]) for c in corpus],
                [(q["text"], q["gold_passage_ids"]) for q in queries if q["answerable"]])
    raise SystemExit(f"unknown set {name}")


def scores(ranked_ids: list[str], relevant: list[str]) -> tuple[float, float]:
    """recall@5 and MRR@10 over distinct passage ids in rank order."""
    seen, docs = set(), []
    for d in ranked_ids:
        if d not in seen:
            seen.add(d)
            docs.append(d)
    recall = len(set(docs[:5]) & set(relevant)) / len(relevant)
    first = next((i for i, d in enumerate(docs[:10], 1) if d in relevant), None)
    return recall, (1 / first if first else 0.0)


def mean_scores(rankings: list[list[str]], queries: list[tuple[str, list[str]]]) -> dict:
    pairs = [scores(r, rel) for r, (_, rel) in zip(rankings, queries)]
    return {"recall@5": statistics.mean(p[0] for p in pairs), "mrr@10": statistics.mean(p[1] for p in pairs),
            "queries": len(pairs)}


def mentor_kb(name: str, passages: list[tuple[str, str]], ws, folder: Path, embedder: str):
    """Index the passages (one JSONL line each); returns the KB, line -> passage id, indexing stats."""
    from mentor.rag.knowledge_base import KnowledgeBase

    corpus = folder / f"{name}.jsonl"
    corpus.write_text("".join(json.dumps({"title": title, "text": text}, ensure_ascii=False) + "\n"
                              for _, title, text in passages), encoding="utf-8")
    kb = KnowledgeBase.create(name, workspace=ws, embedder=embedder)
    started = time.perf_counter()
    report = kb.add([corpus])
    seconds = time.perf_counter() - started
    by_line = {f"line {i}": pid for i, (pid, _, _) in enumerate(passages, 1)}
    return kb, by_line, {"chunks": report.chunks_added, "index_seconds": round(seconds, 1),
                         "chunks_per_s": round(report.chunks_added / seconds, 1)}


def run_mentor(kb, by_line, queries, modes, rephrase=None) -> dict:
    from mentor.rag.retrieval import search

    out = {}
    for mode in modes:
        rankings = [[by_line[h.chunk.location] for h in search(kb, q, mode, 30, rephrase=rephrase)] for q, _ in queries]
        out[mode] = mean_scores(rankings, queries)
        print(f"  mentor {mode:8s} recall@5 {out[mode]['recall@5']:.3f}  MRR@10 {out[mode]['mrr@10']:.3f}", flush=True)
    return out


def run_llamaindex(passages, queries, embed_folder: str, prompts: dict[str, str]) -> dict:
    try:
        from llama_index.core import Document, Settings, VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.retrievers.bm25 import BM25Retriever
    except ImportError as e:
        print(f"  LlamaIndex not installed ({e}); skipping the peer", flush=True)
        return {}
    Settings.embed_model = HuggingFaceEmbedding(model_name=embed_folder, device="cpu",
                                                query_instruction=prompts.get("query"),
                                                text_instruction=prompts.get("document"))
    Settings.llm = None
    # the same title, as document metadata (LlamaIndex embeds metadata with the text by default)
    docs = [Document(text=text, doc_id=pid, metadata={"title": title} if title else {}) for pid, title, text in passages]
    started = time.perf_counter()
    index = VectorStoreIndex.from_documents(docs)  # its defaults: SentenceSplitter 1024 tokens, in-memory store
    seconds = time.perf_counter() - started
    nodes = list(index.docstore.docs.values())
    out = {"index_seconds": round(seconds, 1), "chunks": len(nodes)}
    vector = index.as_retriever(similarity_top_k=10)
    bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=10)
    for label, retriever in (("llamaindex-vector", vector), ("llamaindex-bm25", bm25)):
        rankings = [[n.node.ref_doc_id for n in retriever.retrieve(q)] for q, _ in queries]
        out[label] = mean_scores(rankings, queries)
        print(f"  {label:17s} recall@5 {out[label]['recall@5']:.3f}  MRR@10 {out[label]['mrr@10']:.3f}", flush=True)
    return out


def latency(kb, queries: list[str], modes=("dense", "keyword", "hybrid")) -> dict:
    from mentor.rag.retrieval import search

    out = {}
    for mode in modes:
        search(kb, queries[0], mode, 5)  # warm up
        times = []
        for q in queries:
            t = time.perf_counter()
            search(kb, q, mode, 5)
            times.append(1000 * (time.perf_counter() - t))
        times.sort()
        out[mode] = {"p50_ms": round(times[len(times) // 2], 1), "p95_ms": round(times[int(len(times) * 0.95) - 1], 1)}
    return out


def declines(kb) -> dict:
    """How often `mentor ask` would say "I don't know" on clapnq's answerable vs unanswerable questions."""
    from mentor.rag.answer import is_relevant
    from mentor.rag.retrieval import search

    queries = [json.loads(l) for l in (DATA / "clapnq" / "mini_queries.jsonl").open(encoding="utf-8")]
    rate = {}
    for answerable in (True, False):
        qs = [q["text"] for q in queries if q["answerable"] == answerable]
        declined = sum(not is_relevant(q, search(kb, q, "hybrid", 3)) for q in qs)
        rate["answerable" if answerable else "unanswerable"] = {"questions": len(qs), "declined": declined / len(qs)}
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=300, help="queries per set (sampled, seed 0; 0: all)")
    ap.add_argument("--fusion-queries", type=int, default=30, help="queries per set for fusion (an LLM call each)")
    ap.add_argument("--latency-chunks", type=int, default=10000)
    ap.add_argument("--sets", default="cmrc2018,medquad,clapnq")
    ap.add_argument("--embedder", help="embedding model for both tools (default: Mentor's default)")
    ap.add_argument("--medquad-untitled", action="store_true",
                    help="medquad's answers without their page titles (the corpus as first benchmarked)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from mentor.generation import load_for_inference
    from mentor.models import DEFAULT_EMBEDDER, resolve
    from mentor.rag.answer import rephrasings
    from mentor.workspace import Workspace

    folder = Path(tempfile.mkdtemp(prefix="mentor-rag-bench-"))
    ws = Workspace(folder / "home")
    embedder = args.embedder or DEFAULT_EMBEDDER
    lm = load_for_inference(workspace=ws) if args.fusion_queries else None
    results: dict = {"sets": {}}
    kbs = {}
    for name in args.sets.split(","):
        passages, queries = load_set(name, args.medquad_untitled)
        if args.queries:
            queries = random.Random(0).sample(queries, min(args.queries, len(queries)))
        print(f"{name}: {len(passages)} passages, {len(queries)} queries", flush=True)
        kb, by_line, stats = mentor_kb(name, passages, ws, folder, embedder)
        kbs[name] = kb
        entry = {"indexing": stats, "mentor": run_mentor(kb, by_line, queries, ["dense", "keyword", "hybrid"])}
        if args.fusion_queries:
            sub = queries[:args.fusion_queries]
            entry["mentor_subset"] = run_mentor(kb, by_line, sub, ["hybrid", "fusion"], lambda q: rephrasings(lm, q))
        entry["llamaindex"] = run_llamaindex(passages, queries, resolve(embedder, ws, kind="embedder").location,
                                             kb.embedder.model.prompts or {})
        results["sets"][name] = entry
    if "clapnq" in kbs:
        results["declines"] = declines(kbs["clapnq"])
        print("clapnq declines:", results["declines"], flush=True)
    if args.latency_chunks:  # latency on one knowledge base of about --latency-chunks chunks (all sets, topped up)
        big = _latency_kb(ws, folder, args.latency_chunks, embedder)
        qs = [q for name in args.sets.split(",") for q, _ in load_set(name)[1][:100]]
        results["latency"] = {"chunks": big.count(), **latency(big, qs)}
        print("latency:", results["latency"], flush=True)
    results["embedder"] = embedder
    results["medquad_titles"] = not args.medquad_untitled
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "rag.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "rag.md").write_text(markdown(results))
    print(markdown(results))


def _latency_kb(ws, folder: Path, target: int, embedder: str):
    from mentor.rag.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.create("latency", workspace=ws, embedder=embedder)
    kb.add([folder / f"{name}.jsonl" for name in ("cmrc2018", "medquad", "clapnq") if (folder / f"{name}.jsonl").exists()])
    filler = DATA / "huatuo-med-zh" / "llama_data.json"  # JSON lines despite the name
    extra = [json.loads(line) for line in filler.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if kb.count() < target else []
    part = 0
    while kb.count() < target and extra:
        chunk = extra[part * 2000:(part + 1) * 2000]
        if not chunk:
            break
        path = folder / f"filler-{part}.jsonl"
        path.write_text("".join(json.dumps({"text": r.get("output") or r.get("text") or json.dumps(r, ensure_ascii=False)},
                                           ensure_ascii=False) + "\n" for r in chunk), encoding="utf-8")
        kb.add([path])
        part += 1
    return kb


def markdown(results: dict) -> str:
    lines = [f"Embedder {results['embedder']}; medquad answers {'under their page titles' if results['medquad_titles'] else 'without titles'}.",
             "", "| set | retriever | recall@5 | MRR@10 |", "| --- | --- | --- | --- |"]
    for name, entry in results["sets"].items():
        for mode, v in entry["mentor"].items():
            lines.append(f"| {name} | mentor {mode} | {v['recall@5']:.3f} | {v['mrr@10']:.3f} |")
        for label in ("llamaindex-vector", "llamaindex-bm25"):
            if label in entry.get("llamaindex", {}):
                v = entry["llamaindex"][label]
                lines.append(f"| {name} | {label} | {v['recall@5']:.3f} | {v['mrr@10']:.3f} |")
        for mode, v in entry.get("mentor_subset", {}).items():
            lines.append(f"| {name} ({v['queries']} q) | mentor {mode} | {v['recall@5']:.3f} | {v['mrr@10']:.3f} |")
    lines += ["", "| set | mentor chunks | chunks/s | LlamaIndex nodes | LlamaIndex index s |", "| --- | --- | --- | --- | --- |"]
    for name, entry in results["sets"].items():
        li = entry.get("llamaindex", {})
        lines.append(f"| {name} | {entry['indexing']['chunks']} | {entry['indexing']['chunks_per_s']} | "
                     f"{li.get('chunks', '-')} | {li.get('index_seconds', '-')} |")
    lat = results.get("latency")
    if lat:
        lines += ["", f"Query latency, retrieval only, {lat['chunks']} chunks: " + ", ".join(
            f"{m} p50 {v['p50_ms']} ms / p95 {v['p95_ms']} ms" for m, v in lat.items() if isinstance(v, dict))]
    if "declines" in results:
        d = results["declines"]
        lines += ["", f"clapnq `ask` declines: answerable {100 * d['answerable']['declined']:.0f}% of "
                      f"{d['answerable']['questions']}, unanswerable {100 * d['unanswerable']['declined']:.0f}% of "
                      f"{d['unanswerable']['questions']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
