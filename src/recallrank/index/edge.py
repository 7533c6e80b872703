"""Embedded Qdrant: Qdrant's own Rust engine in-process (``qdrant-edge-py``), persistent at a path."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.errors import CollectionMismatchError, StoreError, StoreUnavailableError
from recallrank.index.base import DISTANCES, Hit, MetadataFilter, StoredPoint, ThreadedAsyncSearch, check_filter
from recallrank.index.base import from_payload as _doc

log = logging.getLogger(__name__)

#: HNSW defaults chosen by benchmarks/hnsw_recall.py (recall@100 vs exact >= 0.99 on the Debian corpus)
DEFAULT_HNSW_M = 16
DEFAULT_EF_CONSTRUCT = 128
DEFAULT_HNSW_EF = 256
_META_FILE = "recallrank.json"


class EdgeStore(ThreadedAsyncSearch):
    """A collection kept in an embedded Qdrant Edge shard under ``path/name``.

    Args:
        path: folder that holds the collections (created if missing).
        name: collection name (a sub-folder of ``path``).
        hnsw_ef: search-time breadth of the HNSW graph walk; larger is more exact and slower.
        m, ef_construct: HNSW graph degree and build-time breadth.
        full_scan_threshold_kb: below this size (in KB of vectors) a segment is searched exactly.

    One process at a time may open a path; a second gets a :class:`StoreUnavailableError` saying so.

    Example:
        >>> store = EdgeStore("./index", "docs")          # doctest: +SKIP
        >>> store.ensure_collection(384, "cosine")        # doctest: +SKIP
    """

    def __init__(self, path: str | Path, name: str = "recallrank", *, hnsw_ef: int = DEFAULT_HNSW_EF,
                 m: int = DEFAULT_HNSW_M, ef_construct: int = DEFAULT_EF_CONSTRUCT,
                 full_scan_threshold_kb: int = 1000) -> None:
        self.root = Path(path).expanduser()
        self.name = name
        self.hnsw_ef = hnsw_ef
        self.m = m
        self.ef_construct = ef_construct
        self.full_scan_threshold_kb = full_scan_threshold_kb
        self._shard: Any = None
        self._dirty = False
        self._similarity_cache: str | None = None

    @property
    def location(self) -> Path:
        return self.root / self.name

    def _open(self, dimension: int | None = None, similarity: str | None = None) -> Any:
        if self._shard is not None:
            return self._shard
        import qdrant_edge as qe

        loc = self.location
        meta_path = loc / _META_FILE
        if meta_path.exists():
            try:
                self._shard = qe.EdgeShard.load(str(loc))
            except Exception as exc:
                raise _open_error(loc, exc) from exc
            return self._shard
        if dimension is None or similarity is None:
            raise StoreError(f"no collection '{self.name}' at {loc}; index some documents first")
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dimension, distance=getattr(qe.Distance, DISTANCES[similarity])),
            hnsw_config=qe.HnswIndexConfig(m=self.m, ef_construct=self.ef_construct,
                                           full_scan_threshold=self.full_scan_threshold_kb),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.full_scan_threshold_kb),
        )
        loc.mkdir(parents=True, exist_ok=True)
        try:
            self._shard = qe.EdgeShard.create(str(loc), config)
        except Exception as exc:
            raise _open_error(loc, exc) from exc
        meta_path.write_text(json.dumps({"dimension": dimension, "similarity": similarity}))
        return self._shard

    def exists(self) -> bool:
        """Whether the collection has been created at this path."""
        return self._shard is not None or (self.location / _META_FILE).exists()

    def ensure_collection(self, dimension: int, similarity: str) -> None:
        meta_path = self.location / _META_FILE
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if (meta["dimension"], meta["similarity"]) != (dimension, similarity):
                raise CollectionMismatchError(
                    f"collection '{self.name}' at {self.location} holds {meta['dimension']}-d {meta['similarity']} "
                    f"vectors but the model makes {dimension}-d {similarity} ones; use the model it was built with, "
                    "another collection name, or delete that folder to rebuild")
        self._open(dimension, similarity)

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids or not self.exists():
            return {}
        records = self._open().retrieve(list(ids), ["content_hash"], False)
        return {str(r.id): str((r.payload or {}).get("content_hash")) for r in records}

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        import qdrant_edge as qe

        if not points:
            return
        ops = [qe.Point(id=p.id, vector=[float(x) for x in p.vector], payload=p.payload) for p in points]
        self._open().update(qe.UpdateOperation.upsert_points(ops))
        self._dirty = True

    def finish_ingest(self) -> None:
        """Flush and build the HNSW index over what was ingested (blocking)."""
        if self._shard is None or not self._dirty:
            return
        self._shard.flush()
        self._shard.optimize()
        self._dirty = False

    def search(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
               exact: bool = False) -> list[Hit]:
        import qdrant_edge as qe

        shard = self._open()
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest([float(x) for x in np.asarray(vector).ravel()]),
            filter=_edge_filter(flt),
            with_payload=True,
            params=qe.SearchParams(hnsw_ef=self.hnsw_ef, exact=exact),
        )
        points = shard.query(request)
        sign = -1.0 if self._similarity() == "euclidean" else 1.0
        return [Hit(id=str(p.id), score=sign * float(p.score), document=_doc(p.payload)) for p in points]

    def _similarity(self) -> str:
        if self._similarity_cache is None:
            self._similarity_cache = str(json.loads((self.location / _META_FILE).read_text())["similarity"])
        return self._similarity_cache

    def delete(self, ids: Sequence[str]) -> None:
        import qdrant_edge as qe

        if ids:
            self._open().update(qe.UpdateOperation.delete_points(list(ids)))

    def count(self, flt: MetadataFilter | None = None) -> int:
        import qdrant_edge as qe

        if not self.exists():
            return 0
        return int(self._open().count(qe.CountRequest(exact=True, filter=_edge_filter(flt))))

    def close(self) -> None:
        if self._shard is not None:
            self.finish_ingest()
            self._shard.close()
            self._shard = None

    def __repr__(self) -> str:
        return f"EdgeStore(path={str(self.root)!r}, name={self.name!r}, hnsw_ef={self.hnsw_ef})"


def _edge_filter(flt: MetadataFilter | None) -> Any:
    import qdrant_edge as qe

    norm = check_filter(flt)
    if not norm:
        return None
    conditions: list[Any] = [
        qe.FieldCondition(key=f"metadata.{key}",
                          match=qe.MatchValue(values[0]) if len(values) == 1 else qe.MatchAny(values))
        for key, values in norm.items()
    ]
    return qe.Filter(must=conditions)


def _open_error(loc: Path, exc: Exception) -> StoreError:
    text = str(exc)
    if "WouldBlock" in text or "lock" in text.lower():
        return StoreUnavailableError(
            f"the embedded store at {loc} is already opened by another process (its write-ahead log is locked); "
            "close that process or use another path, or run a Qdrant server and pass its URL")
    return StoreError(f"could not open the embedded store at {loc}: {text}")
