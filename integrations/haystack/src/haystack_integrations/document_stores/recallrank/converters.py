"""Haystack ``Document`` <-> recallrank point: what the store writes for a document and how it reads one back.

A Haystack document is stored as recallrank's own payload (text, metadata, id; so recallrank's retrievers, CLI
and LangChain adapters read it too) plus a ``haystack`` object holding what recallrank has no field for: the
write order, whether the document had content and an embedding, its blob, sparse embedding and, with
``exact_embeddings``, the float64 embedding.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from haystack import Document

from recallrank import Document as CoreDocument
from recallrank.index.base import PARENT, StoredPoint, check_points, from_payload, point_id, to_payload

#: the payload fields a read needs to rebuild a Haystack document
PAYLOAD_FIELDS = ["text", "metadata", "metadata_json", "doc_id", "haystack"]
_clock = {"next": 0}
_clock_lock = threading.Lock()


def write_order(n: int) -> range:
    """``n`` write-order numbers: microseconds since the epoch, strictly increasing within the process."""
    with _clock_lock:
        start = max(_clock["next"], time.time_ns() // 1000)
        _clock["next"] = start + n
    return range(start, start + n)


def point_of(document_id: str) -> str:
    """The point that holds the Haystack document ``document_id`` (recallrank's ids depend on the id alone)."""
    return point_id(CoreDocument("", {}, document_id))


def to_points(documents: list[Document], order: Mapping[str, int], embedding_dim: int,
              exact_embeddings: bool) -> list[StoredPoint]:
    """The points to write for ``documents`` (``order``: document id -> write-order number), checked as the
    stores check them. A document without an embedding gets a placeholder vector and is marked, so that embedding
    retrieval leaves it out."""
    points = []
    for d in documents:
        extra: dict[str, Any] = {}
        if d.content is None:
            extra["no_content"] = True
        if d.blob is not None:
            extra["blob"] = d.blob.to_dict()
        if d.sparse_embedding is not None:
            extra["sparse_embedding"] = d.sparse_embedding.to_dict()
        if d.embedding is not None:
            if len(d.embedding) != embedding_dim:
                raise ValueError(f"document {d.id!r} has a {len(d.embedding)}-d embedding but the store holds "
                                 f"{embedding_dim}-d ones; embed it with the store's model or pass "
                                 "embedding_dim= (and another collection) to the store")
            vector = np.asarray(d.embedding, dtype=np.float64)
            if not np.all(np.isfinite(vector)):
                raise ValueError(f"document {d.id!r}: the embedding holds NaN or infinity")
            if exact_embeddings:
                extra["embedding"] = base64.b64encode(vector.astype("<f8").tobytes()).decode("ascii")
        else:
            vector = np.zeros(embedding_dim)
            vector[0] = 1.0  # a placeholder: embedding retrieval filters these documents out
        core = CoreDocument(d.content if d.content is not None else "", dict(d.meta), d.id)
        meta: dict[str, Any] = {"seq": order[d.id], "extra": json.dumps(extra)}
        if d.embedding is None:
            meta["no_embedding"] = True
        points.append(StoredPoint(point_id(core), vector.tolist(), {**grouped(to_payload(core)), "haystack": meta}))
    check_points(points)
    return points


def with_meta(pid: str, payload: Mapping[str, Any], vector: Any, meta: Mapping[str, Any]) -> StoredPoint:
    """The stored point ``pid`` with ``meta`` merged into its metadata; id, vector and write order kept."""
    core = from_payload(payload)
    updated = CoreDocument(core.text, {**core.metadata, **meta}, core.id)
    return StoredPoint(pid, vector.tolist(), {**grouped(to_payload(updated)),
                                              "haystack": payload.get("haystack") or {}})


def grouped(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` grouped under the document Haystack's ``DocumentSplitter`` split it from (its ``source_id``),
    so that a search for documents (``documents=True``) returns each source document once."""
    source = (payload.get("metadata") or {}).get("source_id")
    return {**payload, PARENT: source} if isinstance(source, str) and source else payload


def to_haystack(payload: Mapping[str, Any], vector: Any = None, score: float | None = None,
                with_embedding: bool = False) -> Document:
    """The Haystack document a point's payload (and, for its embedding, its vector) holds."""
    core = from_payload(payload)
    extra = payload.get("haystack") or {}
    data = json.loads(extra.get("extra") or "{}")
    embedding = None
    if with_embedding and not extra.get("no_embedding"):
        exact = data.get("embedding")
        embedding = np.frombuffer(base64.b64decode(exact), dtype="<f8").tolist() if exact else \
            [float(x) for x in vector] if vector is not None else None
    return Document.from_dict({"id": core.id, "content": None if data.get("no_content") else core.text,
                               "meta": dict(core.metadata), "blob": data.get("blob"), "score": score,
                               "embedding": embedding, "sparse_embedding": data.get("sparse_embedding")})


def write_seq(payload: Mapping[str, Any]) -> int:
    """A stored document's write-order number (0 when it has none)."""
    return int((payload.get("haystack") or {}).get("seq", 0))
