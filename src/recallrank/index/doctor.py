"""``recallrank doctor``: check an embedded store in depth and repair what can be repaired.

Checks: ``recallrank.json`` against the engine's own config, that the shard opens, the point count against the
count recorded when the store was last closed, that every point has a readable vector and a readable payload with
text, and that the last HNSW build finished.

Repairs never write into a damaged shard (a failed write would land in its write-ahead log and be replayed on
every open): metadata is rewritten from the engine's config; a shard with unreadable points is rebuilt into a new
folder from everything that can be read (lost vectors re-embedded from the stored text when an encoder is given),
swapped into place, and the damaged folder kept beside it as ``.NAME.damaged-*``; an unfinished index build is
finished; the new point count is recorded.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.errors import StoreError
from recallrank.index.base import from_payload
from recallrank.index.edge import META_FILE, EdgeStore, new_meta, write_meta
from recallrank.index.edge_multivector import record_vectors
from recallrank.index.settings import CollectionSettings

#: texts -> vectors; used to rebuild lost vectors from the stored text
Embed = Callable[[list[str]], Any]


@dataclass
class Finding:
    """One problem found, what ``--repair`` does about it, and whether it was done."""

    problem: str
    fix: str = ""
    repaired: bool = False


@dataclass
class DoctorReport:
    location: str
    points: int | None = None
    findings: list[Finding] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)
    backup: str | None = None

    @property
    def healthy(self) -> bool:
        return all(f.repaired for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "points": self.points, "healthy": self.healthy,
                "findings": [vars(f) for f in self.findings], "lost_ids": self.lost_ids, "backup": self.backup}


@dataclass
class _Scan:
    """What a pass over every point found (the points themselves are streamed, never held)."""

    unreadable: list[str] = field(default_factory=list)
    #: (id, payload) of readable points without a dense vector
    no_vector: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)


def check_edge(store: EdgeStore, repair: bool = False, embed: Embed | None = None) -> DoctorReport:
    """Check ``store`` and, with ``repair=True``, repair it (see the module docstring).

    Args:
        embed: rebuilds lost vectors from the stored text (it must make vectors of the store's size); without
            it such points are left out of the rebuilt store and their ids listed.
    """
    report = DoctorReport(str(store.location))
    store.close(finish=False)
    if not store.location.exists():
        raise StoreError(f"no collection '{store.name}' at {store.location}; nothing to check")
    engine = store.engine_config()
    if engine is None:
        raise StoreError(f"{store.location} is not a Qdrant Edge shard (no readable edge_config.json); restore it "
                         "from a backup or rebuild the index")
    meta, meta_damaged = _check_meta(store, engine, report)
    shard = store.open_unchecked(meta)  # the checks below must run even where a normal open refuses
    try:
        scan = _scan(store, shard)
        total, with_vector = store.counts()
    except BaseException:
        store.close(finish=False)
        raise
    recorded = meta.get("points")
    if recorded is not None and not meta.get("pending", True) and recorded != total:
        lost = recorded - total
        report.findings.append(Finding(
            f"{total} points stored but {recorded} were recorded when the store was last closed "
            f"({abs(lost)} {'lost' if lost > 0 else 'unaccounted for'}: files were deleted or replaced)",
            "record the new count; index your sources again to restore lost documents"))
    if scan.unreadable:
        report.findings.append(Finding(f"{len(scan.unreadable)} points have a payload that cannot be read",
                                       "rebuild the store without them (ids listed); index their sources again"))
    missing = max(len(scan.no_vector), total - with_vector)
    if missing:
        report.findings.append(Finding(
            f"{missing} points have lost their vectors",
            "rebuild the store, re-embedding them from their stored text" if embed is not None else
            "rebuild the store without them (ids listed); index their sources again"))
    if meta.get("pending", True) and not meta_damaged and "points" in meta:
        report.findings.append(Finding("the last write session stopped before its HNSW index build finished",
                                       "finish the build"))
    if not repair or not report.findings:
        report.points = total
        store.close(finish=False)
        return report
    if scan.unreadable or missing:
        try:
            tmp, report.points = _rebuild(store, shard, meta, scan, embed, report)
        finally:
            store.close(finish=False)
        report.backup = swap(store, tmp)
    else:
        if meta_damaged:
            write_meta(store.meta_path, meta)
        fields = store.engine_multivectors()
        if fields:
            store.reconfigure(fields)
        store.mark_pending()
        store.finish_ingest()  # finishes the build and records the count
        report.points = store.counts()[0]
        store.close(finish=False)
    for f in report.findings:
        f.repaired = True
    return report


def _check_meta(store: EdgeStore, engine: tuple[int, str], report: DoctorReport) -> tuple[dict[str, Any], bool]:
    """The metadata to use (rebuilt from the engine's config if damaged) and whether it was damaged."""
    fields = store.engine_multivectors()
    try:
        meta = store.read_meta()
    except StoreError as exc:
        report.findings.append(Finding(str(exc).split("; run")[0], f"rewrite {META_FILE} from the engine's config"))
        meta = None
    if meta is None:
        if not report.findings:
            report.findings.append(Finding(f"{store.meta_path} is missing", "write it from the engine's config"))
        fresh = {**new_meta(*engine), "pending": True}
        del fresh["points"]
        if fields:
            fresh["multivectors"] = _fields_meta(fields, {})
        return fresh, True
    damaged = False
    if (meta["dimension"], meta["similarity"]) != engine:
        report.findings.append(Finding(
            f"{META_FILE} says {meta['dimension']}-d {meta['similarity']} but the engine holds {engine[0]}-d "
            f"{engine[1]} vectors", f"rewrite {META_FILE} from the engine's config"))
        meta, damaged = {**meta, "dimension": engine[0], "similarity": engine[1], "pending": True}, True
    listed = meta.get("multivectors") or {}
    if {k: v.get("dimension") for k, v in listed.items()} != fields:
        report.findings.append(Finding(
            f"{META_FILE} lists token-vector fields {sorted(listed)} but the engine holds {sorted(fields)}",
            "record the engine's fields"))
        meta = {**meta, "multivectors": _fields_meta(fields, listed), "pending": True}
        damaged = True
    return meta, damaged


def _scan(store: EdgeStore, shard: Any) -> _Scan:
    """Ids whose payload cannot be read, and readable points that lost their dense vector."""
    scan = _Scan()
    for batch in _batches(store, shard, scan.unreadable):
        for pid, vector, payload, _ in batch:
            if not isinstance(payload.get("text"), str):
                scan.unreadable.append(str(pid))
            elif vector is None:
                scan.no_vector.append((pid, payload))
    return scan


def _batches(store: EdgeStore, shard: Any, unreadable: list[str]) -> Iterator[list[tuple[Any, Any, dict, dict]]]:
    """Every point, 256 at a time, as (id, dense vector or None, payload, named vectors); points that cannot be
    decoded are appended to ``unreadable`` instead."""
    import qdrant_edge as qe

    offset = None
    while True:
        ids, offset = store.engine("list points", shard.scroll,
                                   qe.ScrollRequest(offset=offset, limit=256, with_payload=False, with_vector=False))
        yield _records(shard, [r.id for r in ids], unreadable)
        if offset is None:
            return


def _records(shard: Any, ids: Sequence[Any], unreadable: list[str]) -> list[tuple[Any, Any, dict, dict]]:
    """(id, dense vector or None, payload, named vectors) of ``ids``; a batch that fails to decode is split until
    the bad points are found."""
    if not ids:
        return []
    try:
        out = []
        for r in shard.retrieve(list(ids), True, True):
            dense, named = record_vectors(r)
            out.append((r.id, dense, dict(r.payload or {}), named))
        return out
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        if len(ids) == 1:
            unreadable.append(str(ids[0]))
            return []
        mid = len(ids) // 2
        return _records(shard, ids[:mid], unreadable) + _records(shard, ids[mid:], unreadable)


def _rebuild(store: EdgeStore, old: Any, meta: dict[str, Any], scan: _Scan, embed: Embed | None,
             report: DoctorReport) -> tuple[Path, int]:
    """Stream every readable point of ``old`` into a new shard beside it; (its folder, points written). ``meta``
    is the metadata as checked against the engine's config."""
    dimension, similarity = meta["dimension"], meta["similarity"]
    lost = {str(pid): payload for pid, payload in scan.no_vector}
    new_vectors: dict[str, list[float]] = {}
    if lost and embed is not None:
        items = list(lost.items())
        for lo in range(0, len(items), 256):
            chunk = items[lo:lo + 256]
            vectors = np.asarray(embed([from_payload(p).text for _, p in chunk]), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != dimension:
                raise StoreError(f"the bi-encoder makes {vectors.shape[-1]}-d vectors but the store at "
                                 f"{store.location} holds {dimension}-d ones; pass the --bi-encoder it was built with")
            new_vectors.update({pid: v.tolist() for (pid, _), v in zip(chunk, vectors, strict=True)})
    skip = set(scan.unreadable)
    report.lost_ids.extend(scan.unreadable)
    report.lost_ids.extend(pid for pid in lost if pid not in new_vectors)

    def dense(batch: list[tuple[Any, Any, dict, dict]]) -> list[Any]:
        return [None if str(pid) in skip else vector if vector is not None else new_vectors.get(str(pid))
                for pid, vector, _, _ in batch]

    return build_beside(store, old, dimension, similarity, meta, dense, [])


def build_beside(store: EdgeStore, old: Any, dimension: int, similarity: str, meta: dict[str, Any],
                 dense: Callable[[list[tuple[Any, Any, dict, dict]]], Sequence[Any]], unreadable: list[str],
                 progress: Callable[[int], Any] | None = None) -> tuple[Path, int]:
    """Stream every point of the shard ``old`` into a new shard beside the store, with the dense vectors
    ``dense(batch)`` gives (``None`` leaves a point out) and the token vectors it had; returns (its folder, points
    written). Points that cannot be decoded go to ``unreadable``. On any error the new folder is removed."""
    import qdrant_edge as qe

    fields = store.engine_multivectors()  # token-vector fields, as the old store had them
    tmp = store.scratch("rebuild")  # the name an interrupted swap is completed from
    shard = store.engine("create the rebuilt store", store.create_shard, tmp, dimension, similarity, fields)
    try:
        for batch in _batches(store, old, unreadable):
            points = []
            for (pid, _, payload, named), vector in zip(batch, dense(batch), strict=True):
                if vector is None:
                    continue
                vector = vector.tolist() if isinstance(vector, np.ndarray) else vector
                named = {k: v for k, v in named.items() if k in fields}
                points.append(qe.Point(id=pid, vector={"": vector, **named} if named else vector, payload=payload))
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
        rebuilt["multivectors"] = _fields_meta(fields, meta.get("multivectors") or {})
    write_meta(tmp / META_FILE, rebuilt)
    return tmp, total


def swap(store: EdgeStore, rebuilt: Path, label: str = "damaged") -> str:
    """Move the store's folder aside (kept, as ``.name.<label>-<time>-...``) and the rebuilt one into place; returns
    where the old one went. A crash between the two renames is finished by the store's next open."""
    backup = store.scratch(f"{label}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.rename(store.location, backup)
    os.rename(rebuilt, store.location)
    return str(backup)


def _fields_meta(fields: dict[str, int], listed: dict[str, Any]) -> dict[str, Any]:
    """The ``multivectors`` entry of ``recallrank.json`` for the engine's ``fields``, keeping known model names."""
    return {name: {"dimension": size, "model": (listed.get(name) or {}).get("model")} for name, size in fields.items()}
