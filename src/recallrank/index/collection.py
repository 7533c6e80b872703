"""The one Qdrant collection core both stores share, as qdrant-client's ``QdrantBase`` is shared by its local and
remote clients: everything recallrank asks of a collection is written here once (dimension and settings checks,
payload indexes planned as documents are written, filters checked against them, search parameters with
quantisation, the exact repeat of a short filtered search, the euclidean sign flip, paging, content hashes, token
vector fields and MaxSim, the BM25 field and hybrid queries (:mod:`.sparse`), the models that built the collection
and its tuning, error wrapping), over the primitives each backend implements (:class:`.embedded.store.EdgeStore`
on Qdrant Edge, :class:`.server.store.QdrantServerStore` on qdrant-client)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from recallrank.errors import CollectionMismatchError, InvalidInputError, StoreError
from recallrank.filters import Filter, as_filter, check_indexes
from recallrank.filters.qdrant import UNRECORDED
from recallrank.index.base import Hit, MetadataFilter, StoredPoint, check_points, from_payload
from recallrank.index.groups import Groups
from recallrank.index.indexes import check_index_type, plan_indexes, stamp
from recallrank.index.query import Query, dense, short_of_limit
from recallrank.index.settings import CollectionSettings, mismatches
from recallrank.index.sparse import SparseFields
from recallrank.index.tokens import TOKEN_WRITES, check_field_name, check_tokens, query_tokens, record_vectors

log = logging.getLogger(__name__)


class QdrantCollection(SparseFields, Groups, ABC):
    """A recallrank collection in Qdrant: the shared logic of both stores (see the module docstring). A backend
    implements the abstract primitives, each one call into its engine or client."""

    #: both backends hold token-vector fields (see :class:`recallrank.index.base.VectorStore`)
    supports_multivectors = True

    def __init__(self, name: str, settings: CollectionSettings | None, hnsw_ef: int | None) -> None:
        self.name = name
        #: as given; ``None`` takes an existing collection's settings, or the defaults for a new one
        self.settings = settings
        self.hnsw_ef = hnsw_ef
        #: the collection's payload indexes, path -> type (read when first needed, then kept up to date)
        self._indexed: dict[str, str] | None = None
        self._lock = threading.RLock()

    # -- what each backend provides -----------------------------------------------------------------------------
    @property
    @abstractmethod
    def where(self) -> str:
        """The collection, as messages name it (``the embedded store at ...``, ``collection 'docs' on ...``)."""

    @property
    def cli_options(self) -> str:
        """The ``recallrank`` options that name this collection, for the way out a message gives."""
        return ""

    @abstractmethod
    def wrap(self, what: str, exc: BaseException) -> StoreError:
        """The StoreError for ``exc``, raised while trying to ``what``."""

    # exists, open, close and finish_ingest: as VectorStore describes them
    @abstractmethod
    def exists(self) -> bool: ...
    @abstractmethod
    def open(self) -> None: ...
    @abstractmethod
    def close(self) -> None: ...
    @abstractmethod
    def finish_ingest(self) -> None: ...

    @abstractmethod
    def similarity(self) -> str:
        """The similarity of the existing collection."""

    @abstractmethod
    def _described(self) -> tuple[int, str] | None:
        """``(dimension, similarity)`` of the existing collection, ``None`` if there is none."""

    @abstractmethod
    def _ready(self, dimension: int, similarity: str) -> None:
        """Create the collection if it is missing; open it and check its settings (:meth:`check_settings`)."""

    @abstractmethod
    def _search_params(self, exact: bool) -> Any:
        """The backend's ``SearchParams`` (see :func:`recallrank.index.settings.search_params`)."""

    @abstractmethod
    def _compile(self, flt: Filter | None) -> Any:
        """``flt`` as the backend's filter (``None`` for none)."""

    @abstractmethod
    def _has_ids(self, ids: Sequence[str]) -> Any:
        """The backend's filter for the points ``ids``."""

    @abstractmethod
    def _lacks_vector(self, name: str) -> Any:
        """The backend's filter for the points without ``name`` vectors."""

    @abstractmethod
    def _query(self, query: Query) -> list[Any]:
        """The points (``id``, ``score``, ``payload``) that ``query`` finds, best first."""

    async def _aquery(self, query: Query) -> list[Any]:
        return await asyncio.to_thread(self._query, query)

    @abstractmethod
    def _count(self, condition: Any) -> int: ...
    @abstractmethod
    def _scroll_page(self, condition: Any, fields: Sequence[str] | None, limit: int,
                     offset: Any) -> tuple[list[Any], Any]:
        """One page of points matching ``condition`` with those payload ``fields`` (``None``: no payload), and
        the offset of the next page (``None`` after the last)."""

    @abstractmethod
    def _retrieve(self, ids: Sequence[str], fields: Sequence[str] | None, with_dense: bool | str) -> list[Any]: ...
    @abstractmethod
    def _read_indexes(self) -> dict[str, str] | None:
        """The payload indexes as the backend reports them (``None``: not known yet, ask again later)."""

    @abstractmethod
    def _make_index(self, path: str, kind: str, replace: bool) -> bool:
        """Create (or with ``replace``, replace) a payload index; whether the backend made one."""

    @abstractmethod
    def _write(self, points: Sequence[StoredPoint]) -> None: ...
    @abstractmethod
    def _remove(self, ids: Sequence[str]) -> None: ...

    def _begin_write(self) -> None:  # a hook: most backends have nothing to do
        """Called before each write (the embedded store records that a write session is under way)."""

    @abstractmethod
    def _read_fields(self) -> dict[str, int]:
        """Token-vector fields of the existing collection: name -> size."""

    @abstractmethod
    def _add_field(self, name: str, dimension: int) -> None: ...
    @abstractmethod
    def _write_tokens(self, name: str, vectors: Mapping[str, list[list[float]]]) -> None: ...
    @abstractmethod
    def _record(self) -> dict[str, Any]:
        """The collection's record of its models: ``{"bi_encoder": ..., "multivectors": {name: {"dimension",
        "model"}}}`` (keys absent where nothing was recorded)."""

    @abstractmethod
    def _update_record(self, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` into the record (top-level keys replaced, others kept)."""

    # -- shared: errors, checks ---------------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the engine or client; whatever it raises (a Rust panic is a ``BaseException``) becomes a
        StoreError saying what failed."""
        try:
            return fn(*args, **kwargs)
        except (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError, StoreError):
            raise
        except BaseException as exc:
            raise self.wrap(what, exc) from exc

    def check_settings(self, found: dict[str, Any]) -> None:
        """Refuse an existing collection whose settings (``found``, as it reports them) are not those asked for."""
        if self.settings is None:
            return
        diff = mismatches(found, self.settings)
        if diff:
            raise CollectionMismatchError(
                f"{self.where} was created with other settings ({', '.join(diff)}); leave settings out to use it "
                f"as it is, or move it to the new layout with `recallrank index --reembed --into NEW"
                f"{self.cli_options}`")

    def ensure_collection(self, dimension: int, similarity: str, model: Mapping[str, Any] | None = None) -> None:
        """Create the collection for ``dimension``-d ``similarity`` vectors, or check the existing one; ``model``
        (the bi-encoder's description) is recorded when the collection has no record of one yet."""
        have = self._described()
        if have is not None and have != (dimension, similarity):
            raise CollectionMismatchError(
                f"{self.where} holds {have[0]}-d {have[1]} vectors but the model makes {dimension}-d {similarity} "
                "ones; use the model it was built with, or another collection name")
        self._ready(dimension, similarity)  # a new collection is created with its BM25 field, and records it
        if model is not None and self._record().get("bi_encoder") is None:
            self.record_models(model)

    # -- shared: the models that built the collection -----------------------------------------------------------
    def record_models(self, bi_encoder: Mapping[str, Any], key: str = "bi_encoder") -> None:
        """Record ``bi_encoder`` (the caller's description: name, fingerprint, dimension, similarity) as the model
        that built the collection, or under ``key="tuning"`` what ``recallrank tune`` fitted for it; an earlier
        record under that key is replaced, the others (and the token-vector fields' records) are kept."""
        try:
            record = json.loads(json.dumps(dict(bi_encoder), allow_nan=False))
        except (TypeError, ValueError) as exc:  # not a mapping, or values JSON cannot hold
            raise InvalidInputError(f"the bi-encoder's description must be plain JSON values ({exc})") from exc
        if not self.exists():
            raise StoreError(f"{self.where} does not exist yet: create it with ensure_collection() first")
        self._update_record({key: record})

    def recorded_models(self) -> dict[str, Any]:
        """``{"bi_encoder": dict | None, "fields": {field: {"model": str | None, "dimension": int}}, "tuning": ...}``:
        the bi-encoder recorded for the collection (``None``: written before stores recorded it), the model of each
        token-vector field (``None`` where none was recorded) and the tuned settings (``None``: not tuned)."""
        if not self.exists():
            return {"bi_encoder": None, "fields": {}, "tuning": None}
        record = self._record()
        listed = record.get("multivectors") or {}
        return {"bi_encoder": record.get("bi_encoder"), "tuning": record.get("tuning"),
                "fields": {name: {"model": (listed.get(name) or {}).get("model"), "dimension": size}
                           for name, size in self.multivector_fields().items()}}

    # -- shared: payload indexes and filters --------------------------------------------------------------------
    def payload_indexes(self) -> dict[str, str]:
        """The collection's payload indexes: payload path (``metadata.lang``) -> type (``keyword``, ``float``,
        ``bool``, ``datetime``). Keys get one as documents are written (see
        :func:`recallrank.index.indexes.plan_indexes`); a search never makes one."""
        with self._lock:
            if self._indexed is None:
                found = self._read_indexes()
                if found is None:
                    return {}
                self._indexed = found
            return dict(self._indexed)

    def create_payload_index(self, key: str, kind: str) -> None:
        """Index the metadata ``key`` (``@doc_id`` for a field beside the metadata) as ``kind`` (``keyword``,
        ``float``, ``bool`` or ``datetime``), replacing an index of another type."""
        path, kind = check_index_type(key, kind)
        with self._lock:
            if self.payload_indexes().get(path) != kind:
                self._index(path, kind)

    def _index(self, path: str, kind: str) -> None:
        if self._make_index(path, kind, replace=path in self.payload_indexes()):
            log.info("%s: %s payload index on %s", self.where, kind, path)
            self._indexed = {**(self._indexed or {}), path: kind}

    def _filter(self, flt: MetadataFilter | None) -> Any:
        """``flt`` as the backend's filter, once checked against the payload indexes (a search writes nothing)."""
        parsed = as_filter(flt)
        check_indexes(parsed, self.payload_indexes, lambda: self._count(self._compile(UNRECORDED)), self.where)
        return self._compile(parsed)

    # -- shared: points -----------------------------------------------------------------------------------------
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        check_points(points)
        points = self.with_sparse(stamp(points))  # the record of metadata keys that exact filters read; BM25
        self._begin_write()
        with self._lock:  # payload indexes for the keys written: made here, never by a search
            for path, kind in plan_indexes(points, self.payload_indexes(), self.where).items():
                self._index(path, kind)
        self._write(points)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._begin_write()
            self._remove(list(ids))

    def count(self, flt: MetadataFilter | None = None) -> int:
        if not self.exists():
            return 0
        return self._count(self._filter(flt))

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids or not self.exists():
            return {}
        records = self._retrieve(list(ids), ["content_hash"], False)
        return {str(r.id): str((r.payload or {}).get("content_hash")) for r in records}

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids or not self.exists():
            return {}
        out = {}
        for r in self._retrieve(list(ids), None, True):
            vector, _ = record_vectors(r)
            if vector:
                out[str(r.id)] = np.asarray(vector, dtype=np.float32)
        return out

    def pages(self, condition: Any = None, fields: Sequence[str] | None = None,
              batch: int = 1000) -> Iterator[list[Any]]:
        """Every point matching the backend filter ``condition``, a page of records at a time, in id order."""
        offset = None
        while True:
            records, offset = self._scroll_page(condition, fields, batch, offset)
            yield records
            if offset is None:
                return

    def scroll(self, fields: Sequence[str], flt: MetadataFilter | None = None,
               batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.exists():
            return
        for records in self.pages(self._filter(flt), list(fields), batch):
            yield from ((str(r.id), dict(r.payload or {})) for r in records)

    # -- shared: search (one body of logic; sync and async differ only in how a query runs) ---------------------
    def _searching(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None,
                   exact: bool) -> Generator[Query, list[Any], list[Hit]]:
        condition = self._filter(flt)
        points = yield Query(dense(vector), limit, condition, self._search_params(exact))
        if short_of_limit(len(points), limit, condition, exact, lambda: self._count(condition)):
            points = yield Query(dense(vector), limit, condition, self._search_params(True))
        return self._hits(points)

    def search(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
               exact: bool = False) -> list[Hit]:
        steps = self._searching(vector, limit, flt, exact)
        try:
            query = next(steps)
            while True:
                query = steps.send(self._query(query))
        except StopIteration as done:
            return done.value

    async def asearch(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False) -> list[Hit]:
        steps = self._searching(vector, limit, flt, exact)
        try:
            query = next(steps)
            while True:
                query = steps.send(await self._aquery(query))
        except StopIteration as done:
            return done.value

    def _hits(self, points: Sequence[Any], sign: float | None = None) -> list[Hit]:
        """Hits, higher is better: Qdrant's euclidean scores are distances, so their sign is flipped."""
        if sign is None:
            sign = -1.0 if self.similarity() == "euclidean" else 1.0
        try:
            return [Hit(id=str(p.id), score=sign * float(p.score), document=from_payload(p.payload)) for p in points]
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the embedded engine decodes payloads lazily, in Rust
            raise self.wrap("read a stored payload", exc) from exc

    # -- shared: token vectors (late interaction), MaxSim computed inside Qdrant --------------------------------
    def multivector_fields(self) -> dict[str, int]:
        """The collection's token-vector fields: name -> size of each token vector."""
        return self._read_fields() if self.exists() else {}

    def ensure_multivector(self, name: str, dimension: int, model: str | None = None) -> None:
        """Add the field ``name`` (MaxSim over ``dimension``-d fp16 token vectors, no HNSW graph of its own: it
        rescores candidates), or check the existing one; ``model`` is recorded as the field's model."""
        check_field_name(name)
        have = self.multivector_fields()
        if name in have:
            if have[name] != dimension:
                raise CollectionMismatchError(
                    f"{self.where} holds {have[name]}-d '{name}' token vectors but the model makes {dimension}-d "
                    "ones; use the model it was built with or another field name")
            return
        self._add_field(name, dimension)
        listed = dict(self._record().get("multivectors") or {})
        self._update_record({"multivectors": {**listed, name: {"dimension": dimension, "model": model}}})

    def write_multivectors(self, name: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Set the ``name`` token vectors of existing points (point id -> ``(tokens, dimension)`` array)."""
        dimension = self._field(name)
        if not vectors:
            return
        checked = [(pid, check_tokens(pid, name, tokens, dimension)) for pid, tokens in vectors.items()]
        self._begin_write()
        for lo in range(0, len(checked), TOKEN_WRITES):  # as lists of Python floats a few points at a time
            self._write_tokens(name, {pid: a.tolist() for pid, a in checked[lo:lo + TOKEN_WRITES]})

    def without_multivector(self, name: str, batch: int = 256) -> Iterator[tuple[str, str]]:
        """``(point id, text)`` of every point that has no ``name`` token vectors yet."""
        self._field(name)
        for records in self.pages(self._lacks_vector(name), ["text"], batch):
            yield from ((str(r.id), str((r.payload or {}).get("text", ""))) for r in records)

    def maxsim_scores(self, name: str, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """MaxSim of the query's token vectors against each of ``ids`` (computed exactly, inside Qdrant); points
        without ``name`` vectors are absent from the result."""
        self._field(name)
        if not ids:
            return {}
        points = self._query(Query(query_tokens(query), len(ids), self._has_ids(ids), self._search_params(True),
                                   using=name, with_payload=False))
        return {str(p.id): float(p.score) for p in points}

    def search_rescored(self, name: str, vector: np.ndarray, query: np.ndarray, top_k: int, limit: int,
                        flt: MetadataFilter | None = None) -> list[Hit]:
        """Recall ``top_k`` by the dense vector, rescore them by MaxSim on ``name``, return the best ``limit`` (one
        query; ``Hit.score`` is the MaxSim score)."""
        self._field(name)
        recall = Query(dense(vector), top_k, self._filter(flt), self._search_params(False))
        return self._hits(self._query(Query(query_tokens(query), limit, using=name, prefetch=recall)), sign=1.0)

    def _field(self, name: str) -> int:
        fields = self.multivector_fields()
        if name not in fields:
            raise StoreError(f"{self.where} has no '{name}' token vectors"
                             + (f" (it has {sorted(fields)})" if fields else "")
                             + "; add them with ensure_multivector() and fill them with write_multivectors()")
        return fields[name]
