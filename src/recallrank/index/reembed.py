"""Re-embed a collection with another bi-encoder (``recallrank index --reembed``), since a fine-tuned bi-encoder
changes every vector: each point keeps its id and payload, and its dense vector is recomputed from the stored text.

* Embedded store, in place: the new collection is built beside the old one (token vectors of late-interaction
  stages copied as they are), then swapped in; the old folder is kept as a backup and its path reported. Until
  the swap the old collection is untouched, and a crash between the two renames is finished by the next open.
* Any store into another collection (``into``, the way for a server): the points are written to a new, empty
  collection; the source is only read.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import StoredPoint, VectorStore, from_payload
from recallrank.index.doctor import _batches, _fields_meta
from recallrank.index.edge import META_FILE, EdgeStore, new_meta, write_meta

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
    """Rebuild the embedded collection with ``encoder``'s vectors and swap it in; the old one is kept aside."""
    import qdrant_edge as qe

    t = time.perf_counter()
    old_meta = store.metadata()
    shard = store.shard()
    dimension, similarity = encoder.dimension, encoder.similarity
    fields = store.engine_multivectors()
    tmp = store.scratch("rebuild")  # the name an interrupted swap is completed from
    new = store.engine("create the re-embedded store", store.create_shard, tmp, dimension, similarity, fields)
    unreadable: list[str] = []
    try:
        for batch in _batches(store, shard, unreadable):
            if not batch:
                continue
            vectors = _vectors(encoder, [from_payload(payload).text for _, _, payload, _ in batch])
            points = []
            for (pid, _, payload, named), v in zip(batch, vectors, strict=True):
                named = {k: x for k, x in named.items() if k in fields}
                points.append(qe.Point(id=pid, vector={"": v.tolist(), **named} if named else v.tolist(),
                                       payload=payload))
            store.engine("write the re-embedded store", new.update, qe.UpdateOperation.upsert_points(points))
            if progress is not None:
                progress(len(points))
        if unreadable:
            raise StoreError(f"{len(unreadable)} points of {store.location} cannot be read; run `recallrank doctor "
                             "--repair` first, then re-embed")
        store.engine("flush the re-embedded store", new.flush)
        store.engine("index the re-embedded store", new.optimize)
        total = int(store.engine("count the re-embedded store", new.count, qe.CountRequest(exact=True)))
    except BaseException:
        new.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    new.close()
    meta = new_meta(dimension, similarity, total)
    if fields:
        meta["multivectors"] = _fields_meta(fields, old_meta.get("multivectors") or {})
    write_meta(tmp / META_FILE, meta)
    store.close(finish=False)
    backup = store.scratch(f"before-reembed-{time.strftime('%Y%m%d-%H%M%S')}")
    os.rename(store.location, backup)
    os.rename(tmp, store.location)
    return ReembedReport(total, dimension, time.perf_counter() - t, str(backup))


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
