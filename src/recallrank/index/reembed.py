"""Re-embed a collection with another bi-encoder (``recallrank index --reembed``), since a fine-tuned bi-encoder
changes every vector: each point keeps its id and payload, and its dense vector is recomputed from the stored text.

* Any store into another collection (:func:`reembed_into`, the way for a server): the points are written to a new,
  empty collection; the source is only read.
* The embedded store in place: :func:`recallrank.index.embedded.reembed.reembed_in_place`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import PARENT, StoredPoint, VectorStore, from_payload

PAYLOAD = ("text", "metadata", "doc_id", "content_hash", "metadata_json", PARENT)


@dataclass
class ReembedReport:
    points: int
    dimension: int
    seconds: float
    backup: str | None = None  # where the embedded store's old collection was kept


def encode(encoder: Any, texts: list[str]) -> np.ndarray:
    """``encoder``'s document vectors of ``texts``, checked to be one row per text."""
    vectors = np.asarray(encoder.encode_documents(texts), dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise StoreError(f"the bi-encoder returned {vectors.shape} for {len(texts)} texts")
    return vectors


def reembed_into(source: VectorStore, target: VectorStore, encoder: Any, batch: int = 256,
                 progress: Callable[[int], Any] | None = None,
                 model: Mapping[str, Any] | None = None) -> ReembedReport:
    """Copy every point of ``source`` into the new collection ``target`` with ``encoder``'s vectors; ``model``
    (the encoder's description) is recorded as the bi-encoder that built ``target``."""
    if target.exists() and target.count() > 0:
        raise InvalidInputError(f"the target collection already holds {target.count()} points; re-embed into a new "
                                "collection name (nothing is overwritten)")
    t = time.perf_counter()
    target.ensure_collection(encoder.dimension, encoder.similarity, model=model)
    pending: list[tuple[str, dict[str, Any]]] = []
    total = 0

    def flush() -> None:
        nonlocal total
        vectors = encode(encoder, [from_payload(p).text for _, p in pending])
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
