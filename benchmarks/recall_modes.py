"""Recall modes and recall models side by side, English and Chinese, through the public API.

    python benchmarks/recall_modes.py [--sets faq-en/test gnome-help-zh/test ...] [--docs 2000] [--queries 200]

For each held-out set: the pipeline a user gets with no options (``TwoStageRetriever(EdgeStore(...))``: the recall
model chosen from the documents' scripts, its default stages, the default recall mode), then recall alone as dense
(the chosen model), sparse (Qdrant's BM25) and hybrid (both, RRF inside Qdrant), the default stages after hybrid
recall, and the other recall model (all-MiniLM-L6-v2 on Chinese sets, multilingual-e5-small on English ones),
dense and hybrid; on Chinese sets also the bilingual cross-encoder after multilingual recall (``reranker=True``).
Every pipeline runs through ``recallrank.evaluation.evaluate`` (what ``recallrank eval`` runs) over an embedded
store; ingest docs/s is the first ingest of the corpus (embedding + every field written), bytes per document
the store's size on disk over its documents, p50 the median ``search`` latency over ``--latency`` queries.
Sets larger than ``--docs`` documents keep their judged documents plus distractors up to ``--docs``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from _common import CACHE, publish, table

from recallrank import Document, EdgeStore, TwoStageRetriever, load_dataset
from recallrank.datasets.beir import RetrievalSet
from recallrank.evaluation.harness import evaluate
from recallrank.models.registry import bi_encoder

SETS = ("faq-en/test", "keywords-en/test", "debian-en/test", "gnome-help-zh/test", "headings-zh/dev",
        "keywords-zh/test", "debian-zh/test")
ROOT = CACHE / "recall_modes"
REUSE = False
CROSS = 0


def trimmed(ds: RetrievalSet, n_docs: int, n_queries: int) -> RetrievalSet:
    """The first ``n_queries`` judged queries; the corpus cut to their documents plus distractors up to ``n_docs``."""
    queries = [q for q in ds.queries if q in ds.qrels][:n_queries]
    judged = [d for q in queries for d in ds.qrels[q] if d in ds.corpus]
    keep = list(dict.fromkeys(judged))
    keep += [d for d in ds.corpus if d not in set(keep)][:max(0, n_docs - len(keep))]
    return RetrievalSet(corpus={d: ds.corpus[d] for d in keep}, queries={q: ds.queries[q] for q in queries},
                        qrels={q: ds.qrels[q] for q in queries}, name=ds.name)


def size_of(path: Path) -> int:
    """Bytes the folder takes on disk (allocated blocks: the engine pre-reserves page files it has not written)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def built(ds: RetrievalSet, where: Path, encoder: Any = None) -> tuple[TwoStageRetriever, dict[str, float]]:
    """A fresh store holding ``ds.corpus``, written by a default retriever (``encoder=None``: chosen by script);
    with ``--reuse``, the one an earlier run built (and the ingest figures it measured)."""
    costs = where.with_suffix(".json")
    if REUSE and costs.exists():
        return TwoStageRetriever(EdgeStore(where, "c"), encoder), json.loads(costs.read_text())
    shutil.rmtree(where, ignore_errors=True)
    r = TwoStageRetriever(EdgeStore(where, "c"), encoder)
    docs = [Document(t, id=d) for d, t in ds.corpus.items()]
    start = time.perf_counter()
    r.add_documents(docs[:8])  # the model loads (and its export is compiled) outside the timed ingest
    t = time.perf_counter()
    r.add_documents(docs)
    seconds = time.perf_counter() - t
    n = len(docs) - 8
    out = {"docs_per_s": n / seconds if seconds else float("nan"), "first_load_s": t - start,
           "bytes_per_doc": size_of(where) / max(len(docs), 1)}
    costs.write_text(json.dumps(out))
    return r, out


def vector_bytes(ds: RetrievalSet, r: TwoStageRetriever) -> dict[str, float]:
    """Bytes per document of what the collection stores per point, by field: the dense vector (fp32), the BM25
    vector (4-byte index + 4-byte weight per term) and, where a stage keeps them, the token vectors (fp16, as the
    MaxSim stage writes them: the bi-encoder's tokens without [CLS]/[SEP], at most 256)."""
    from recallrank.index.sparse import bm25_record, embed_documents

    texts = list(ds.corpus.values())
    out = {"dense": 4.0 * r.encoder.dimension,
           "bm25": 8.0 * statistics.fmean(len(v.indices) for v in embed_documents(bm25_record(), texts))}
    for stage in r.stages:
        if getattr(stage.reranker, "field", None):
            tok = stage.reranker.encoder.model.tokenizer
            lengths = [max(0, min(len(ids), 256) - 2) for ids in tok(texts)["input_ids"]]
            out[stage.reranker.field] = 2.0 * stage.reranker.encoder.dimension * statistics.fmean(lengths)
    return out


def measured(ds: RetrievalSet, r: TwoStageRetriever, latency: int) -> dict[str, float]:
    ev = evaluate(ds, r)
    qs = list(ds.queries.values())[:latency]
    times = []
    for q in qs:
        t = time.perf_counter()
        r.search(q)
        times.append((time.perf_counter() - t) * 1000)
    m = ev.final.metrics
    return {"ndcg@10": m["ndcg@10"], "mrr@10": m["mrr@10"], "p50_ms": statistics.median(times)}


def run_set(spec: str, n_docs: int, n_queries: int, latency: int, other: bool) -> list[list[Any]]:
    name, split = spec.split("/")
    ds = trimmed(load_dataset(name, split), n_docs, n_queries)
    chinese = name.endswith("-zh")
    rows: list[list[Any]] = []
    default, cost = built(ds, ROOT / name / "default")
    model = default.store.recorded_models()["bi_encoder"]["name"]

    def row(label: str, r: TwoStageRetriever, costs: dict[str, float]) -> None:
        m = measured(ds, r, latency)
        stages = ",".join(st.name for st in r.stages) or "none"
        stored = vector_bytes(ds, r)
        fields = {"dense"} | ({"bm25"} if r.recall_mode != "dense" else set()) | (set(stored) - {"dense", "bm25"})
        rows.append([spec, label, r.recall_mode, stages, round(m["ndcg@10"], 4), round(m["mrr@10"], 4),
                     round(m["p50_ms"], 1), round(costs["docs_per_s"], 1),
                     round(sum(v for k, v in stored.items() if k in fields)), round(sum(stored.values()))])
        print(rows[-1], flush=True)

    row(f"default, no options ({model})", default, cost)
    for mode in ("dense", "sparse", "hybrid", "auto"):
        row(f"{model} recall alone", TwoStageRetriever(default.store, recall=mode, reranker=False), cost)
    if default.stages:
        for mode in ("hybrid", "auto"):
            row(f"{model} + default stages", TwoStageRetriever(default.store, recall=mode), cost)
    if not other:
        default.store.close()
        return rows
    other_name = "all-MiniLM-L6-v2" if chinese else "multilingual-e5-small"
    other, other_cost = built(ds, ROOT / name / "other", bi_encoder(other_name))
    for mode in ("dense", "hybrid"):
        row(f"{other_name} recall alone", TwoStageRetriever(other.store, recall=mode, reranker=False), other_cost)
    if not chinese:
        row(f"{other_name} + its default stages", other, other_cost)
    if chinese and model == "multilingual-e5-small" and CROSS:
        ds = ds.subset(CROSS)  # the bilingual cross-encoder scores every candidate: seconds per query
        row(f"{model} + bilingual cross-encoder ({len(ds.queries)} queries)",
            TwoStageRetriever(default.store, reranker=True), cost)
        row(f"{model} recall alone ({len(ds.queries)} queries)", TwoStageRetriever(default.store, reranker=False),
            cost)
    for r in (default, other):
        r.store.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="*", default=list(SETS))
    p.add_argument("--docs", type=int, default=2000, help="documents per set at most (judged ones kept)")
    p.add_argument("--queries", type=int, default=200, help="judged queries per set at most")
    p.add_argument("--latency", type=int, default=30, help="queries timed for p50")
    p.add_argument("--name", default="recall_modes")
    p.add_argument("--other", nargs="*", default=["faq-en/test", "keywords-en/test", "gnome-help-zh/test",
                                                   "keywords-zh/test"],
                   help="sets also measured with the other recall model")
    p.add_argument("--cross", type=int, default=0, help="on Chinese sets, also the bilingual cross-encoder after "
                   "multilingual recall, on this many queries (seconds each)")
    p.add_argument("--reuse", action="store_true", help="search the stores an earlier run built (its ingest "
                   "figures are reused; same --docs and --queries)")
    args = p.parse_args(argv)
    global REUSE, CROSS
    REUSE, CROSS = args.reuse, args.cross
    rows = [row for spec in args.sets for row in run_set(spec, args.docs, args.queries, args.latency,
                                                         spec in args.other)]
    header = ["set", "pipeline", "recall", "stages", "nDCG@10", "MRR@10", "p50 ms", "ingest docs/s",
              "bytes/doc it reads", "bytes/doc stored"]
    publish(args.name, "Recall modes and models, English and Chinese",
            f"Up to {args.docs} documents and {args.queries} judged queries per set; embedded store, HNSW. "
            "Ingest docs/s: the first ingest of the corpus (every field written: dense, BM25, and the token vectors "
            "of the default MaxSim stage after all-MiniLM-L6-v2). Bytes per document of vectors (payload and "
            "index excluded): what the pipeline reads (dense fp32, BM25 for sparse/hybrid/auto, token vectors "
            "fp16 for MaxSim) and what the collection stores.\n\n"
            + table(header, rows))


if __name__ == "__main__":
    main()
