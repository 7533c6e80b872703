"""Token vectors (late interaction) in the embedded engine: a named multivector field with Qdrant's MaxSim
comparator, beside the collection's dense vector.

A field can be added to an existing collection at any time (``ensure_multivector``); points written before it have
no token vectors until they are filled in (``without_multivector`` lists them, ``write_multivectors`` fills them).
Scores are computed inside the engine: MaxSim over a given set of candidates (a rerank stage), or dense recall and
MaxSim rescoring in one query.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from recallrank.errors import CollectionMismatchError, InvalidInputError, StoreError
from recallrank.index.base import Hit, MetadataFilter, from_payload

if TYPE_CHECKING:
    from recallrank.index.edge import EdgeStore


def supports(store: object) -> bool:
    """Whether ``store`` can hold token-vector fields (``EdgeStore`` and ``QdrantServerStore`` can)."""
    return callable(getattr(store, "maxsim_scores", None))


def check_field_name(name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInputError(f"multivector field name {name!r}: use letters, digits and _, e.g. 'colbert'")


def check_tokens(pid: str, name: str, tokens: np.ndarray, dimension: int) -> np.ndarray:
    """``tokens`` as a float32 ``(tokens, dimension)`` array, or an error naming the point and the field."""
    arr = np.asarray(tokens, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dimension or arr.shape[0] == 0 or not np.isfinite(arr).all():
        raise InvalidInputError(f"point {pid}: token vectors must be a non-empty, finite (tokens, {dimension}) "
                                f"array for field '{name}', got shape {arr.shape}")
    return arr


def multivector_fields(store: EdgeStore) -> dict[str, int]:
    """The collection's token-vector fields: name -> size of each token vector."""
    if not store.exists():
        return {}
    fields = store.metadata().get("multivectors") or {}  # in memory: this is read on every scored query
    return {str(k): int(v["dimension"]) for k, v in fields.items()}


def ensure_multivector(store: EdgeStore, name: str, dimension: int, model: str | None = None) -> None:
    """Add the field ``name`` for ``dimension``-d token vectors (MaxSim, dot product), or check the existing one."""
    import qdrant_edge as qe

    check_field_name(name)
    have = multivector_fields(store)
    if name in have:
        if have[name] != dimension:
            raise CollectionMismatchError(
                f"collection '{store.name}' at {store.location} holds {have[name]}-d '{name}' token vectors but the "
                f"model makes {dimension}-d ones; use the model it was built with or another field name")
        return
    shard = store.shard()
    store.mark_pending()
    # token vectors are unit-length: fp16 storage keeps MaxSim to ~1e-3 at half the bytes of fp32
    store.engine(f"add the token-vector field '{name}'", shard.update, qe.UpdateOperation.create_dense_vector(
        name, dimension, qe.Distance.Dot, qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
        qe.VectorStorageDatatype.Float16))
    store.reconfigure({**have, name: dimension})  # no HNSW graph over token vectors: they rescore candidates
    fields = dict(store.metadata().get("multivectors") or {})
    store.update_meta(multivectors={**fields, name: {"dimension": dimension, "model": model}})


def write_multivectors(store: EdgeStore, name: str, vectors: Mapping[str, np.ndarray]) -> None:
    """Set the ``name`` token vectors of existing points (point id -> ``(tokens, dimension)`` array)."""
    import qdrant_edge as qe

    dimension = _field(store, name)
    if not vectors:
        return
    ops = [qe.PointVectors(id=pid, vector={name: check_tokens(pid, name, tokens, dimension).tolist()})
           for pid, tokens in vectors.items()]
    shard = store.shard()
    store.mark_pending()
    store.engine(f"write '{name}' token vectors", shard.update, qe.UpdateOperation.update_vectors(ops))


def without_multivector(store: EdgeStore, name: str, batch: int = 256) -> Iterator[tuple[str, str]]:
    """``(point id, text)`` of every point that has no ``name`` token vectors yet."""
    import qdrant_edge as qe

    _field(store, name)
    shard, offset = store.shard(), None
    missing = qe.Filter(must_not=[qe.HasVectorCondition(name)])
    while True:
        request = qe.ScrollRequest(offset=offset, limit=batch, filter=missing, with_payload=["text"],
                                   with_vector=False)
        records, offset = store.engine("list points without token vectors", shard.scroll, request)
        yield from ((str(r.id), str((r.payload or {}).get("text", ""))) for r in records)
        if offset is None:
            return


def maxsim_scores(store: EdgeStore, name: str, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
    """MaxSim of the query's token vectors against each of ``ids`` (computed in the engine, exactly); points
    without ``name`` vectors are absent from the result."""
    import qdrant_edge as qe

    _field(store, name)
    if not ids:
        return {}
    request = qe.QueryRequest(limit=len(ids), query=qe.Query.Nearest(query_tokens(query), using=name),
                              filter=qe.Filter(must=[qe.HasIdCondition(set(ids))]), with_payload=False,
                              params=qe.SearchParams(exact=True))
    points = store.engine("score token vectors", store.shard().query, request)
    return {str(p.id): float(p.score) for p in points}


def search_rescored(store: EdgeStore, name: str, vector: np.ndarray, query: np.ndarray, top_k: int, limit: int,
                    flt: MetadataFilter | None = None) -> list[Hit]:
    """Recall ``top_k`` by the dense vector, rescore them by MaxSim on ``name``, return the best ``limit`` (one
    query; ``Hit.score`` is the MaxSim score)."""
    import qdrant_edge as qe

    from recallrank.index.edge import _edge_filter

    _field(store, name)
    prefetch = qe.Prefetch(limit=top_k, query=qe.Query.Nearest([float(x) for x in np.asarray(vector).ravel()]),
                           filter=_edge_filter(flt), params=qe.SearchParams(hnsw_ef=store.hnsw_ef))
    request = qe.QueryRequest(limit=limit, prefetches=[prefetch], query=qe.Query.Nearest(query_tokens(query),
                                                                                     using=name),
                              with_payload=True)
    points = store.engine("search and rescore", store.shard().query, request)
    return [Hit(id=str(p.id), score=float(p.score), document=from_payload(p.payload)) for p in points]


def _field(store: EdgeStore, name: str) -> int:
    fields = multivector_fields(store)
    if name not in fields:
        raise StoreError(f"collection '{store.name}' at {store.location} has no '{name}' token vectors"
                         + (f" (it has {sorted(fields)})" if fields else "")
                         + "; add them with ensure_multivector() and fill them with write_multivectors()")
    return fields[name]


def query_tokens(query: np.ndarray) -> list[list[float]]:
    arr = np.asarray(query, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidInputError(f"query token vectors must be a (tokens, dimension) array, got shape {arr.shape}")
    return [[float(x) for x in row] for row in arr]


def record_vectors(record: Any) -> tuple[list[float] | None, dict[str, Any]]:
    """(dense vector or None, named vectors) of a record retrieved with vectors: a point with only the dense
    vector comes back as a list, one with named vectors too as a dict keyed by name ('' for the dense one)."""
    vector = record.vector
    if isinstance(vector, dict):
        dense = vector.get("")
        return (list(dense) if dense else None), {k: v for k, v in vector.items() if k and v}
    return (list(vector) if vector else None), {}
