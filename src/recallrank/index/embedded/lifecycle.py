"""The crash-safe lifecycle of an embedded collection (see :mod:`recallrank.index.embedded.store`): creating it
in a temporary folder and renaming it into place, opening it (finishing an interrupted swap or HNSW build,
checking ``recallrank.json`` against the engine's config and the points against the recorded count), recording
write sessions, and reopening the shard with its token-vector fields declared."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import recallrank.index.embedded.engine as eng
import recallrank.index.embedded.meta as files
from recallrank.errors import StoreCorruptedError, StoreError
from recallrank.index.collection import QdrantCollection
from recallrank.index.embedded.meta import ENGINE_CONFIG, FORMAT, META_FILE, first_line, new_meta, write_meta
from recallrank.index.embedded.swap import finish_swap
from recallrank.index.settings import CollectionSettings
from recallrank.index.sparse import FIELD, bm25_record


class EmbeddedCollection(QdrantCollection):
    """The lifecycle half of :class:`~recallrank.index.embedded.store.EdgeStore` (which adds the primitives)."""

    root: Path
    m: int
    ef_construct: int
    full_scan_threshold_kb: int
    _shard: Any
    _meta: dict[str, Any]
    _lock: threading.RLock

    @property
    def location(self) -> Path:
        return self.root / self.name

    @property
    def meta_path(self) -> Path:
        return self.location / META_FILE

    @property
    def where(self) -> str:
        return f"the embedded store at {self.location}"

    @property
    def cli_options(self) -> str:
        return f" --path {self.root} --collection {self.name}"

    def wrap(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(f"the embedded store at {self.location} failed to {what} ({type(exc).__name__}: "
                          f"{first_line(exc)}); check it with `recallrank doctor{self.cli_options}`")

    def engine(self, what: str, fn: Any, *args: Any) -> Any:
        """Call the engine; whatever it raises (a Rust panic is a ``BaseException``) becomes a StoreError."""
        return self.call(what, fn, *args)

    # -- opening, creating, reconfiguring the shard -------------------------------------------------------------
    def _load(self, config: Any = None) -> Any:
        """Load the shard (with ``config``: redeclaring its settings); failures become StoreErrors. Another store
        object of this process holding the folder open is refused first (the engine would blame another process)."""
        import qdrant_edge as qe

        loc = self.location
        eng.hold(loc, self)
        try:
            return qe.EdgeShard.load(str(loc), config)
        except (KeyboardInterrupt, SystemExit):
            eng.release(loc, self)
            raise
        except BaseException as exc:
            eng.release(loc, self)
            raise eng.open_error(loc, exc) from exc

    def _release(self) -> None:
        eng.release(self.location, self)

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
            self.create_shard(tmp, dimension, similarity, sparse=(FIELD,)).close()  # with its BM25 field
            write_meta(tmp / META_FILE, {**new_meta(dimension, similarity, settings=self.layout()),
                                         "sparse": {FIELD: bm25_record()}})
            os.rename(tmp, loc)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise eng.open_error(loc, exc) from exc

    def scratch(self, what: str) -> Path:
        """A new hidden folder name beside the collection, for building a replacement (``.name.what-pid-xxxx``)."""
        return self.location.parent / f".{self.name}.{what}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def create_shard(self, path: Path, dimension: int, similarity: str,
                     multivectors: Mapping[str, int] | None = None, sparse: tuple[str, ...] | None = None) -> Any:
        """A new, empty ``qdrant_edge.EdgeShard`` at ``path`` with this store's HNSW settings (and token-vector
        fields, name -> size; ``sparse`` fields, ``None``: those this collection's engine declares)."""
        import qdrant_edge as qe

        return qe.EdgeShard.create(str(path), self.engine_settings(dimension, similarity, multivectors, sparse))

    def engine_settings(self, dimension: int, similarity: str, multivectors: Mapping[str, int] | None = None,
                        sparse: tuple[str, ...] | None = None) -> Any:
        """The ``qdrant_edge.EdgeConfig`` for this store (see :func:`recallrank.index.embedded.engine.edge_config`);
        each token-vector field keeps the storage type the engine declares for it, and the sparse fields it
        declares are kept (``sparse``: these instead)."""
        declared = self.engine_vectors() or {}
        fields = {name: (size, eng.token_datatype(declared.get(name), self.layout().token_storage))
                  for name, size in (multivectors or {}).items()}
        kept = tuple(self.engine_sparse()) if sparse is None else sparse
        return eng.edge_config(self.layout(), dimension, similarity, self.m, self.ef_construct,
                               self.full_scan_threshold_kb, fields, kept)

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
                self._release()
            if points == 0:
                shutil.rmtree(loc)
                return
            raise StoreCorruptedError(
                f"{loc} holds a Qdrant Edge shard with {points} points but no {META_FILE}; run `recallrank doctor "
                f"--repair{self.cli_options}` to adopt it, or use another collection name")
        raise StoreError(f"{loc} exists and is not a recallrank collection; pass another path or collection name")

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

    def counts(self) -> tuple[int, int]:
        """(points, points with a readable vector)."""
        import qdrant_edge as qe

        shard = self._shard
        total = int(self.engine("count points", shard.count, qe.CountRequest(exact=True)))
        has_vector = qe.Filter(must=[qe.HasVectorCondition("")])
        with_vector = int(self.engine("count vectors", shard.count, qe.CountRequest(exact=True, filter=has_vector)))
        return total, with_vector

    def close(self, finish: bool = True) -> None:
        with self._lock:
            if self._shard is not None:
                if finish:
                    self.finish_ingest()
                self.engine("close", self._shard.close)
                self._shard, self._indexed = None, None
                self._release()


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
                meta = self.read_meta() or new_meta(dimension, similarity, settings=self.layout())
            self.check_settings(CollectionSettings.from_dict(meta.get("settings")).layout())
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

    def _complete_swap(self) -> bool:
        """Finish a swap of this collection that was stopped between its renames, exactly as its journal records it
        (:mod:`recallrank.index.embedded.swap`); returns whether there was one."""
        return finish_swap(self.location)

    def holds_orphan_shard(self) -> bool:
        """Whether the collection folder holds an engine shard but no ``recallrank.json`` (deleted, or lost)."""
        return not self.meta_path.exists() and (self.location / ENGINE_CONFIG).exists()

    def read_meta(self) -> dict[str, Any] | None:
        """The collection's ``recallrank.json`` (``None`` if there is none); unreadable ones are errors."""
        self._complete_swap()
        return files.read_meta(self.meta_path, f"recallrank doctor --repair{self.cli_options}")

    def engine_vectors(self) -> dict[str, Any] | None:
        """The vector declarations of the engine's own ``edge_config.json`` (name -> settings; ``""`` is the dense
        vector), or ``None`` if it cannot be read."""
        return files.engine_vectors(self.location)

    def engine_sparse(self) -> dict[str, Any]:
        """The sparse fields the engine's own ``edge_config.json`` declares (name -> settings)."""
        return files.engine_sparse(self.location)

    def engine_config(self) -> tuple[int, str] | None:
        """(dimension, similarity) as the engine itself recorded them at creation."""
        return files.engine_config(self.location)

    def engine_multivectors(self) -> dict[str, int]:
        """Token-vector fields as the engine's own config declares them: name -> size."""
        return files.engine_multivectors(self.location)

    def _check_engine_config(self, meta: dict[str, Any]) -> None:
        engine = self.engine_config()
        repair = f"`recallrank doctor --repair{self.cli_options}`"
        if engine is None:
            raise StoreCorruptedError(f"{self.location / ENGINE_CONFIG} is missing or unreadable; run {repair} to "
                                      f"rewrite it from {META_FILE}")
        if engine != (meta["dimension"], meta["similarity"]):
            raise StoreCorruptedError(
                f"{self.meta_path} says {meta['dimension']}-d {meta['similarity']} but the engine was created for "
                f"{engine[0]}-d {engine[1]} vectors; run {repair} to rewrite it from the engine's config")

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
                f"truncated); run `recallrank doctor --repair{self.cli_options}` to rebuild it from what can still "
                "be read")

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

    def exists(self) -> bool:
        """Whether the collection has been created at this path."""
        if self._shard is not None:
            return True
        self._complete_swap()
        # a shard without its recallrank.json still holds the user's documents: opening it says how to repair it
        return self.meta_path.exists() or self.holds_orphan_shard()

    def open(self) -> None:
        """Open (and check) the collection now: a lock held elsewhere or damage is reported here."""
        self._open()

    def finish_ingest(self) -> None:
        """Flush and build the HNSW index over what was written (blocking); records the new point count."""
        if self._shard is not None and self._meta.get("pending"):
            self._finish()
