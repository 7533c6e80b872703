"""Filtered vs unfiltered search on the embedded engine, with and without payload indexes.

    python benchmarks/filtered_search.py [--points 50000] [--dim 384] [--queries 200]

Builds two identical stores of random unit vectors (synthetic: this measures the store, not a model) with
payloads shaped like `recallrank index` chunks (``lang`` of 5 values, ``source`` of 500, ``year`` 2000-2024,
``day`` ISO datetimes). Every query asks for top 100. Both stores get payload indexes as the points are written
(the default: keyword, float, datetime by the values); in one they are removed again, so the engine filters by
reading payloads (a search never makes an index). Reported per filter:
p50 / p95 ms, matching points, and how many queries got fewer than min(100, matching) results (a filter executed
after the search would return fewer; HNSW under a filter can too).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from _common import publish, table

from recallrank.filters import Filter, MatchAny, Range
from recallrank.index.base import StoredPoint
from recallrank.index.embedded.store import EdgeStore

FILTERS: list[tuple[str, Any]] = [
    ("none", None),
    ("lang == 'de' (1/5)", {"lang": "de"}),
    ("source == 's7' (1/500)", {"source": "s7"}),
    ("year >= 2020 (1/5)", {"year": {"gte": 2020}}),
    ("lang in (en, zh) and year < 2005", Filter(must=(MatchAny("lang", ("en", "zh")), Range("year", lt=2005)))),
    ("day > 2024-06-01 (datetime)", {"day": {"gt": "2024-06-01T00:00:00"}}),
]


def build(root: Path, name: str, vectors: np.ndarray, rng: np.random.Generator) -> EdgeStore:
    store = EdgeStore(root, name)
    store.ensure_collection(vectors.shape[1], "cosine")
    langs = ["en", "de", "fr", "zh", "ja"]
    batch = []
    for i, v in enumerate(vectors):
        day = 1 + int(rng.integers(0, 365))
        payload = {"text": f"chunk {i}", "doc_id": None, "content_hash": "",
                   "metadata": {"lang": langs[i % 5], "source": f"s{i % 500}", "year": 2000 + i % 25,
                                "day": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1704067200 + day * 86400))}}
        batch.append(StoredPoint(str(uuid.UUID(int=i + 1)), v.tolist(), payload))
        if len(batch) == 2000:
            store.upsert(batch)
            batch = []
    store.upsert(batch)
    store.finish_ingest()
    return store


def drop_indexes(store: EdgeStore) -> None:
    """Remove every payload index (the 'no index' column); searches never make them again."""
    import qdrant_edge as qe

    shard = store.shard()
    for path in store.payload_indexes():
        shard.update(qe.UpdateOperation.delete_field_index(path))
    store._indexed = None  # read again from the engine


def measure(store: EdgeStore, queries: np.ndarray, flt: Any) -> tuple[float, float, int]:
    store.search(queries[0], 100, flt)  # warm up
    times, returned = [], []
    for q in queries:
        start = time.perf_counter()
        hits = store.search(q, 100, flt)
        times.append((time.perf_counter() - start) * 1000)
        returned.append(len(hits))
    times.sort()
    expected = min(100, store.count(flt))
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], sum(n < expected for n in returned)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=50_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((a.points, a.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.standard_normal((a.queries, a.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        indexed = build(Path(tmp), "indexed", vectors, np.random.default_rng(1))
        plain = build(Path(tmp), "plain", vectors, np.random.default_rng(1))
        built = time.perf_counter() - t
        drop_indexes(plain)
        rows = []
        base = None
        for label, flt in FILTERS:
            p50, p95, got = measure(indexed, queries, flt)
            q50, q95, _ = measure(plain, queries, flt)
            base = p50 if base is None else base
            rows.append([label, indexed.count(flt), got, round(p50, 2), round(p95, 2),
                         f"{p50 / base:.2f}x", round(q50, 2), round(q95, 2)])
        schema = indexed.payload_indexes()
        indexed.close()
        plain.close()
    body = (f"{a.points:,} points, {a.dim}-d random unit vectors (synthetic), top 100, {a.queries} queries, HNSW "
            f"(hnsw_ef {EdgeStore.__init__.__kwdefaults__['hnsw_ef']}); both stores built in {built:.0f} s.\n"
            f"Payload indexes made as the points were written: {schema}.\n\n"
            + table(["filter", "matching", "queries short of top 100", "p50 ms (indexed)", "p95 ms",
                     "vs unfiltered p50", "p50 ms (no index)", "p95 ms (no index)"], rows))
    publish("filtered_search", "Filtered vs unfiltered search (embedded Qdrant Edge)", body)


if __name__ == "__main__":
    main()
