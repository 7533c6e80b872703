"""``recallrank doctor``: check an embedded store in depth and repair what can be repaired.

Checks, in order: ``recallrank.json`` against the engine's own config, that the shard opens, the point count
against the count recorded when the store was last closed, that every point has a readable vector and a readable
payload with text, and that the last HNSW build finished. Repairs: rewrite ``recallrank.json`` from the engine,
re-embed points whose vectors were lost from their stored text (when an encoder is given), delete points whose
payload cannot be read (their ids are listed), finish the index build and record the new count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recallrank.errors import StoreError
from recallrank.index.base import from_payload
from recallrank.index.edge import EdgeStore, new_meta, write_meta

#: texts -> vectors; used to rebuild lost vectors from the stored text
Embed = Callable[[list[str]], np.ndarray]


@dataclass
class Finding:
    """One problem found, and whether ``--repair`` fixed it."""

    problem: str
    repaired: bool = False
    fix: str = ""


@dataclass
class DoctorReport:
    location: str
    points: int | None = None
    findings: list[Finding] = field(default_factory=list)
    lost_ids: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(f.repaired for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "points": self.points, "healthy": self.healthy,
                "findings": [vars(f) for f in self.findings], "lost_ids": self.lost_ids}


def check_edge(store: EdgeStore, repair: bool = False, embed: Embed | None = None) -> DoctorReport:
    """Check ``store`` (closed or not yet opened) and, with ``repair=True``, repair it.

    Args:
        embed: rebuilds lost vectors from the stored text (it must make vectors of the store's size); without
            it such points are deleted and their ids listed.
    """
    report = DoctorReport(str(store.location))
    store.close(finish=False)
    if not store.location.exists():
        raise StoreError(f"no collection '{store.name}' at {store.location}; nothing to check")
    engine = store.engine_config()
    if engine is None:
        raise StoreError(f"{store.location} is not a Qdrant Edge shard (no readable edge_config.json); restore it "
                         "from a backup or rebuild the index")
    meta = _check_meta(store, engine, repair, report)
    interrupted = bool(meta.get("pending", True)) and not report.findings and "points" in meta
    shard = store.open_unchecked(meta)  # the checks below must run even where a normal open would refuse
    try:
        _check_points(store, shard, meta, repair, embed, report)
        if interrupted:
            report.findings.append(Finding("the last write session stopped before its HNSW index build finished",
                                           fix="the build is finished"))
        if repair and report.findings:
            store.mark_pending()
            store.finish_ingest()
            for f in report.findings:
                f.repaired = True
        report.points = store.counts()[0]
    finally:
        store.close(finish=False)
    return report


def _check_meta(store: EdgeStore, engine: tuple[int, str], repair: bool, report: DoctorReport) -> dict[str, Any]:
    try:
        meta = store.read_meta()
    except StoreError as exc:
        report.findings.append(Finding(str(exc).split("; run")[0], fix=f"{store.meta_path.name} rewritten"))
        meta = None
    if meta is None:
        if not report.findings:
            report.findings.append(Finding(f"{store.meta_path} is missing", fix="written from the engine's config"))
        meta = {**new_meta(*engine), "pending": True}
        del meta["points"]
    elif (meta["dimension"], meta["similarity"]) != engine:
        report.findings.append(Finding(
            f"{store.meta_path.name} says {meta['dimension']}-d {meta['similarity']} but the engine holds "
            f"{engine[0]}-d {engine[1]} vectors", fix="recallrank.json rewritten from the engine's config"))
        meta = {**meta, "dimension": engine[0], "similarity": engine[1], "pending": True}
    if repair and report.findings:
        write_meta(store.meta_path, meta)
    return meta


def _check_points(store: EdgeStore, shard: Any, meta: dict[str, Any], repair: bool, embed: Embed | None,
                  report: DoctorReport) -> None:
    total, with_vector = store.counts()
    recorded = meta.get("points")
    if recorded is not None and not meta.get("pending", True) and recorded != total:
        report.findings.append(Finding(
            f"{total} points stored but {recorded} were recorded when the store was last closed "
            f"({abs(recorded - total)} {'lost' if total < recorded else 'unaccounted for'}: files were deleted or "
            "replaced)", fix="the new count is recorded; index your sources again to restore lost documents"))
    unreadable, no_vector = _scan(store, shard)
    if unreadable:
        report.findings.append(Finding(f"{len(unreadable)} points have a payload that cannot be read",
                                       fix="deleted (ids listed); index their sources again"))
        report.lost_ids.extend(unreadable)
    if no_vector or with_vector != total:
        missing = max(len(no_vector), total - with_vector)
        fix = "re-embedded from their stored text" if embed is not None else \
            "deleted (ids listed); index their sources again, or pass --bi-encoder to re-embed them"
        report.findings.append(Finding(f"{missing} points have lost their vectors", fix=fix))
    if not repair:
        return
    if unreadable:
        store.delete(unreadable)
    if no_vector:
        if embed is not None:
            _reembed(store, no_vector, embed)
        else:
            store.delete([pid for pid, _ in no_vector])
            report.lost_ids.extend(pid for pid, _ in no_vector)


def _scan(store: EdgeStore, shard: Any) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(ids whose payload cannot be read, (id, payload) of readable points without a vector)."""
    import qdrant_edge as qe

    offset = None
    unreadable: list[str] = []
    no_vector: list[tuple[str, dict[str, Any]]] = []
    has_vector = qe.Filter(must=[qe.HasVectorCondition("")])
    while True:
        ids, offset = store.engine("list points", shard.scroll,
                                   qe.ScrollRequest(offset=offset, limit=500, with_payload=False, with_vector=False))
        batch = [r.id for r in ids]
        for pid, payload in _payloads(shard, batch, unreadable):
            if not isinstance(payload.get("text"), str):
                unreadable.append(pid)
        vectored = {str(r.id) for r in store.engine("list vectors", shard.scroll, qe.ScrollRequest(
            limit=len(batch) or 1, filter=qe.Filter(must=[qe.HasIdCondition(set(batch)), has_vector]),
            with_payload=False, with_vector=False))[0]} if batch else set()
        lost = [pid for pid in map(str, batch) if pid not in vectored and pid not in unreadable]
        no_vector.extend(_payloads(shard, lost, unreadable))
        if offset is None:
            return unreadable, no_vector


def _payloads(shard: Any, ids: Sequence[Any], unreadable: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Payloads of ``ids``; a batch that fails to decode is split until the bad points are found."""
    if not ids:
        return []
    try:
        records = shard.retrieve(list(ids), True, False)
        return [(str(r.id), dict(r.payload or {})) for r in records]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        if len(ids) == 1:
            unreadable.append(str(ids[0]))
            return []
        mid = len(ids) // 2
        return _payloads(shard, ids[:mid], unreadable) + _payloads(shard, ids[mid:], unreadable)


def _reembed(store: EdgeStore, points: list[tuple[str, dict[str, Any]]], embed: Embed) -> None:
    from recallrank.index.base import StoredPoint

    for lo in range(0, len(points), 256):
        batch = points[lo:lo + 256]
        vectors = np.asarray(embed([from_payload(p).text for _, p in batch]))
        if vectors.ndim != 2 or vectors.shape[1] != store.read_dimension():
            raise StoreError(f"the bi-encoder makes {vectors.shape[-1]}-d vectors but the store at {store.location} "
                             f"holds {store.read_dimension()}-d ones; pass the --bi-encoder it was built with")
        store.upsert([StoredPoint(pid, v, payload) for (pid, payload), v in zip(batch, vectors, strict=True)])
