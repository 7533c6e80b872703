"""Embedded Qdrant: Qdrant's own Rust engine in-process (``qdrant-edge-py``), persistent at a path.

Lifecycle, made crash-safe:

* a collection is created in a temporary folder, with its ``recallrank.json``, then renamed into place, so a
  crash leaves either no collection or a complete one;
* ``recallrank.json`` says ``"pending": true`` before the first write of a session and records the point count
  when the HNSW build after it has finished; a store opened while pending finishes that build first, and a store
  that is not pending must hold exactly the recorded points, with a vector each, or it is reported as damaged;
* every exception out of the engine (a Rust panic included) becomes a :class:`StoreError` naming the path.

:func:`recallrank.index.doctor.check_edge` checks a store in depth and repairs what can be repaired.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.errors import CollectionMismatchError, StoreCorruptedError, StoreError, StoreUnavailableError
from recallrank.filters import as_filter, check_indexes
from recallrank.filters.qdrant import UNRECORDED, index_kinds
from recallrank.index import edge_multivector as mv
from recallrank.index.base import (
    DISTANCES,
    Hit,
    MetadataFilter,
    StoredPoint,
    ThreadedAsyncSearch,
    check_index_type,
    check_points,
    plan_indexes,
    qdrant_filter,
    short_of_limit,
    stamp,
)
from recallrank.index.base import from_payload as _doc
from recallrank.index.settings import CollectionSettings
from recallrank.index.swap import finish_swap, write_json

log = logging.getLogger(__name__)

#: HNSW defaults chosen by benchmarks/hnsw_recall.py (recall@100 vs exact >= 0.99 on the Debian corpus)
DEFAULT_HNSW_M = 16
DEFAULT_EF_CONSTRUCT = 128
DEFAULT_HNSW_EF = 256
META_FILE = "recallrank.json"
ENGINE_CONFIG = "edge_config.json"
FORMAT = 2
_SIMILARITY = {v: k for k, v in DISTANCES.items()}  # Qdrant distance name -> recallrank similarity


class WriteAheadLogError(StoreCorruptedError):
    """The engine cannot replay the collection's write-ahead log (``recallrank doctor --repair`` sets it aside)."""


class EdgeStore(ThreadedAsyncSearch):
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

    One process at a time may open a path; a second gets a :class:`StoreUnavailableError` saying so.

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
        self.root = Path(path).expanduser()
        self.name = name
        self.hnsw_ef = hnsw_ef
        self.m = m
        self.ef_construct = ef_construct
        self.full_scan_threshold_kb = full_scan_threshold_kb
        #: as given; ``None`` takes an existing collection's recorded settings, or the defaults for a new one
        self.settings = settings
        self._shard: Any = None
        self._meta: dict[str, Any] = {}
        #: the open shard's payload indexes, path -> type (read when first needed; the engine is this process's)
        self._indexed: dict[str, str] | None = None
        self._lock = threading.RLock()

    @property
    def location(self) -> Path:
        return self.root / self.name

    @property
    def meta_path(self) -> Path:
        return self.location / META_FILE

    # -- engine calls -----------------------------------------------------------------------------------------
    def engine(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call the engine; whatever it raises (a Rust panic is a ``BaseException``) becomes a StoreError."""
        try:
            return fn(*args)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:
            raise StoreError(f"the embedded store at {self.location} failed to {what} ({type(exc).__name__}: "
                             f"{_first_line(exc)}); check it with `recallrank doctor --path {self.root} "
                             f"--collection {self.name}`") from exc

    def _open(self, dimension: int | None = None, similarity: str | None = None) -> Any:
        with self._lock:
            if self._shard is not None:
                return self._shard
            meta = self.read_meta()
            if meta is None:
                if self.location.exists():
                    self._clear_leftover(self.location)  # an orphaned shard holding points is an error here
                if dimension is None or similarity is None:
                    raise StoreError(f"no collection '{self.name}' at {self.location}; index some documents first")
                self._create(dimension, similarity)
                meta = new_meta(dimension, similarity, settings=self.layout())
            self._check_settings(meta)
            self._check_engine_config(meta)
            self._shard = self._load()
            self._meta = meta
            if meta.get("pending", True):
                try:
                    self._finish()  # a previous session stopped before its index build: finish it now
                except BaseException:
                    self.close(finish=False)
                    raise
            self._verify()
            return self._shard

    def _load(self, config: Any = None) -> Any:
        """Load the shard (with ``config``: redeclaring its settings); failures become StoreErrors."""
        import qdrant_edge as qe

        try:
            return qe.EdgeShard.load(str(self.location), config)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise _open_error(self.location, exc) from exc

    def _create(self, dimension: int, similarity: str) -> None:
        """Build the shard and its metadata in a temporary folder, then rename it into place (atomic)."""
        loc = self.location
        if loc.exists():
            self._clear_leftover(loc)
        loc.parent.mkdir(parents=True, exist_ok=True)
        for stale in loc.parent.glob(f".{self.name}.creating-*"):
            shutil.rmtree(stale, ignore_errors=True)  # an earlier create that crashed; it never held data
        tmp = self.scratch("creating")
        try:
            self.create_shard(tmp, dimension, similarity).close()
            write_meta(tmp / META_FILE, new_meta(dimension, similarity, settings=self.layout()))
            os.rename(tmp, loc)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise _open_error(loc, exc) from exc

    def scratch(self, what: str) -> Path:
        """A new hidden folder name beside the collection, for building a replacement (``.name.what-pid-xxxx``)."""
        return self.location.parent / f".{self.name}.{what}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def create_shard(self, path: Path, dimension: int, similarity: str,
                     multivectors: Mapping[str, int] | None = None) -> Any:
        """A new, empty ``qdrant_edge.EdgeShard`` at ``path`` with this store's HNSW settings (and token-vector
        fields, name -> size)."""
        import qdrant_edge as qe

        return qe.EdgeShard.create(str(path), self.engine_settings(dimension, similarity, multivectors))

    def engine_settings(self, dimension: int, similarity: str, multivectors: Mapping[str, int] | None = None) -> Any:
        """The ``qdrant_edge.EdgeConfig``: the dense vector with HNSW, and token-vector (MaxSim) fields without a
        graph of their own (they rescore candidates; building HNSW over token vectors costs minutes)."""
        import qdrant_edge as qe

        layout = self.layout()
        quantization: Any = None
        if layout.quantization == "scalar":
            quantization = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99,
                                                       always_ram=layout.quantization_always_ram)
        elif layout.quantization == "binary":
            quantization = qe.BinaryQuantizationConfig(always_ram=layout.quantization_always_ram)
        dense = qe.EdgeVectorParams(size=dimension, distance=getattr(qe.Distance, DISTANCES[similarity]),
                                    on_disk=layout.on_disk or None, quantization_config=quantization)
        vectors: Any = dense
        if multivectors:
            vectors = {"": dense, **{name: qe.EdgeVectorParams(
                size=size, distance=qe.Distance.Dot, datatype=self._token_datatype(name),
                multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=self.ef_construct,
                                               full_scan_threshold=self.full_scan_threshold_kb))
                for name, size in multivectors.items()}}
        return qe.EdgeConfig(
            vectors=vectors,
            on_disk_payload=layout.on_disk_payload or None,
            hnsw_config=qe.HnswIndexConfig(m=self.m, ef_construct=self.ef_construct,
                                           full_scan_threshold=self.full_scan_threshold_kb,
                                           on_disk=layout.hnsw_on_disk or None),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.full_scan_threshold_kb),
        )

    def layout(self) -> CollectionSettings:
        """The collection's settings: as recorded when it was created (once open or readable), else as given."""
        recorded = self._meta.get("settings") if self._meta else None
        if recorded is None and self._shard is None and self.meta_path.is_file():
            try:
                recorded = (self.read_meta() or {}).get("settings")
            except StoreError:
                recorded = None
        if recorded is not None or self._meta:
            return CollectionSettings.from_dict(recorded)
        return self.settings if self.settings is not None else CollectionSettings()

    def _check_settings(self, meta: dict[str, Any]) -> None:
        if self.settings is None:
            return
        have = CollectionSettings.from_dict(meta.get("settings")).layout()
        want = self.settings.layout()
        if have != want:
            diff = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
            raise CollectionMismatchError(
                f"collection '{self.name}' at {self.root} was created with other settings ("
                + ", ".join(f"{k}={a!r}, asked {b!r}" for k, (a, b) in diff.items())
                + "); leave settings out to use it as it is, or move it to the new layout with "
                f"`recallrank index --reembed --into NEW --path {self.root} --collection {self.name}`")

    def _token_datatype(self, name: str) -> Any:
        """How field ``name`` stores its token vectors: as the engine already declares it (fields written by
        0.2's first release are fp32, and the engine refuses a config that changes them), else fp16."""
        import qdrant_edge as qe

        entry = (self.engine_vectors() or {}).get(name)
        if entry is None:  # a new field
            return qe.VectorStorageDatatype.Float16
        declared = str(entry.get("datatype") or "float32")  # the engine writes no datatype for its default, fp32
        return qe.VectorStorageDatatype.Float32 if declared.lower() == "float32" else qe.VectorStorageDatatype.Float16

    def reconfigure(self, multivectors: Mapping[str, int]) -> None:
        """Reopen the shard with its token-vector fields declared (no HNSW graph over them)."""
        with self._lock:
            self._open()
            dimension, similarity = self._meta["dimension"], self._meta["similarity"]
            self.engine("flush", self._shard.flush)
            self.engine("close", self._shard.close)
            self._shard, self._indexed = None, None
            self._shard = self._load(self.engine_settings(dimension, similarity, multivectors))

    def _clear_leftover(self, loc: Path) -> None:
        """``loc`` exists without metadata: an empty folder, or a shard a crashed 0.1 release created and never
        wrote to, is removed; anything holding points is left for ``recallrank doctor --repair``."""
        if loc.is_dir() and not any(loc.iterdir()):
            loc.rmdir()
            return
        if (loc / ENGINE_CONFIG).exists():
            shard = self._load()
            try:
                import qdrant_edge as qe

                points = int(shard.count(qe.CountRequest(exact=True)))
            finally:
                shard.close()
            if points == 0:
                shutil.rmtree(loc)
                return
            raise StoreCorruptedError(
                f"{loc} holds a Qdrant Edge shard with {points} points but no {META_FILE}; run `recallrank doctor "
                f"--repair --path {self.root} --collection {self.name}` to adopt it, or use another collection name")
        raise StoreError(f"{loc} exists and is not a recallrank collection; pass another path or collection name")

    def _complete_swap(self) -> bool:
        """Finish a swap of this collection that was stopped between its renames, exactly as its journal records it
        (:mod:`recallrank.index.swap`); returns whether there was one."""
        return finish_swap(self.location)

    def holds_orphan_shard(self) -> bool:
        """Whether the collection folder holds an engine shard but no ``recallrank.json`` (deleted, or lost)."""
        return not self.meta_path.exists() and (self.location / ENGINE_CONFIG).exists()

    def read_meta(self) -> dict[str, Any] | None:
        """The collection's ``recallrank.json`` (``None`` if there is none); unreadable ones are errors."""
        self._complete_swap()
        try:
            text = self.meta_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self.meta_path}: {exc.strerror}") from exc
        try:
            meta = json.loads(text)
            if not isinstance(meta, dict) or not isinstance(meta.get("dimension"), int) \
                    or meta.get("similarity") not in DISTANCES:
                raise ValueError("expected {'dimension': int, 'similarity': 'cosine'|'dot'|'euclidean', ...}")
            if "points" in meta and (not isinstance(meta["points"], int) or isinstance(meta["points"], bool)):
                raise ValueError("'points' must be an int")
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreCorruptedError(
                f"{self.meta_path} is damaged ({_first_line(exc)}); run `recallrank doctor --repair --path "
                f"{self.root} --collection {self.name}` to rewrite it from the engine's own config") from exc
        return meta

    def engine_vectors(self) -> dict[str, Any] | None:
        """The vector declarations of the engine's own ``edge_config.json`` (name -> settings; ``""`` is the dense
        vector), or ``None`` if it cannot be read."""
        try:
            vectors = json.loads((self.location / ENGINE_CONFIG).read_text(encoding="utf-8"))["vectors"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return vectors if isinstance(vectors, dict) else None

    def engine_config(self) -> tuple[int, str] | None:
        """(dimension, similarity) as the engine itself recorded them at creation."""
        try:
            dense = (self.engine_vectors() or {})[""]
            return int(dense["size"]), _SIMILARITY[dense["distance"]]
        except (ValueError, KeyError, TypeError):
            return None

    def engine_multivectors(self) -> dict[str, int]:
        """Token-vector fields as the engine's own config declares them: name -> size."""
        try:
            return {str(k): int(v["size"]) for k, v in (self.engine_vectors() or {}).items()
                    if k and v.get("multivector_config")}
        except (ValueError, KeyError, TypeError, AttributeError):
            return {}

    def _check_engine_config(self, meta: dict[str, Any]) -> None:
        engine = self.engine_config()
        if engine is None:
            raise StoreCorruptedError(f"{self.location / ENGINE_CONFIG} is missing or unreadable; run `recallrank "
                                      f"doctor --repair --path {self.root} --collection {self.name}` to rewrite it "
                                      f"from {META_FILE}")
        if engine != (meta["dimension"], meta["similarity"]):
            raise StoreCorruptedError(
                f"{self.meta_path} says {meta['dimension']}-d {meta['similarity']} but the engine was created for "
                f"{engine[0]}-d {engine[1]} vectors; run `recallrank doctor --repair --path {self.root} "
                f"--collection {self.name}` to rewrite it from the engine's config")

    def _verify(self) -> None:
        """A store closed cleanly must hold the points it recorded, each with its vector."""
        expected = self._meta.get("points")
        total, with_vector = self.counts()
        problems = []
        if expected is not None and total != expected:
            problems.append(f"it holds {total} points but {expected} were recorded when it was last closed")
        if with_vector != total:
            problems.append(f"{total - with_vector} of its {total} points have lost their vectors")
        if problems:
            self.close(finish=False)
            raise StoreCorruptedError(
                f"the embedded store at {self.location} is damaged: {'; '.join(problems)} (files were deleted or "
                f"truncated); run `recallrank doctor --repair --path {self.root} --collection {self.name}` to rebuild "
                "it from what can still be read")

    def counts(self) -> tuple[int, int]:
        """(points, points with a readable vector)."""
        import qdrant_edge as qe

        shard = self._shard
        total = int(self.engine("count points", shard.count, qe.CountRequest(exact=True)))
        has_vector = qe.Filter(must=[qe.HasVectorCondition("")])
        with_vector = int(self.engine("count vectors", shard.count, qe.CountRequest(exact=True, filter=has_vector)))
        return total, with_vector

    def open_unchecked(self, meta: dict[str, Any]) -> Any:
        """Open the shard without the integrity checks (for ``recallrank doctor``), taking ``meta`` as its
        metadata; returns the ``qdrant_edge.EdgeShard``."""
        with self._lock:
            self.close(finish=False)
            self._shard, self._meta = self._load(), dict(meta)
            return self._shard

    def shard(self) -> Any:
        """The opened (and checked) ``qdrant_edge.EdgeShard``; for the store's own helper modules."""
        return self._open()

    def metadata(self) -> dict[str, Any]:
        """The collection's ``recallrank.json`` as held in memory once opened (a copy)."""
        with self._lock:
            self._open()
            return dict(self._meta)

    def update_meta(self, **changes: Any) -> None:
        """Merge ``changes`` into ``recallrank.json`` and write it atomically."""
        with self._lock:
            self._open()
            self._meta = {**self._meta, **changes}
            write_meta(self.meta_path, self._meta)

    def mark_pending(self) -> None:
        """Before the first write of a session: a crash from here on is finished on the next open."""
        with self._lock:
            if not self._meta.get("pending"):
                self._meta = {**self._meta, "pending": True}
                write_meta(self.meta_path, self._meta)

    def _finish(self) -> None:
        """Flush, build the HNSW index, record the point count and clear ``pending``."""
        with self._lock:
            self.engine("flush", self._shard.flush)
            self.engine("build the HNSW index", self._shard.optimize)
            total, _ = self.counts()
            self._meta = {**self._meta, "format": FORMAT, "pending": False, "points": total}
            write_meta(self.meta_path, self._meta)

    # -- the VectorStore protocol -----------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the collection has been created at this path."""
        if self._shard is not None:
            return True
        self._complete_swap()
        # a shard without its recallrank.json still holds the user's documents: opening it says how to repair it
        return self.meta_path.exists() or self.holds_orphan_shard()

    def open(self) -> None:
        """Open (and check) the collection now: a lock held by another process or damage is reported here."""
        self._open()

    def ensure_collection(self, dimension: int, similarity: str) -> None:
        meta = self.read_meta()
        if meta is not None and (meta["dimension"], meta["similarity"]) != (dimension, similarity):
            raise CollectionMismatchError(
                f"collection '{self.name}' at {self.location} holds {meta['dimension']}-d {meta['similarity']} "
                f"vectors but the model makes {dimension}-d {similarity} ones; use the model it was built with, "
                "another collection name, or delete that folder to rebuild")
        self._open(dimension, similarity)

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids or not self.exists():
            return {}
        shard = self._open()
        records = self.engine("retrieve points", shard.retrieve, list(ids), ["content_hash"], False)
        return {str(r.id): str((r.payload or {}).get("content_hash")) for r in records}

    # -- token vectors: the MaxSim multivector fields of recallrank.index.edge_multivector -------------------------
    def multivector_fields(self) -> dict[str, int]:
        return mv.multivector_fields(self)

    def ensure_multivector(self, name: str, dimension: int, model: str | None = None) -> None:
        mv.ensure_multivector(self, name, dimension, model)

    def write_multivectors(self, name: str, vectors: Mapping[str, np.ndarray]) -> None:
        mv.write_multivectors(self, name, vectors)

    def without_multivector(self, name: str, batch: int = 256) -> Iterator[tuple[str, str]]:
        return mv.without_multivector(self, name, batch)

    def maxsim_scores(self, name: str, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        return mv.maxsim_scores(self, name, query, ids)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        from recallrank.index.edge_multivector import record_vectors

        if not ids or not self.exists():
            return {}
        records = self.engine("read vectors", self._open().retrieve, list(ids), False, [""])  # dense only
        dense = {str(r.id): record_vectors(r)[0] for r in records}
        return {pid: np.asarray(v, dtype=np.float32) for pid, v in dense.items() if v}

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        import qdrant_edge as qe

        if not points:
            return
        check_points(points)
        points = stamp(points)  # the record of metadata keys that exact filters read
        ops = [qe.Point(id=p.id, vector=np.asarray(p.vector, dtype=np.float32).tolist(), payload=p.payload)
               for p in points]
        shard = self._open()
        self.mark_pending()
        with self._lock:  # payload indexes for the keys written: made here, never by a search
            for path, kind in plan_indexes(points, self.payload_indexes(), str(self.location)).items():
                self._index(path, kind)
        self.engine("write points", shard.update, qe.UpdateOperation.upsert_points(ops))

    def finish_ingest(self) -> None:
        """Flush and build the HNSW index over what was written (blocking); records the new point count."""
        if self._shard is not None and self._meta.get("pending"):
            self._finish()

    def scroll(self, fields: Sequence[str], flt: MetadataFilter | None = None,
               batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        import qdrant_edge as qe

        if not self.exists():
            return
        shard, offset = self._open(), None
        condition = self._filter(shard, flt)
        while True:
            request = qe.ScrollRequest(offset=offset, limit=batch, filter=condition,
                                       with_payload=list(fields), with_vector=False)
            records, offset = self.engine("read payloads", shard.scroll, request)
            yield from ((str(r.id), dict(r.payload or {})) for r in records)
            if offset is None:
                return

    def search(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
               exact: bool = False) -> list[Hit]:
        import qdrant_edge as qe

        shard = self._open()
        condition = self._filter(shard, flt)

        def query(exhaustive: bool) -> Any:
            return self.engine("search", shard.query, qe.QueryRequest(
                limit=limit, query=qe.Query.Nearest([float(x) for x in np.asarray(vector).ravel()]),
                filter=condition, with_payload=True, params=self._search_params(exhaustive)))

        points = query(exact)
        if short_of_limit(len(points), limit, condition, exact, lambda: self.engine(
                "count", shard.count, qe.CountRequest(exact=True, filter=condition))):
            points = query(True)
        sign = -1.0 if self._meta["similarity"] == "euclidean" else 1.0
        try:
            return [Hit(id=str(p.id), score=sign * float(p.score), document=_doc(p.payload)) for p in points]
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the payload is decoded lazily, in Rust
            raise StoreError(f"the embedded store at {self.location} holds a payload it cannot read "
                             f"({_first_line(exc)}); run `recallrank doctor --path {self.root} --collection "
                             f"{self.name}`") from exc

    def _search_params(self, exact: bool) -> Any:
        import qdrant_edge as qe

        layout = self.layout()
        if layout.quantization is None:
            return qe.SearchParams(hnsw_ef=self.hnsw_ef, exact=exact)
        if exact:  # exact means the original vectors: Qdrant would otherwise scan the quantised codes
            return qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
        asked = self.settings if self.settings is not None else layout  # search-time choices are the caller's
        return qe.SearchParams(hnsw_ef=self.hnsw_ef, quantization=qe.QuantizationSearchParams(
            rescore=asked.rescore, oversampling=asked.search_oversampling()))

    def delete(self, ids: Sequence[str]) -> None:
        import qdrant_edge as qe

        if ids:
            shard = self._open()
            self.mark_pending()
            self.engine("delete points", shard.update, qe.UpdateOperation.delete_points(list(ids)))

    def count(self, flt: MetadataFilter | None = None) -> int:
        import qdrant_edge as qe

        if not self.exists():
            return 0
        shard = self._open()
        condition = self._filter(shard, flt)
        return int(self.engine("count points", shard.count, qe.CountRequest(exact=True, filter=condition)))

    def _filter(self, shard: Any, flt: MetadataFilter | None) -> Any:
        """``flt`` as qdrant-edge's filter, once checked against the payload indexes (a search writes nothing)."""
        import qdrant_edge as qe

        def unrecorded() -> int:
            request = qe.CountRequest(exact=True, filter=_edge_filter(UNRECORDED))
            return int(self.engine("count points without a metadata record", shard.count, request))

        parsed = as_filter(flt)
        check_indexes(parsed, self.payload_indexes, unrecorded, f"the embedded store at {self.location}")
        return _edge_filter(parsed)

    def payload_indexes(self) -> dict[str, str]:
        """The collection's payload indexes: payload path (``metadata.lang``) -> type (``keyword``, ``float``,
        ``bool``, ``datetime``). Keys get one as documents are written (see
        :func:`recallrank.index.base.plan_indexes`); a search never makes one."""
        with self._lock:
            if self._indexed is None:
                shard = self._open()
                self._indexed = index_kinds(self.engine("read the payload indexes", shard.info).payload_schema)
            return dict(self._indexed)

    def create_payload_index(self, key: str, kind: str) -> None:
        """Index the metadata ``key`` (``@doc_id`` for a field beside the metadata) as ``kind`` (``keyword``,
        ``float``, ``bool`` or ``datetime``), replacing an index of another type."""
        path, kind = check_index_type(key, kind)
        with self._lock:
            if self.payload_indexes().get(path) != kind:
                self._index(path, kind)

    def _index(self, path: str, kind: str) -> None:
        import qdrant_edge as qe

        schema = getattr(qe.PayloadSchemaType, kind.capitalize())
        self.engine("create a payload index", self._open().update, qe.UpdateOperation.create_field_index(path, schema))
        log.info("%s: %s payload index on %s", self.location, kind, path)
        self._indexed = {**(self._indexed or {}), path: kind}

    def close(self, finish: bool = True) -> None:
        with self._lock:
            if self._shard is not None:
                if finish:
                    self.finish_ingest()
                self.engine("close", self._shard.close)
                self._shard, self._indexed = None, None

    def __repr__(self) -> str:
        return f"EdgeStore(path={str(self.root)!r}, name={self.name!r}, hnsw_ef={self.hnsw_ef})"


def new_meta(dimension: int, similarity: str, points: int = 0,
             settings: CollectionSettings | None = None) -> dict[str, Any]:
    meta = {"format": FORMAT, "dimension": dimension, "similarity": similarity, "points": points, "pending": False}
    layout = settings.to_dict() if settings is not None else {}
    if layout:  # only what differs from the defaults: a default collection's file reads as before
        meta["settings"] = {k: v for k, v in layout.items() if k not in ("rescore", "oversampling")}
    return meta


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write ``recallrank.json`` atomically: a temporary file, fsync, then rename over the old one."""
    write_json(path, meta)


def _edge_filter(flt: MetadataFilter | None) -> Any:
    import qdrant_edge as qe

    # qdrant-edge reads a Python bool as the integer 1/0 (bool is an int); numpy's bool reaches it as a bool
    return qdrant_filter(flt, qe, lambda v: np.bool_(v) if isinstance(v, bool) else v)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _open_error(loc: Path, exc: BaseException) -> StoreError:
    text = str(exc)
    if "WouldBlock" in text or "lock" in text.lower():
        return StoreUnavailableError(
            f"the embedded store at {loc} is already opened by another process (its write-ahead log is locked); "
            "close that process or use another path, or run a Qdrant server and pass its URL")
    if isinstance(exc, PermissionError) or "Permission denied" in text or "Read-only" in text:
        return StoreError(
            f"cannot open the embedded store at {loc}: {_first_line(exc)}. Qdrant Edge needs write access to the "
            "folder even to search (it locks and replays its write-ahead log); copy the store to a writable folder")
    if "WAL" in text:
        return WriteAheadLogError(
            f"the embedded store at {loc} cannot replay its write-ahead log ({_first_line(exc)}); run `recallrank "
            f"doctor --repair --path {loc.parent} --collection {loc.name}`: it sets the log aside (kept) and opens "
            "the stored segments, then says whether anything written since the last completed ingest is missing")
    return StoreError(f"could not open the embedded store at {loc}: {_first_line(exc)}")
