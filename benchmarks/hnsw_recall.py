"""HNSW recall@100 against exact search on the embedded engine, with real embeddings of the Debian corpus.

    python benchmarks/hnsw_recall.py [--dataset debian-en] [--queries 500]

Builds one Qdrant Edge shard per (m, ef_construct), then for each search-time hnsw_ef prints recall@100 of the
HNSW result against exact search and the mean ms per query. recallrank's defaults (EdgeStore: m=16,
ef_construct=128, hnsw_ef=256) come from this table: the cheapest setting with recall@100 >= 0.99.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from recallrank import BiEncoder, load_dataset
from recallrank.index.base import StoredPoint
from recallrank.index.embedded.engine import DEFAULT_EF_CONSTRUCT, DEFAULT_HNSW_EF, DEFAULT_HNSW_M
from recallrank.index.embedded.store import EdgeStore


def _stored_vectors(index_dir: Path, name: str) -> np.ndarray | None:
    """Document vectors from an index that benchmarks/reranker_quality.py already built, if any."""
    import qdrant_edge as qe

    found = sorted(index_dir.glob(f"{name}-*"))
    if not found:
        return None
    shard = qe.EdgeShard.load(str(found[0]))
    vectors, offset = [], None
    while True:
        records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=1000, with_vector=True,
                                                        with_payload=False))
        vectors += [r.vector for r in records]
        if offset is None:
            break
    shard.close()
    return np.asarray(vectors, dtype=np.float32)


def embeddings(dataset: str, split: str, cache: Path, index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(document vectors, query vectors) of all-MiniLM-L6-v2, cached as .npz."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{dataset}-{split}-minilm.npz"
    if path.exists():
        data = np.load(path)
        return data["docs"], data["queries"]
    ds = load_dataset(dataset, split)
    enc = BiEncoder(batch_size=64)
    docs = _stored_vectors(index_dir, f"{dataset}-{split}")
    if docs is None or len(docs) != len(ds.corpus):
        docs = enc.encode_documents(list(ds.corpus.values()))
    queries = enc.encode_queries(list(ds.queries.values()))
    np.savez(path, docs=docs, queries=queries)
    return docs, queries


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="debian-en")
    p.add_argument("--split", default="test")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--cache", type=Path, default=Path(".recallrank/bench"))
    p.add_argument("--index-dir", type=Path, default=Path(".recallrank/eval-index"))
    args = p.parse_args()
    docs, queries = embeddings(args.dataset, args.split, args.cache, args.index_dir)
    queries = queries[: args.queries]
    print(f"{args.dataset}/{args.split}: {len(docs)} documents, {len(queries)} queries, {docs.shape[1]}-d cosine,"
          f" recall@{args.k} of HNSW vs exact search (Qdrant Edge)")
    print(f"{'m':>3} {'ef_construct':>12} {'hnsw_ef':>8} {'recall@' + str(args.k):>10} {'ms/query':>9} {'exact ms':>9}")
    for m, efc in [(8, 64), (16, 100), (DEFAULT_HNSW_M, DEFAULT_EF_CONSTRUCT), (32, 256)]:
        with tempfile.TemporaryDirectory() as tmp:
            store = EdgeStore(tmp, "bench", m=m, ef_construct=efc, full_scan_threshold_kb=10)
            store.ensure_collection(docs.shape[1], "cosine")
            store.upsert([StoredPoint(f"00000000-0000-0000-0000-{i:012d}", v, {"text": ""})
                          for i, v in enumerate(docs)])
            store.finish_ingest()
            if store._shard.info().indexed_vectors_count != len(docs):
                raise SystemExit("the HNSW index was not built; nothing to measure")
            t = time.perf_counter()
            exact = [{h.id for h in store.search(q, args.k, exact=True)} for q in queries]
            exact_ms = 1000 * (time.perf_counter() - t) / len(queries)
            for ef in (32, 64, 128, DEFAULT_HNSW_EF, 512):
                store.hnsw_ef = ef
                t = time.perf_counter()
                approx = [{h.id for h in store.search(q, args.k)} for q in queries]
                ms = 1000 * (time.perf_counter() - t) / len(queries)
                recall = float(np.mean([len(a & e) / len(e) for a, e in zip(approx, exact, strict=True)]))
                mark = "  <- default" if (m, efc, ef) == (DEFAULT_HNSW_M, DEFAULT_EF_CONSTRUCT, DEFAULT_HNSW_EF) else ""
                print(f"{m:3d} {efc:12d} {ef:8d} {recall:10.4f} {ms:9.2f} {exact_ms:9.2f}{mark}", flush=True)
            store.close()


if __name__ == "__main__":
    main()
