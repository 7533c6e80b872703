"""Reading every point of an embedded shard, part by part, and rebuilding the collection beside it.

A point has parts stored in separate files: its payload (text and metadata), its dense vector and one token-vector
field per late-interaction stage. Damage to one file must not cost the others, so a point whose full read fails is
read again part by part, and only the parts that fail are lost (:class:`StoredParts`). The rebuild
(:func:`rebuild_and_swap`) writes what was read into a new shard beside the collection and swaps it in through
:func:`recallrank.index.embedded.swap.swap`; it is used by ``recallrank doctor --repair`` and
``recallrank index --reembed``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recallrank.index.embedded.meta import META_FILE, fields_meta, new_meta, write_meta
from recallrank.index.embedded.swap import journal_path, swap
from recallrank.index.settings import CollectionSettings
from recallrank.index.tokens import record_vectors

if TYPE_CHECKING:
    from recallrank.index.embedded.store import EdgeStore

PAYLOAD = "payload"
DENSE = "dense vector"


@dataclass
class StoredParts:
    """What could be read of one point. ``lost`` names the parts whose files could not be decoded: ``"payload"``,
    ``"dense vector"`` or a token-vector field name."""

    id: Any
    payload: dict[str, Any] | None
    dense: list[float] | None
    named: dict[str, Any] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)

    @property
    def text_readable(self) -> bool:
        return self.payload is not None and isinstance(self.payload.get("text"), str)


def read_points(store: EdgeStore, shard: Any, fields: Sequence[str], batch: int = 256) -> Iterator[list[StoredParts]]:
    """Every point of ``shard``, ``batch`` at a time; a batch that fails to decode is split down to single points,
    and a single point is read part by part (payload, dense vector, each of ``fields``)."""
    for records in store.pages(None, None, batch):  # the store's own shard: ``shard`` is the one it holds open
        yield _read(shard, [r.id for r in records], fields)


def _read(shard: Any, ids: Sequence[Any], fields: Sequence[str]) -> list[StoredParts]:
    if not ids:
        return []
    try:
        out = []
        for r in shard.retrieve(list(ids), True, True):
            dense, named = record_vectors(r)
            out.append(StoredParts(r.id, dict(r.payload or {}), dense, named))
        return out
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        if len(ids) == 1:
            return [_read_parts(shard, ids[0], fields)]
        mid = len(ids) // 2
        return _read(shard, ids[:mid], fields) + _read(shard, ids[mid:], fields)


def _read_parts(shard: Any, pid: Any, fields: Sequence[str]) -> StoredParts:
    """One point whose full read failed, part by part."""
    point = StoredParts(pid, None, None)

    def one(with_payload: bool, vectors: Any) -> Any:
        try:
            records = shard.retrieve([pid], with_payload, vectors)
            return records[0] if records else None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            return None

    record = one(True, False)
    if record is None:
        point.lost.add(PAYLOAD)
    else:
        point.payload = dict(record.payload or {})
    for name in ("", *fields):
        record = one(False, [name])
        if record is None:
            point.lost.add(name or DENSE)
            continue
        dense, named = record_vectors(record)
        if name:
            if name in named:
                point.named[name] = named[name]
        else:
            point.dense = dense
    return point


#: a batch of points -> the dense vector to write for each (``None`` leaves the point out)
Dense = Callable[[list[StoredParts]], Sequence[Any]]


def rebuild_and_swap(store: EdgeStore, old: Any, dimension: int, similarity: str, meta: dict[str, Any],
                     dense: Dense, label: str, progress: Callable[[int], Any] | None = None,
                     refuse: Callable[[list[StoredParts]], None] | None = None) -> tuple[str, int]:
    """Rebuild the collection beside itself from the shard ``old`` (see :func:`build_beside`), close the store and
    swap the rebuild in, the old folder kept as ``.NAME.<label>-<time>-...``; returns (that folder, points written).

    ``refuse`` sees the points that had a part that could not be read, after the build; raising there stops the
    swap. Whatever stops the work before the swap's journal is written (an error, Ctrl-C) removes the rebuild."""
    tmp = store.scratch("rebuild")
    try:
        damaged: list[StoredParts] = []
        total = build_beside(store, old, tmp, dimension, similarity, meta, dense, damaged, progress)
        if refuse is not None:
            refuse(damaged)
        store.close(finish=False)
        backup = store.scratch(f"{label}-{time.strftime('%Y%m%d-%H%M%S')}")
        swap(store.location, tmp, backup)
    except BaseException:
        if not _journal_names(store, tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(backup), total


def _journal_names(store: EdgeStore, folder: Path) -> bool:
    try:
        return folder.name in journal_path(store.location).read_text(encoding="utf-8")
    except OSError:
        return False


def build_beside(store: EdgeStore, old: Any, tmp: Path, dimension: int, similarity: str, meta: dict[str, Any],
                 dense: Dense, damaged: list[StoredParts], progress: Callable[[int], Any] | None = None) -> int:
    """Stream every point of the shard ``old`` into a new shard at ``tmp``, with the dense vectors ``dense(batch)``
    gives and the token vectors that could be read; returns the points written. Points with a part that could
    not be read are appended to ``damaged``. On any error the new folder is removed."""
    import qdrant_edge as qe

    fields = store.engine_multivectors()  # token-vector fields, as the old store had them
    sparse = tuple(store.engine_sparse())  # and its BM25 field, whose vectors are copied as they are
    shard = store.engine("create the rebuilt store", store.create_shard, tmp, dimension, similarity, fields, sparse)
    try:
        _copy_payload_indexes(store, old, shard)
        for batch in read_points(store, old, list(fields)):
            points = []
            damaged.extend(p for p in batch if p.lost)
            for p, vector in zip(batch, dense(batch), strict=True):
                if vector is None:
                    continue
                vector = vector.tolist() if isinstance(vector, np.ndarray) else vector
                named = {k: v for k, v in p.named.items() if k in fields or k in sparse}
                points.append(qe.Point(id=p.id, vector={"": vector, **named} if named else vector,
                                       payload=p.payload))
            if points:
                store.engine("write the rebuilt store", shard.update, qe.UpdateOperation.upsert_points(points))
            if progress is not None:
                progress(len(points))
        store.engine("flush the rebuilt store", shard.flush)
        store.engine("index the rebuilt store", shard.optimize)
        total = int(store.engine("count the rebuilt store", shard.count, qe.CountRequest(exact=True)))
    except BaseException:
        shard.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shard.close()
    rebuilt = new_meta(dimension, similarity, total, settings=CollectionSettings.from_dict(meta.get("settings")))
    if fields:
        rebuilt["multivectors"] = fields_meta(fields, meta.get("multivectors") or {})
    if sparse and meta.get("sparse"):
        rebuilt["sparse"] = meta["sparse"]
    for key in ("bi_encoder", "tuning"):  # the model that made the vectors written, and what was tuned for it
        if meta.get(key) is not None:
            rebuilt[key] = meta[key]
    write_meta(tmp / META_FILE, rebuilt)
    return total


def _copy_payload_indexes(store: EdgeStore, old: Any, new: Any) -> None:
    """The payload indexes of ``old``, created on ``new`` (filtered search stays as fast after a rebuild)."""
    import qdrant_edge as qe

    try:
        schema = dict(old.info().payload_schema or {})
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a damaged shard may not say: the rebuild is still right, only filters are slower
        return
    for path, info in schema.items():
        store.engine("create a payload index", new.update, qe.UpdateOperation.create_field_index(path, info.data_type))
