"""The vector store contract. The pipeline talks to a store only through :class:`VectorStore`.

Both of recallrank's stores implement it through one Qdrant collection core (:mod:`recallrank.index.collection`):
:class:`~recallrank.EdgeStore` (embedded) and :class:`~recallrank.QdrantServerStore`. A store of another kind that
holds no token vectors mixes in :class:`DenseOnly`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recallrank.documents import Document, check_value, parent_of
from recallrank.errors import StoreError
from recallrank.filters import Filter, as_filter

_NAMESPACE = uuid.UUID("6f1d3c52-8a3b-5d0e-9a55-7b0c9f2e4a11")

#: metadata filter: a :class:`recallrank.filters.Filter`, or a dict: ``{"key": value}`` matches equal values,
#: ``{"key": [v1, v2]}`` any of them, ``{"key": {"gte": 1}}`` a range; all keys must match (see ``as_filter``)
MetadataFilter = Mapping[str, Any] | Filter


@dataclass(frozen=True)
class StoredPoint:
    """What a backend writes: id, vector and the payload (text, metadata, content hash, caller's id); ``sparse``:
    sparse vectors by field name (the collection core adds the BM25 one, see :mod:`recallrank.index.sparse`)."""

    id: str
    vector: Sequence[float]
    payload: dict[str, Any]
    sparse: Mapping[str, Any] | None = None


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


#: the payload field a search for documents groups chunks by (see :func:`parent_key`)
PARENT = "parent"


def parent_key(doc: Document) -> str:
    """What a point groups under: the id of the document it was cut from (chunking records it), else the
    document's own id, else its point id: a document stored whole is a group of one."""
    parent = parent_of(doc)
    if parent is not None:
        return parent
    return doc.id if doc.id is not None else point_id(doc)


def to_payload(doc: Document) -> dict[str, Any]:
    """The point's payload. Qdrant Edge parses floats with up to 2 ulps of error (about 1 in 8 random doubles
    come back changed), so metadata holding floats also keeps an exact JSON copy that :func:`from_payload` reads;
    filters use the structured copy."""
    metadata = dict(doc.metadata)
    payload = {"text": doc.text, "metadata": metadata, "doc_id": doc.id, "content_hash": content_hash(doc),
               PARENT: parent_key(doc)}
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


@runtime_checkable
class VectorStore(Protocol):
    """A collection of points in Qdrant, embedded or on a server: dense vectors, and (where
    ``supports_multivectors``) named token-vector fields that late-interaction stages score with MaxSim.

    Example:
        >>> from recallrank import EdgeStore
        >>> isinstance(EdgeStore("./index", "docs"), VectorStore)   # nothing is opened yet
        True
    """

    name: str
    #: whether the store can hold token-vector (multivector) fields; ``False`` on dense-only stand-ins
    supports_multivectors: bool
    #: whether the store holds a sparse BM25 field for sparse and hybrid recall; ``False`` on dense-only stand-ins
    supports_sparse: bool

    def exists(self) -> bool:
        """Whether the collection exists yet."""

    def open(self) -> None:
        """Open the collection now (locks, connections, integrity checks) so failures show before slow work."""

    def ensure_collection(self, dimension: int, similarity: str, model: Mapping[str, Any] | None = None) -> None:
        """Create the collection for ``dimension``-d vectors, or check that the existing one matches; ``model``
        (the bi-encoder's description) is recorded when the collection has no record yet."""

    def record_models(self, bi_encoder: Mapping[str, Any], key: str = "bi_encoder") -> None:
        """Record ``bi_encoder`` (name, fingerprint, dimension, similarity: the caller's dict) as the model that
        built the collection, or under ``key="tuning"`` the settings ``recallrank tune`` fitted, replacing an
        earlier record under that key; nothing else recorded changes."""

    def recorded_models(self) -> dict[str, Any]:
        """``{"bi_encoder": dict | None, "fields": {field: {"model": str | None, "dimension": int}}, "tuning":
        dict | None}``: what built the collection (``None``: written before stores recorded it), each token-vector
        field's model and what ``recallrank tune`` fitted for it."""

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
        """Index the metadata ``key`` (``author.name``; ``@doc_id`` for a field beside the metadata) as ``kind``
        (``keyword``, ``float``, ``bool`` or ``datetime``), replacing an index of another type. Keys get one as
        documents are written already; this is for other types, or keys beyond the automatic limit."""

    # -- token vectors (late interaction): stores without them raise StoreError, see ``supports_multivectors`` --
    def multivector_fields(self) -> dict[str, int]:
        """The collection's token-vector fields: name -> size of each token vector."""

    def ensure_multivector(self, name: str, dimension: int, model: str | None = None) -> None:
        """Add the field ``name`` for ``dimension``-d token vectors (MaxSim), or check the existing one."""

    def write_multivectors(self, name: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Set the ``name`` token vectors of existing points (point id -> ``(tokens, dimension)`` array)."""

    def without_multivector(self, name: str, batch: int = 256) -> Iterator[tuple[str, str]]:
        """``(point id, text)`` of every point that has no ``name`` token vectors yet."""

    def maxsim_scores(self, name: str, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """MaxSim of the query's token vectors against each of ``ids``; points without vectors are absent."""

    # -- the sparse BM25 field (sparse and hybrid recall): stores without it raise StoreError, see supports_sparse --
    def sparse_field(self) -> dict[str, Any] | None:
        """The record of the collection's BM25 field (its tokenizer and BM25 settings), ``None`` if it has none."""

    def add_sparse(self, batch: int = 256, progress: Callable[[int], object] | None = None) -> int:
        """Add the BM25 field to an older collection and fill it from the stored texts; returns points filled."""

    def search_sparse(self, text: str, limit: int, flt: MetadataFilter | None = None) -> list[Hit]:
        """The ``limit`` best points by BM25 (``Hit.score``: the BM25 score)."""

    async def asearch_sparse(self, text: str, limit: int, flt: MetadataFilter | None = None) -> list[Hit]:
        """Async :meth:`search_sparse`."""

    def search_hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False, fusion: str = "rrf") -> list[Hit]:
        """Dense and BM25 results (``flt`` inside both) fused in one query (``Hit.score``: the fused score)."""

    async def asearch_hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None = None,
                             exact: bool = False, fusion: str = "rrf") -> list[Hit]:
        """Async :meth:`search_hybrid`."""

    def finish_ingest(self) -> None:
        """Called after a bulk ingest (the embedded store builds its HNSW index here)."""

    def close(self) -> None:
        """Release files, locks and connections."""


class DenseOnly:
    """Mixin for a :class:`VectorStore` that holds dense vectors only: ``supports_multivectors`` is ``False``,
    ``multivector_fields()`` is empty and the other token-vector methods raise :class:`StoreError`; the pipeline
    then encodes a MaxSim stage's candidates at query time. ``supports_sparse`` is ``False`` too: sparse and hybrid
    recall raise a :class:`StoreError` that names the stores that can do them.

    Example:
        >>> class MyStore(DenseOnly):   # ... plus the dense methods of VectorStore
        ...     name = "mine"
        >>> MyStore().supports_multivectors, MyStore().multivector_fields()
        (False, {})
    """

    supports_multivectors = False
    supports_sparse = False

    def _no_sparse(self) -> StoreError:
        return StoreError(f"{type(self).__name__} holds no sparse BM25 vectors, so recall='sparse' or 'hybrid' "
                          "cannot run on it; use EdgeStore or QdrantServerStore, or recall='dense'")

    def sparse_field(self) -> dict[str, Any] | None:
        return None

    def add_sparse(self, batch: int = 256, progress: Callable[[int], object] | None = None) -> int:
        raise self._no_sparse()

    def search_sparse(self, text: str, limit: int, flt: MetadataFilter | None = None) -> list[Hit]:
        raise self._no_sparse()

    async def asearch_sparse(self, text: str, limit: int, flt: MetadataFilter | None = None) -> list[Hit]:
        raise self._no_sparse()

    def search_hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False, fusion: str = "rrf") -> list[Hit]:
        raise self._no_sparse()

    async def asearch_hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None = None,
                             exact: bool = False, fusion: str = "rrf") -> list[Hit]:
        raise self._no_sparse()

    def _no_tokens(self) -> StoreError:
        return StoreError(f"{type(self).__name__} holds no token vectors; use EdgeStore or QdrantServerStore "
                          "for a late-interaction stage that stores them")

    def multivector_fields(self) -> dict[str, int]:
        return {}

    def ensure_multivector(self, name: str, dimension: int, model: str | None = None) -> None:
        raise self._no_tokens()

    def write_multivectors(self, name: str, vectors: Mapping[str, np.ndarray]) -> None:
        raise self._no_tokens()

    def without_multivector(self, name: str, batch: int = 256) -> Iterator[tuple[str, str]]:
        raise self._no_tokens()

    def maxsim_scores(self, name: str, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        raise self._no_tokens()
