"""What the store's safety checks cost, side by side with what they guard, on the embedded engine.

    python benchmarks/store_checks.py [--points 50000] [--dim 384]

Builds a store of random vectors with payloads shaped like `recallrank index` chunks, then measures (median of
three): the engine's own load; recallrank's open (load + the point and vector counts checked against
recallrank.json); the scan `recallrank index` makes to find chunks of deleted or emptied files (--prune);
`recallrank doctor` without repair (reads every vector and payload); and validating one batch of 256 documents'
metadata before writing it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import publish, table

from recallrank.documents import check_metadata
from recallrank.index.base import StoredPoint
from recallrank.index.embedded.doctor import check_edge
from recallrank.index.embedded.store import EdgeStore
from recallrank.loaders import Sources, stale_ids


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Median milliseconds of ``fn`` over ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    import qdrant_edge as qe

    root = tempfile.mkdtemp(prefix="recallrank-store-checks-")
    rng = np.random.default_rng(0)
    store = EdgeStore(root, "c")
    store.ensure_collection(args.dim, "cosine")
    metadata = [{"source": f"/data/file{i % 500}.txt", "chunk": i, "lang": "en", "tags": ["a", "b"]}
                for i in range(args.points)]
    for lo in range(0, args.points, 2000):
        store.upsert([StoredPoint(str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))), rng.normal(size=args.dim),
                                  {"text": f"chunk {i} " * 40, "metadata": metadata[i], "doc_id": f"d{i}",
                                   "content_hash": "h"}) for i in range(lo, min(lo + 2000, args.points))])
    store.close()

    def load() -> None:
        qe.EdgeShard.load(f"{root}/c").close()

    def open_checked() -> None:
        s = EdgeStore(root, "c")
        s.open()
        s.close()

    rows: list[list[Any]] = [
        ["engine load (qdrant_edge.EdgeShard.load)", timed(load)],
        ["recallrank open: load + point/vector counts checked", timed(open_checked)],
    ]
    opened = EdgeStore(root, "c")
    opened.open()
    nothing_read = Sources([], [], set(), [])
    rows += [
        ["prune scan: source of every stored chunk", timed(lambda: stale_ids(opened, nothing_read, set()))],
        ["validate metadata of 256 documents", timed(lambda: [check_metadata(m, "d") for m in metadata[:256]])],
    ]
    opened.close()
    rows.append(["recallrank doctor (reads every vector and payload)",
                 timed(lambda: check_edge(EdgeStore(root, "c")), repeat=1)])
    body = (f"{args.points:,} points of {args.dim}-d vectors, payloads like `recallrank index` chunks\n\n"
            + table(["operation", "ms"], rows))
    publish("store_checks", "Store safety checks: what they cost", body)


if __name__ == "__main__":
    main()
