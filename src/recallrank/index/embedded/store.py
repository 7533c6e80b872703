"""Embedded Qdrant: Qdrant's own Rust engine in-process (``qdrant-edge-py``), persistent at a path.

Lifecycle, made crash-safe:

* a collection is created in a temporary folder, with its ``recallrank.json``, then renamed into place, so a
  crash leaves either no collection or a complete one;
* ``recallrank.json`` says ``"pending": true`` before the first write of a session and records the point count
  when the HNSW build after it has finished; a store opened while pending finishes that build first, and a store
  that is not pending must hold exactly the recorded points, with a vector each, or it is reported as damaged;
* every exception out of the engine (a Rust panic included) becomes a :class:`StoreError` naming the path.

:func:`recallrank.index.embedded.doctor.check_edge` checks a store in depth and repairs what can be repaired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.filters import Filter, to_qdrant
from recallrank.filters.qdrant import index_kinds
from recallrank.index.base import PARENT, StoredPoint
from recallrank.index.collection import Query
from recallrank.index.embedded.engine import DEFAULT_EF_CONSTRUCT, DEFAULT_HNSW_EF, DEFAULT_HNSW_M, token_datatype
from recallrank.index.embedded.lifecycle import EmbeddedCollection
from recallrank.index.query import Fuse, Sparse
from recallrank.index.settings import CollectionSettings, search_params
from recallrank.index.sparse import FIELD


class EdgeStore(EmbeddedCollection):
    """A collection kept in an embedded Qdrant Edge shard under ``path/name``.

    Args:
        path: folder that holds the collections (created if missing).
        name: collection name (a sub-folder of ``path``).
        hnsw_ef: search-time breadth of the HNSW graph walk; larger is more exact and slower.
        m, ef_construct: HNSW graph degree and build-time breadth.
        full_scan_threshold_kb: below this size (in KB of vectors) a segment is searched exactly.
        settings: on-disk vectors and payloads, quantisation with rescoring (:class:`CollectionSettings`); used
            when the collection is created and recorded with it. An existing collection keeps its own; asking
            for other ones raises :class:`CollectionMismatchError`. Search-time ``rescore``/``oversampling``
            are always the caller's.

    One store object at a time may open a path: a second process, or a second store object of the same process,
    gets a :class:`StoreUnavailableError` saying so (share the first, or close it).

    Example:
        >>> store = EdgeStore("./index", "docs")          # doctest: +SKIP
        >>> store.ensure_collection(384, "cosine")        # doctest: +SKIP
    """

    def __init__(self, path: str | Path, name: str = "recallrank", *, hnsw_ef: int = DEFAULT_HNSW_EF,
                 m: int = DEFAULT_HNSW_M, ef_construct: int = DEFAULT_EF_CONSTRUCT,
                 full_scan_threshold_kb: int = 1000, settings: CollectionSettings | None = None) -> None:
        if settings is not None and settings.server_only():
            raise ValueError(f"{', '.join(settings.server_only())} apply to a Qdrant server or cluster "
                             "(QdrantServerStore); the embedded store is one shard on one machine: leave them out")
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"collection name {name!r}: use a plain folder name such as 'docs'")
        super().__init__(name, settings, hnsw_ef)
        self.hnsw_ef: int = hnsw_ef
        self.root = Path(path).expanduser()
        self.m = m
        self.ef_construct = ef_construct
        self.full_scan_threshold_kb = full_scan_threshold_kb
        self._shard: Any = None
        self._meta: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"EdgeStore(path={str(self.root)!r}, name={self.name!r}, hnsw_ef={self.hnsw_ef})"

    # -- the collection core's primitives -----------------------------------------------------------------------
    def similarity(self) -> str:
        self._open()
        return str(self._meta["similarity"])

    def _described(self) -> tuple[int, str] | None:
        meta = self.read_meta()
        return None if meta is None else (meta["dimension"], meta["similarity"])

    def _ready(self, dimension: int, similarity: str) -> None:
        self._open(dimension, similarity)

    def _begin_write(self) -> None:
        self._open()
        self.mark_pending()

    def _search_params(self, exact: bool) -> Any:
        import qdrant_edge as qe

        layout = self.layout()
        asked = self.settings if self.settings is not None else layout  # search-time choices are the caller's
        return search_params(qe, exact, self.hnsw_ef, layout.quantization is not None, asked)

    def _compile(self, flt: Filter | None) -> Any:
        import qdrant_edge as qe

        # qdrant-edge reads a Python bool as the integer 1/0 (bool is an int); numpy's bool reaches it as a bool
        return to_qdrant(flt, qe, "metadata.", lambda v: np.bool_(v) if isinstance(v, bool) else v)

    def _has_ids(self, ids: Sequence[str]) -> Any:
        import qdrant_edge as qe

        return qe.Filter(must=[qe.HasIdCondition(set(ids))])

    def _lacks_vector(self, name: str) -> Any:
        import qdrant_edge as qe

        return qe.Filter(must_not=[qe.HasVectorCondition(name)])

    def _scoring(self, query: Query) -> Any:
        import qdrant_edge as qe

        vector: Any = query.vector
        if isinstance(vector, Fuse):
            return qe.Fusion.Rrf(k=vector.k) if vector.method == "rrf" else qe.Fusion.Dbsf()
        if isinstance(vector, Sparse):
            vector = qe.SparseVector(vector.indices, vector.values)
        return qe.Query.Nearest(vector, using=query.using) if query.using else qe.Query.Nearest(vector)

    def _request(self, query: Query) -> Any:
        import qdrant_edge as qe

        legs = [query.prefetch] if query.prefetch is not None else list(query.legs)
        if not legs:
            return qe.QueryRequest(limit=query.limit, query=self._scoring(query), filter=query.condition,
                                   with_payload=query.with_payload, params=query.params)
        prefetches = [qe.Prefetch(limit=leg.limit, query=self._scoring(leg), filter=leg.condition, params=leg.params)
                      for leg in legs]
        return qe.QueryRequest(limit=query.limit, prefetches=prefetches, query=self._scoring(query),
                               with_payload=query.with_payload, params=query.params)

    def _query(self, query: Query) -> list[Any]:
        what = "search" if query.using in (None, FIELD) else "score token vectors"
        return list(self.engine(what, self._open().query, self._request(query)))

    def _count(self, condition: Any) -> int:
        import qdrant_edge as qe

        return int(self.engine("count points", self._open().count, qe.CountRequest(exact=True, filter=condition)))

    def _scroll_page(self, condition: Any, fields: Sequence[str] | None, limit: int,
                     offset: Any) -> tuple[list[Any], Any]:
        import qdrant_edge as qe

        request = qe.ScrollRequest(offset=offset, limit=limit, filter=condition,
                                   with_payload=list(fields) if fields is not None else False, with_vector=False)
        records, offset = self.engine("read payloads", self._open().scroll, request)
        return list(records), offset

    def _retrieve(self, ids: Sequence[str], fields: Sequence[str] | None, with_dense: bool | str) -> list[Any]:
        payload: Any = list(fields) if fields is not None else False
        named = [with_dense] if isinstance(with_dense, str) else ([""] if with_dense else False)
        return list(self.engine("retrieve points", self._open().retrieve, list(ids), payload, named))

    def _read_indexes(self) -> dict[str, str]:
        return index_kinds(self.engine("read the payload indexes", self._open().info).payload_schema)

    def _make_index(self, path: str, kind: str, replace: bool) -> bool:
        import qdrant_edge as qe

        schema = getattr(qe.PayloadSchemaType, kind.capitalize())
        self.engine("create a payload index", self._open().update, qe.UpdateOperation.create_field_index(path, schema))
        return True

    def _write(self, points: Sequence[StoredPoint]) -> None:
        import qdrant_edge as qe

        ops = []
        for p in points:
            vector: Any = np.asarray(p.vector, dtype=np.float32).tolist()
            if p.sparse:  # beside the BM25 vector the dense one is named ""
                vector = {"": vector, **{k: qe.SparseVector(v.indices, v.values) for k, v in p.sparse.items()}}
            ops.append(qe.Point(id=p.id, vector=vector, payload=p.payload))
        self.engine("write points", self._open().update, qe.UpdateOperation.upsert_points(ops))

    def _set_parents(self, values: dict[str, str]) -> None:
        import qdrant_edge as qe

        shard = self._open()
        for pid, parent in values.items():
            self.engine("record parents", shard.update, qe.UpdateOperation.set_payload([pid], {PARENT: parent}))

    def _remove(self, ids: Sequence[str]) -> None:
        import qdrant_edge as qe

        self.engine("delete points", self._open().update, qe.UpdateOperation.delete_points(list(ids)))

    def _read_fields(self) -> dict[str, int]:
        fields = self.metadata().get("multivectors") or {}  # in memory: this is read on every scored query
        return {str(k): int(v["dimension"]) for k, v in fields.items()}

    def _add_field(self, name: str, dimension: int) -> None:
        import qdrant_edge as qe

        have = self._read_fields()
        shard = self.shard()
        self.mark_pending()
        self.engine(f"add the token-vector field '{name}'", shard.update, qe.UpdateOperation.create_dense_vector(
            name, dimension, qe.Distance.Dot, qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            token_datatype(None, self.layout().token_storage)))
        self.reconfigure({**have, name: dimension})  # no HNSW graph over token vectors: they rescore candidates

    def _write_tokens(self, name: str, vectors: Mapping[str, list[list[float]]]) -> None:
        import qdrant_edge as qe

        ops = [qe.PointVectors(id=pid, vector={name: tokens}) for pid, tokens in vectors.items()]
        self.engine(f"write '{name}' token vectors", self._open().update, qe.UpdateOperation.update_vectors(ops))

    def _add_sparse(self, name: str) -> None:
        import qdrant_edge as qe

        shard = self.shard()
        if name in (self.engine_sparse() or {}):  # added by a backfill stopped before it was recorded
            return
        self.mark_pending()
        self.engine(f"add the sparse field '{name}'", shard.update,
                    qe.UpdateOperation.create_sparse_vector(name, qe.Modifier.Idf))

    def _write_sparse(self, name: str, vectors: Mapping[str, Sparse]) -> None:
        import qdrant_edge as qe

        ops = [qe.PointVectors(id=pid, vector={name: qe.SparseVector(v.indices, v.values)})
               for pid, v in vectors.items()]
        self.engine(f"write '{name}' sparse vectors", self._open().update, qe.UpdateOperation.update_vectors(ops))

    def _record(self) -> dict[str, Any]:
        return self.metadata()

    def _update_record(self, changes: Mapping[str, Any]) -> None:
        self.update_meta(**changes)
