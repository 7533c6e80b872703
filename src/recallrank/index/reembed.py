"""Re-embed a collection with another bi-encoder (``recallrank index --reembed``), since a fine-tuned bi-encoder
changes every vector: each point keeps its id and payload, and its dense vector is recomputed from the stored text.

* Embedded store, in place: the new collection is built beside the old one (token vectors of late-interaction
  stages copied as they are), then swapped in; the old folder is kept as a backup and its path reported. Until
  the swap the old collection is untouched, and a swap stopped between its renames is finished by the next open
  from its journal (:mod:`recallrank.index.swap`).
* Any store into another collection (``into``, the way for a server): the points are written to a new, empty
  collection; the source is only read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import StoredPoint, VectorStore, from_payload
from recallrank.index.edge import EdgeStore
from recallrank.index.rebuild import StoredParts, rebuild_and_swap

PAYLOAD = ("text", "metadata", "doc_id", "content_hash", "metadata_json")


@dataclass
class ReembedReport:
    points: int
    dimension: int
    seconds: float
    backup: str | None = None  # where the embedded store's old collection was kept


def _vectors(encoder: Any, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(encoder.encode_documents(texts), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise StoreError(f"the bi-encoder returned {vectors.shape} for {len(texts)} texts")
    return vectors


def reembed_in_place(store: EdgeStore, encoder: Any, progress: Callable[[int], Any] | None = None) -> ReembedReport:
    """Rebuild the embedded collection with ``encoder``'s vectors and swap it in; the old one is kept aside.

    Stopped before the swap (an error, Ctrl-C, SIGKILL), the collection is untouched and the partial rebuild is
    removed (SIGKILL leaves it: ``recallrank doctor`` lists it); stopped during the swap, the next open finishes
    exactly this swap from its journal."""
    t = time.perf_counter()
    meta = store.metadata()

    def dense(batch: list[StoredParts]) -> list[Any]:
        readable = [p for p in batch if not p.lost and p.text_readable]
        vectors = iter(_vectors(encoder, [from_payload(p.payload).text for p in readable]) if readable else [])
        return [next(vectors) if not p.lost and p.text_readable else None for p in batch]

    def refuse(damaged: list[StoredParts]) -> None:
        if damaged:
            raise StoreError(f"{len(damaged)} points of {store.location} have parts that cannot be read; run "
                             "`recallrank doctor --repair` first, then re-embed")

    backup, total = rebuild_and_swap(store, store.shard(), encoder.dimension, encoder.similarity, meta, dense,
                                     "before-reembed", progress, refuse)
    return ReembedReport(total, encoder.dimension, time.perf_counter() - t, backup)


def reembed_into(source: VectorStore, target: VectorStore, encoder: Any, batch: int = 256,
                 progress: Callable[[int], Any] | None = None) -> ReembedReport:
    """Copy every point of ``source`` into the new collection ``target`` with ``encoder``'s vectors."""
    if target.exists() and target.count() > 0:
        raise InvalidInputError(f"the target collection already holds {target.count()} points; re-embed into a new "
                                "collection name (nothing is overwritten)")
    t = time.perf_counter()
    target.ensure_collection(encoder.dimension, encoder.similarity)
    pending: list[tuple[str, dict[str, Any]]] = []
    total = 0

    def flush() -> None:
        nonlocal total
        vectors = _vectors(encoder, [from_payload(p).text for _, p in pending])
        target.upsert([StoredPoint(pid, v, p) for (pid, p), v in zip(pending, vectors, strict=True)])
        total += len(pending)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for pid, payload in source.scroll(PAYLOAD):
        pending.append((pid, {k: v for k, v in payload.items() if v is not None or k == "doc_id"}))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    target.finish_ingest()
    return ReembedReport(total, encoder.dimension, time.perf_counter() - t)
