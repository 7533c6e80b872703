"""The vector store contract. The pipeline talks to a store only through this protocol."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recallrank.documents import Document, check_value
from recallrank.filters import Filter, as_filter, payload_key, payload_schema, to_qdrant

#: recallrank similarity -> Qdrant distance name (the same names in qdrant-edge and qdrant-client)
DISTANCES = {"cosine": "Cosine", "dot": "Dot", "euclidean": "Euclid"}
_NAMESPACE = uuid.UUID("6f1d3c52-8a3b-5d0e-9a55-7b0c9f2e4a11")

#: metadata filter: a :class:`recallrank.filters.Filter`, or a dict: ``{"key": value}`` matches equal values,
#: ``{"key": [v1, v2]}`` any of them, ``{"key": {"gte": 1}}`` a range; all keys must match (see ``as_filter``)
MetadataFilter = Mapping[str, Any] | Filter


@dataclass(frozen=True)
class StoredPoint:
    """What a backend writes: id, vector and the payload (text, metadata, content hash, caller's id)."""

    id: str
    vector: Sequence[float]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """A search hit: point id, similarity (higher is better) and the stored document."""

    id: str
    score: float
    document: Document


def content_hash(doc: Document) -> str:
    blob = json.dumps([doc.text, dict(doc.metadata)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def point_id(doc: Document) -> str:
    """Deterministic point id: from the caller's id when given, else from text + metadata.

    Ingesting the same documents twice therefore writes the same points, and a re-run of an interrupted
    ingest overwrites nothing it should not.
    """
    key = f"id:{doc.id}" if doc.id is not None else f"content:{content_hash(doc)}"
    return str(uuid.uuid5(_NAMESPACE, key))


def to_payload(doc: Document) -> dict[str, Any]:
    """The point's payload. Qdrant Edge parses floats with up to 2 ulps of error (about 1 in 8 random doubles
    come back changed), so metadata holding floats also keeps an exact JSON copy that :func:`from_payload` reads;
    filters use the structured copy."""
    metadata = dict(doc.metadata)
    payload = {"text": doc.text, "metadata": metadata, "doc_id": doc.id, "content_hash": content_hash(doc)}
    if _has_float(metadata):
        payload["metadata_json"] = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    return payload


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, Mapping):
        return any(_has_float(v) for v in value.values())
    return isinstance(value, list) and any(_has_float(v) for v in value)


def check_points(points: Sequence[StoredPoint]) -> None:
    """Refuse, before a backend writes anything, a payload that it would reject, mangle or be unable to read back
    (see :func:`recallrank.documents.check_metadata`); the pipeline has validated its own already."""
    for p in points:
        check_value(p.payload, f"point {p.id}", "payload", -1)  # metadata sits one level down in the payload


def from_payload(payload: Mapping[str, Any] | None) -> Document:
    payload = payload or {}
    exact = payload.get("metadata_json")
    metadata = json.loads(exact) if isinstance(exact, str) else dict(payload.get("metadata") or {})
    return Document(text=str(payload.get("text", "")), metadata=metadata, id=payload.get("doc_id"))


def check_filter(flt: MetadataFilter | None) -> Filter | None:
    """Validate a filter in any accepted form (see :func:`recallrank.filters.as_filter`) before anything runs.

    Types are kept exact on every backend: ``True`` matches the boolean only (never ``1``), and ``"02139"`` the
    string only (never the number 2139).
    """
    return as_filter(flt)


def qdrant_filter(flt: MetadataFilter | None, models: Any, typed: Callable[[Any], Any] = lambda v: v) -> Any:
    """``flt`` as a Qdrant ``Filter`` built from ``models`` (``qdrant_client.models`` or ``qdrant_edge``), or ``None``
    for no filter; metadata keys live under ``metadata.`` in the payload. ``typed`` wraps each exact value
    (qdrant-edge needs its booleans as ``numpy.bool_``)."""
    return to_qdrant(as_filter(flt), models, "metadata.", typed)


def ensure_payload_indexes(flt: Filter | None, known: Callable[[], set[str]],
                           create: Callable[[str, str], None]) -> None:
    """Create a payload index for every key ``flt`` reads that has none yet (type from the values compared, see
    :func:`recallrank.filters.payload_schema`); ``known()`` is the backend's set of indexed payload paths, updated
    here, and is asked for only when the filter reads a key."""
    wanted = {payload_key(k): kind for k, kind in payload_schema(flt).items()}
    if not wanted:
        return
    indexed = known()
    for path, kind in wanted.items():
        if path not in indexed:
            create(path, kind)
            indexed.add(path)


def short_of_limit(found: int, limit: int, condition: Any, exact: bool, count: Callable[[], int]) -> bool:
    """Whether a filtered HNSW search came back with fewer hits than the filter matches (the graph walk can miss
    points under a restrictive filter): then the caller repeats it exactly, so a filter never silently returns
    fewer than ``limit``. Costs one count, and only when the result is short."""
    return condition is not None and not exact and found < limit and int(count()) > found


@runtime_checkable
class VectorStore(Protocol):
    """A collection of points in Qdrant, embedded or on a server."""

    name: str

    def exists(self) -> bool:
        """Whether the collection exists yet."""

    def open(self) -> None:
        """Open the collection now (locks, connections, integrity checks) so failures show before slow work."""

    def ensure_collection(self, dimension: int, similarity: str) -> None:
        """Create the collection for ``dimension``-d vectors, or check that the existing one matches."""

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Content hashes of those ``ids`` that are stored (id -> hash)."""

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Write points; a point with an existing id replaces it."""

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored dense vectors of those ``ids`` that exist (id -> vector)."""

    def search(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
               exact: bool = False) -> list[Hit]:
        """The ``limit`` nearest points, best first."""

    async def asearch(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False) -> list[Hit]:
        """Async :meth:`search`."""

    def scroll(self, fields: Sequence[str], flt: MetadataFilter | None = None,
               batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point matching ``flt`` as ``(id, payload restricted to fields)``, in id order."""

    def delete(self, ids: Sequence[str]) -> None:
        """Delete points by id; unknown ids are ignored."""

    def count(self, flt: MetadataFilter | None = None) -> int:
        """Number of stored points (matching ``flt``)."""

    def finish_ingest(self) -> None:
        """Called after a bulk ingest (the embedded store builds its HNSW index here)."""

    def close(self) -> None:
        """Release files, locks and connections."""


class ThreadedAsyncSearch:
    """Mixin: ``asearch`` runs the blocking ``search`` in a worker thread, keeping the event loop free."""

    async def asearch(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False) -> list[Hit]:
        return await asyncio.to_thread(self.search, vector, limit, flt, exact)  # type: ignore[attr-defined]
