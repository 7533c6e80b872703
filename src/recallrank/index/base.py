"""The vector store contract. The pipeline talks to a store only through this protocol."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recallrank.documents import Document, check_value
from recallrank.filters import Filter, FilterValueError, as_filter, payload_key, to_qdrant
from recallrank.filters.model import check_key
from recallrank.filters.qdrant import PATHS_FIELD, items, metadata_paths, walk

log = logging.getLogger(__name__)

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


#: payload index types a store creates (each compares exactly as the payload does for every filter recallrank
#: makes, except the ranges of the other kind: see :func:`recallrank.filters.check_indexes`)
INDEX_TYPES = ("keyword", "float", "bool", "datetime")
#: at most this many payload indexes are made automatically per collection (more with ``create_payload_index``)
MAX_AUTO_INDEXES = 64
#: a key holding a string longer than this gets no automatic keyword index (it is text, not a category)
MAX_INDEXED_STRING = 256
#: payload fields beside the metadata that every collection indexes
CORE_INDEXES = {"doc_id": "keyword", f"{PATHS_FIELD}.present": "keyword"}


def stamp(points: Sequence[StoredPoint]) -> list[StoredPoint]:
    """``points`` with the record of their metadata (:func:`recallrank.filters.metadata_paths`) in their payload,
    recomputed from the metadata they hold; the store core calls it on every write, so no point goes without it."""
    def record(metadata: Any) -> dict[str, list[str]]:
        return metadata_paths(metadata if isinstance(metadata, Mapping) else {})

    return [StoredPoint(p.id, p.vector, {**p.payload, PATHS_FIELD: record(p.payload.get("metadata"))}) for p in points]


def index_path(key: str) -> str:
    """The payload path of a filter key (``lang``, ``author.name``, ``@doc_id``) that a payload index goes on."""
    return payload_key(check_key(key, "payload index"))


def _is_datetime(value: str) -> bool:
    if len(value) < 10 or value[4:5] != "-":
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _index_type(values: list[Any]) -> str | None:
    """The payload index type for a key holding ``values`` (``None``: none worth having)."""
    kinds = {type(v) for v in values if v is not None and not isinstance(v, (Mapping, list))}
    if not kinds:
        return None
    if str in kinds:
        if any(isinstance(v, str) and len(v) > MAX_INDEXED_STRING for v in values):
            return None
        if kinds == {str} and all(_is_datetime(v) for v in values if isinstance(v, str)):
            return "datetime"
        return "keyword"
    return "bool" if kinds == {bool} else "float"


def _join(have: str, want: str) -> str:
    """One index type for a key that holds what ``have`` was made for and what ``want`` fits."""
    have = "float" if have == "integer" else have  # an integer index reads 1.0 as 1: never kept
    if have == want:
        return have
    if {have, want} == {"float", "bool"}:
        return "float"
    return "keyword"  # exact for every filter (ranges then read the payload)


def plan_indexes(points: Sequence[StoredPoint], indexes: Mapping[str, str], where: str) -> dict[str, str]:
    """Payload path -> index type to create (or to change to) before writing ``points`` into a collection that has
    ``indexes``: one for each metadata key they hold (:func:`_index_type` from its values), at most
    :data:`MAX_AUTO_INDEXES` in all, plus :data:`CORE_INDEXES`; indexes made by hand with types recallrank does not
    make are left alone. Logs what it leaves out."""
    values: dict[str, list[Any]] = {}
    for p in points:
        metadata = p.payload.get("metadata")
        for path, value in walk(metadata if isinstance(metadata, Mapping) else {}):
            values.setdefault(payload_key(path), []).extend(items(value))
    plan = {path: kind for path, kind in CORE_INDEXES.items() if path not in indexes}
    made = sum(1 for path in indexes if path.startswith("metadata."))
    skipped = []
    for path, found in values.items():
        want = _index_type(found)
        have = indexes.get(path)
        if want is None or (have is not None and have not in (*INDEX_TYPES, "integer")):
            continue
        kind = want if have is None else _join(have, want)
        if kind == have:
            continue
        if have is None and made >= MAX_AUTO_INDEXES:
            skipped.append(path)
            continue
        made += have is None
        plan[path] = kind
    if skipped:
        log.warning("%s: %d metadata keys get no payload index (%s%s): %d are indexed already, the most made "
                    "automatically; filters on them read the payload (slower on large collections); index one with "
                    "store.create_payload_index(KEY, TYPE)", where, len(skipped), ", ".join(skipped[:5]),
                    ", ..." if len(skipped) > 5 else "", MAX_AUTO_INDEXES)
    return plan


def check_index_type(key: str, kind: str) -> tuple[str, str]:
    """``(payload path, type)`` for ``create_payload_index(key, kind)``, or a FilterValueError naming the types."""
    if kind not in INDEX_TYPES:
        raise FilterValueError(f"payload index type {kind!r}: use one of {', '.join(INDEX_TYPES)} (an integer index "
                               "would make Qdrant read 1.0 as 1 and skip 1.5 in ranges; 'float' indexes integers)")
    return index_path(key), kind


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

    def payload_indexes(self) -> dict[str, str]:
        """The collection's payload indexes: payload path (``metadata.lang``) -> type (``keyword``, ``float``,
        ``bool``, ``datetime``). Reading it writes nothing."""

    def create_payload_index(self, key: str, kind: str) -> None:
        """Index the metadata ``key`` (``author.name``; ``@doc_id`` for a field beside the metadata) as ``kind``,
        one of :data:`INDEX_TYPES`, replacing an index of another type. Writes index metadata keys as documents
        are written already; this is for other types, or keys beyond :data:`MAX_AUTO_INDEXES`."""

    def finish_ingest(self) -> None:
        """Called after a bulk ingest (the embedded store builds its HNSW index here)."""

    def close(self) -> None:
        """Release files, locks and connections."""


class ThreadedAsyncSearch:
    """Mixin: ``asearch`` runs the blocking ``search`` in a worker thread, keeping the event loop free."""

    async def asearch(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False) -> list[Hit]:
        return await asyncio.to_thread(self.search, vector, limit, flt, exact)  # type: ignore[attr-defined]
