"""Ingest and query speed of recallrank on the embedded store, and the design document's cost table.

    python benchmarks/speed.py           # quick: ingest 2,000 documents; queries on a 10k index (built once, cached)
    python benchmarks/speed.py --full    # ingest and query at 10k and 50k documents

Ingest: documents/s for embedding + upsert + HNSW build into a fresh Qdrant Edge index, and the peak memory of
the process doing it. Query: p50/p95 of each stage (query embedding, Qdrant recall, rerank) and end to end with
top_k=100, top_n=10. Cost table: a bi-encoder query over the whole corpus vs the cross-encoder scoring every
document for one query (measured on all documents with --full at 10k, else extrapolated from 500 measured pairs).
Documents: English Debian descriptions (the debian-en test split plus unjudged descriptions as distractors).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from typing import Any

from _common import CACHE, debian_corpus, isolated, p50, percentile, publish, table


def run_ingest(texts: dict[str, str], precision: str, path: str) -> dict[str, Any]:
    from recallrank import BiEncoder, Document, EdgeStore, TwoStageRetriever

    encoder = BiEncoder(precision=precision)
    encoder.warm_up()
    retriever = TwoStageRetriever(EdgeStore(path, "bench"), encoder, False)
    docs = [Document(text, id=doc_id) for doc_id, text in texts.items()]
    t = time.perf_counter()
    report = retriever.add_documents(docs)
    seconds = time.perf_counter() - t
    retriever.store.close()
    return {"seconds": seconds, "added": report.added}


def run_queries(path: str, queries: list[str], precision: str, cross_pairs: list[tuple[str, str]],
                cross_all: bool) -> dict[str, Any]:
    from recallrank import BiEncoder, CrossEncoderReranker, EdgeStore, TwoStageRetriever

    reranker = CrossEncoderReranker(precision=precision)
    retriever = TwoStageRetriever(EdgeStore(path, "bench"), BiEncoder(precision=precision), reranker, top_k=100,
                                  top_n=10)
    retriever.search(queries[0])  # warm-up: models loaded, first HNSW pages read
    stages: dict[str, list[float]] = {"embed": [], "recall": [], "rerank": [], "total": []}
    for q in queries:
        response = retriever.search(q)
        for stage in stages:
            stages[stage].append(response.timings[stage])
    t = time.perf_counter()
    reranker.logits(cross_pairs)
    cross_seconds = time.perf_counter() - t
    retriever.store.close()
    return {"stages": stages, "cross_seconds": cross_seconds, "cross_pairs": len(cross_pairs),
            "cross_measured_all": cross_all}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--queries", type=int, default=None)
    args = parser.parse_args()
    sizes = [10_000, 50_000] if args.full else [10_000]
    n_queries = args.queries or (100 if args.full else 30)
    ingest_rows, query_rows, cost_rows = [], [], []
    for size in sizes:
        corpus, queries, _ = debian_corpus(size)
        qlist = list(queries.values())[:n_queries]
        index = CACHE / f"speed-{size}-{args.precision}"
        ingest_docs = corpus if args.full else dict(list(corpus.items())[:2000])
        with tempfile.TemporaryDirectory() as tmp:
            target = str(index) if args.full else tmp
            if args.full:
                shutil.rmtree(index, ignore_errors=True)
            r = isolated(run_ingest, ingest_docs, args.precision, target)
        ingest_rows.append([f"{len(ingest_docs):,}", args.precision, f"{len(ingest_docs) / r['seconds']:.1f}",
                            f"{r['seconds']:.0f}", f"{r['peak_rss_mb']:.0f}"])
        print(ingest_rows[-1], flush=True)
        if not (index / "bench" / "recallrank.json").exists():  # quick mode: the 10k index is built once, kept
            print(f"building the cached {size:,}-document index at {index} (once)", flush=True)
            isolated(run_ingest, corpus, args.precision, str(index))
        texts = list(corpus.values())
        cross_all = args.full and size == 10_000
        pairs = [(qlist[0], t) for t in (texts if cross_all else texts[:500])]
        q = isolated(run_queries, str(index), qlist, args.precision, pairs, cross_all)
        st = q["stages"]
        query_rows.append([f"{size:,}", *(f"{p50(st[s]) * 1000:.1f} / {percentile(st[s], 95) * 1000:.1f}"
                                          for s in ("embed", "recall", "rerank", "total"))])
        per_pair = q["cross_seconds"] / q["cross_pairs"]
        bi_ms = (p50(st["embed"]) + p50(st["recall"])) * 1000
        cross_s = per_pair * size
        how = "measured on all" if q["cross_measured_all"] else f"extrapolated from {len(pairs)} pairs"
        cost_rows.append([f"{size:,}", f"{bi_ms:.1f} ms", f"{cross_s:.0f} s ({how}, {1 / per_pair:.0f} pairs/s)",
                          f"{cross_s * 1000 / bi_ms:,.0f}x",
                          f"{p50(st['total']) * 1000:.0f} ms"])
        print(query_rows[-1], cost_rows[-1], flush=True)

    body = "\n\n".join([
        f"Precision {args.precision}; English Debian descriptions; embedded Qdrant Edge (HNSW m=16, ef_construct=128, "
        "hnsw_ef=256).",
        "## Ingest (embed + upsert + HNSW build, fresh index)\n\n" + table(
            ["documents", "precision", "docs/s", "seconds", "peak RSS MB"], ingest_rows),
        f"## Query latency, top_k=100, top_n=10, {n_queries} queries: p50 / p95 ms\n\n" + table(
            ["documents", "query embedding", "Qdrant recall", "rerank (100 pairs)", "end to end"], query_rows),
        "## The design's cost table, our hardware\n\nThe design claims ~10 ms for a bi-encoder query over 10k "
        "documents and ~100 s for a cross-encoder over all of them.\n\n" + table(
            ["documents", "bi-encoder query (embed + recall)", "cross-encoder over every document", "ratio",
             "two-stage (top_k=100) end to end"], cost_rows),
    ])
    publish("speed" + ("_full" if args.full else ""), "Ingest and query speed", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
