"""Zero-shot late interaction against the bi-encoder alone, on the same held-out queries, in one run.

    python benchmarks/late_interaction.py [--dataset debian-en] [--queries 200] [--top-k 50]

The bi-encoder (all-MiniLM-L6-v2) recalls top_k by exact cosine; the MaxSim stage reranks them with the same
model's L2-normalised token vectors (no training). Also: MaxSim over the whole corpus (no recall stage), bytes per
document of the token vectors (fp32, fp16, int8), and per-query milliseconds of the MaxSim stage with document
token vectors precomputed (numpy), stored as a MaxSim multivector field in Qdrant Edge (scored in the engine, and
dense recall + MaxSim rescore in one query), and computed on the fly (MaxSimReranker).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid

import numpy as np
from _common import publish, table

from recallrank import BiEncoder, EdgeStore, load_dataset
from recallrank.evaluation.metrics import evaluate_run
from recallrank.index.base import StoredPoint
from recallrank.models.late_interaction import LateInteractionEncoder, maxsim
from recallrank.rerank.maxsim import MaxSimReranker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="debian-en")
    parser.add_argument("--split", default="test")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--latency-queries", type=int, default=20)
    args = parser.parse_args()

    ds = load_dataset(args.dataset, args.split)
    qids = [q for q in ds.queries if ds.qrels.get(q)][:args.queries]
    doc_ids = list(ds.corpus)
    texts = [ds.corpus[d] for d in doc_ids]
    bi = BiEncoder()
    li = LateInteractionEncoder()

    start = time.perf_counter()
    doc_vectors = np.asarray(bi.encode_documents(texts), dtype=np.float32)
    bi_ingest = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    doc_tokens = [t.astype(np.float16) for t in li.encode_documents(texts)]
    dim_tokens = doc_tokens[0].shape[1]
    li_ingest = len(texts) / (time.perf_counter() - start)
    query_vectors = np.asarray(bi.encode_queries([ds.queries[q] for q in qids]), dtype=np.float32)
    query_tokens = li.encode_queries([ds.queries[q] for q in qids])

    runs: dict[str, dict[str, dict[str, float]]] = {"bi": {}, "maxsim_rerank": {}, "maxsim_full_corpus": {}}
    stored_ms = []
    for qi, qid in enumerate(qids):
        cos = doc_vectors @ query_vectors[qi]
        top = np.argsort(-cos)[:args.top_k]
        runs["bi"][qid] = {doc_ids[i]: float(cos[i]) for i in top}
        q = query_tokens[qi]
        start = time.perf_counter()
        scores = {doc_ids[i]: maxsim(q, doc_tokens[i].astype(np.float32)) for i in top}
        stored_ms.append((time.perf_counter() - start) * 1000)
        runs["maxsim_rerank"][qid] = scores
        everything = [maxsim(q, d.astype(np.float32)) for d in doc_tokens]
        runs["maxsim_full_corpus"][qid] = {doc_ids[i]: everything[i] for i in np.argsort(everything)[::-1][:100]}

    engine_ms, rescored_ms, engine_runs = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(tmp, "li")
        store.ensure_collection(doc_vectors.shape[1], "cosine")
        pids = [str(uuid.uuid5(uuid.NAMESPACE_URL, d)) for d in doc_ids]
        for lo in range(0, len(pids), 500):
            store.upsert([StoredPoint(pids[i], doc_vectors[i], {"text": texts[i], "doc_id": doc_ids[i]})
                          for i in range(lo, min(lo + 500, len(pids)))])
        store.ensure_multivector("colbert", dim_tokens)
        for lo in range(0, len(pids), 200):
            store.write_multivectors("colbert", {pids[i]: doc_tokens[i] for i in range(lo, min(lo + 200,
                                                                                                   len(pids)))})
        store.finish_ingest()
        by_pid = dict(zip(pids, doc_ids, strict=True))
        for qi, qid in enumerate(qids):
            cands = [str(uuid.uuid5(uuid.NAMESPACE_URL, d)) for d in runs["bi"][qid]]
            start = time.perf_counter()
            scores = store.maxsim_scores("colbert", query_tokens[qi], cands)
            engine_ms.append((time.perf_counter() - start) * 1000)
            engine_runs[qid] = {by_pid[p]: s for p, s in scores.items()}
            start = time.perf_counter()
            store.search_rescored("colbert", query_vectors[qi], query_tokens[qi], args.top_k, 10)
            rescored_ms.append((time.perf_counter() - start) * 1000)
        store.close()
    runs["maxsim_rerank_in_qdrant"] = engine_runs

    reranker = MaxSimReranker(li)
    fly_ms = []
    for qid in qids[:args.latency_queries]:
        cands = [ds.corpus[d] for d in runs["bi"][qid]]
        start = time.perf_counter()
        reranker.rerank(ds.queries[qid], cands)
        fly_ms.append((time.perf_counter() - start) * 1000)

    qrels = {q: ds.qrels[q] for q in qids}
    metrics = {name: evaluate_run({q: sorted(r, key=r.get, reverse=True) for q, r in run.items()}, qrels,
                                  ks=(10, args.top_k)) for name, run in runs.items()}
    tokens = statistics.mean(len(t) for t in doc_tokens)
    dim = doc_tokens[0].shape[1]
    rows = [[name, m["ndcg@10"], m["mrr@10"], m[f"recall@{args.top_k}"]] for name, m in metrics.items()]
    body = "\n\n".join([
        f"{ds.name} {args.split}: {len(qids)} queries over {len(texts):,} documents; recall top_k={args.top_k} "
        "by exact cosine; MaxSim with all-MiniLM-L6-v2's own normalised token vectors (zero-shot, no training).",
        table(["stage", "nDCG@10", "MRR@10", f"R@{args.top_k}"], rows),
        f"Gain of the zero-shot MaxSim rerank over the bi-encoder: nDCG@10 "
        f"{metrics['maxsim_rerank']['ndcg@10'] - metrics['bi']['ndcg@10']:+.4f}.",
        table(["cost", "value"], [
            ["mean tokens per document", tokens],
            ["bytes per document, 384-d fp32 token vectors", tokens * dim * 4],
            ["bytes per document, fp16", tokens * dim * 2],
            ["bytes per document, int8", tokens * dim],
            ["bytes per document, bi-encoder vector (fp32)", dim * 4],
            ["ingest docs/s, bi-encoder (fp32)", bi_ingest],
            ["ingest docs/s, token vectors (fp32)", li_ingest],
            [f"MaxSim over {args.top_k} stored candidates, p50 ms per query (numpy)", statistics.median(stored_ms)],
            [f"MaxSim over {args.top_k} candidates inside Qdrant Edge (fp32 multivectors), p50 ms",
             statistics.median(engine_ms)],
            [f"dense top {args.top_k} + MaxSim rescore in one Qdrant Edge query, p50 ms",
             statistics.median(rescored_ms)],
            [f"MaxSimReranker, {args.top_k} candidates encoded on the fly, p50 ms per query",
             statistics.median(fly_ms)],
        ]),
    ])
    publish(f"late_interaction_{ds.name}", "Zero-shot late interaction (MaxSim) vs the bi-encoder", body)


if __name__ == "__main__":
    main()
