"""``recallrank doctor``: check an embedded store in depth and repair what can be repaired, losing nothing readable.

Checks: an interrupted swap (finished from its journal), ``recallrank.json`` and the engine's ``edge_config.json``
against each other (either is rewritten from the other), the write-ahead log, the point count against the count
recorded when the store was last closed, every part of every point (payload with its text, dense vector, each
token-vector field: read part by part, so damage to one file costs only that part), points without the token
vectors of a field the collection declares, an unfinished HNSW build, and the folders earlier rebuilds and repairs
left beside the collection (listed with their sizes; ``remove_leftovers=True`` deletes them).

Repairs never write into a damaged shard (a failed write would land in its write-ahead log and be replayed on
every open): a write-ahead log that cannot be replayed is set aside (kept) and the segments opened without it; a
shard with parts that cannot be read is rebuilt into a new folder from everything that can be read, swapped into
place (the damaged folder kept as ``.NAME.damaged-*``). Every document whose payload can be read is kept: a lost
dense vector is re-embedded from the stored text (``embed``), lost or missing token vectors are re-encoded by the
field's model (``token_encoders``); only what was lost is computed again. Documents whose payload is unreadable
cannot be rebuilt: their ids are listed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recallrank.errors import StoreError
from recallrank.index.base import from_payload
from recallrank.index.embedded.engine import WriteAheadLogError
from recallrank.index.embedded.meta import (
    ENGINE_CONFIG,
    META_FILE,
    engine_layout,
    fields_meta,
    new_meta,
    segment_fields,
    write_meta,
)
from recallrank.index.embedded.rebuild import StoredParts, read_points, rebuild_and_swap
from recallrank.index.embedded.store import EdgeStore
from recallrank.index.embedded.swap import Leftover, human_bytes, leftovers, remove_leftovers, write_json
from recallrank.index.sparse import FIELD, bm25_record

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
    #: folders beside the collection left by rebuilds, swaps and repairs (see :mod:`recallrank.index.embedded.swap`)
    leftovers: list[Leftover] = field(default_factory=list)
    removed: list[Leftover] = field(default_factory=list)
    disk: dict[str, int] = field(default_factory=dict)  #: bytes on disk by component (``usage.disk_usage``)

    @property
    def healthy(self) -> bool:
        return all(f.repaired for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "points": self.points, "healthy": self.healthy,
                "findings": [vars(f) for f in self.findings], "lost_ids": self.lost_ids, "backup": self.backup,
                "leftovers": [{**vars(x), "what": x.what} for x in self.leftovers],
                "removed": [vars(x) for x in self.removed], "disk_bytes": self.disk}


@dataclass
class _Scan:
    """What a pass over every point found (the points themselves are streamed, never held)."""

    unreadable: list[str] = field(default_factory=list)
    #: (id, payload) of points whose text is readable but whose dense vector is lost
    no_vector: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    #: token-vector field -> points whose vectors for it could not be read / are absent
    tokens_lost: dict[str, int] = field(default_factory=dict)
    tokens_missing: dict[str, int] = field(default_factory=dict)

    @property
    def needs_rebuild(self) -> bool:
        return bool(self.unreadable or self.no_vector or any(self.tokens_lost.values()))


def check_edge(store: EdgeStore, repair: bool = False, embed: Embed | None = None,
               token_encoders: Mapping[str, Any] | None = None, remove_stale: bool = False) -> DoctorReport:
    """Check ``store`` and, with ``repair=True``, repair it (see the module docstring).

    Args:
        embed: rebuilds lost dense vectors from the stored text (it must make vectors of the store's size);
            without it such points are left out of the rebuilt store and their ids listed.
        token_encoders: field name -> the late-interaction encoder that wrote it (``encode_documents`` returning
            one ``(tokens, dim)`` array per text; its ``model_name`` must be the one the field records). Lost or
            missing token vectors of a field without one are reported, not filled.
        remove_stale: delete the leftover folders found beside the collection (those present when the check
            starts; a backup this repair makes is kept and reported).
    """
    report = DoctorReport(str(store.location))
    store.close(finish=False)
    store.exists()  # finishes a swap that was stopped between its renames, from its journal
    report.leftovers = leftovers(store.location)
    if remove_stale:
        report.removed = remove_leftovers(store.location)
        report.leftovers = []
    if not store.location.exists():
        left = "".join(f"\n  {x.path} ({human_bytes(x.bytes)}): {x.what}" for x in leftovers(store.location))
        raise StoreError(f"no collection '{store.name}' at {store.location}; nothing to check"
                         + (f". Folders left beside it (rename one to {store.name!r} to restore it):{left}"
                            if left else ""))
    _check_engine_config(store, report, repair)
    engine = store.engine_config()
    if engine is None:
        return _stop(store, report)
    meta, meta_damaged = _check_meta(store, engine, report)
    shard = _open_shard(store, meta, report, repair)
    if shard is None:
        return _stop(store, report)
    fields = store.engine_multivectors()
    try:
        scan = _scan(store, shard, list(fields))
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
    encoders = _usable_encoders(meta, fields, token_encoders or {})
    token_findings = _token_findings(scan, encoders, meta)
    report.findings.extend(token_findings.values())
    if meta.get("pending", True) and not meta_damaged and "points" in meta:
        report.findings.append(Finding("the last write session stopped before its HNSW index build finished",
                                       "finish the build"))
    if not repair or not report.findings:
        report.points = total
        store.close(finish=False)
        return report
    if scan.needs_rebuild:
        try:
            report.backup, report.points = _rebuild(store, shard, meta, scan, embed, report)
        finally:
            store.close(finish=False)
    else:
        if meta_damaged:
            write_meta(store.meta_path, meta)
        if fields:
            store.reconfigure(fields)
        store.mark_pending()
        store.finish_ingest()  # finishes the build and records the count
        report.points = store.counts()[0]
        store.close(finish=False)
    for f in report.findings:
        if f not in token_findings.values():
            f.repaired = True
    for name, finding in token_findings.items():
        if name in encoders:
            wordless = _fill_tokens(store, name, encoders[name])
            if wordless:
                finding.fix += (f"; {len(wordless)} points whose text has no word the model reads (e.g. only "
                                f"zero-width spaces) cannot have token vectors and stay without: delete them or "
                                f"fix their text (ids: {', '.join(wordless[:5])}{' ...' if len(wordless) > 5 else ''})")
            finding.repaired = True
    if store.sparse_field() is not None:  # points rebuilt from their text get their BM25 vector back
        store.add_sparse()
    store.close()
    return report


def _stop(store: EdgeStore, report: DoctorReport) -> DoctorReport:
    store.close(finish=False)
    return report


def _check_engine_config(store: EdgeStore, report: DoctorReport, repair: bool) -> None:
    """A missing or unreadable ``edge_config.json`` is rewritten from ``recallrank.json`` (with ``repair``)."""
    if store.engine_config() is not None:
        return
    try:
        meta = store.read_meta()
    except StoreError:
        meta = None
    if meta is None:
        raise StoreError(f"{store.location} is not a Qdrant Edge shard: neither {ENGINE_CONFIG} nor {META_FILE} can "
                         "be read; restore the folder from a backup or rebuild the index")
    finding = Finding(f"{store.location / ENGINE_CONFIG} is missing or unreadable",
                      f"rewrite it from {META_FILE} ({meta['dimension']}-d {meta['similarity']}"
                      + (f", token-vector fields {sorted(meta['multivectors'])}" if meta.get("multivectors") else "")
                      + ")")
    report.findings.append(finding)
    if repair:
        _rewrite_engine_config(store, meta)
        finding.repaired = True


def _rewrite_engine_config(store: EdgeStore, meta: dict[str, Any]) -> None:
    """Write ``edge_config.json`` as the collection's creation would have, from ``recallrank.json``; a token-vector
    field keeps the storage type its segments were written with (fp32 in 0.2's first release, fp16 up to 0.4,
    TurboQuant since), and the sparse (BM25) fields the segments hold stay declared."""
    fields = {str(k): int(v["dimension"]) for k, v in (meta.get("multivectors") or {}).items()}
    written = segment_fields(store.location)
    datatypes, sparse = written if written is not None else ({}, sorted(meta.get("sparse") or {}))
    tmp = store.scratch("creating")
    try:
        store.create_shard(tmp, meta["dimension"], meta["similarity"], fields, tuple(sparse)).close()
        config = json.loads((tmp / ENGINE_CONFIG).read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in fields:
        datatype = datatypes.get(name)
        if datatype == "float32":  # the engine writes no datatype for its default
            config["vectors"][name].pop("datatype", None)
        elif datatype is not None:
            config["vectors"][name]["datatype"] = datatype
    write_json(store.location / ENGINE_CONFIG, config)


def _open_shard(store: EdgeStore, meta: dict[str, Any], report: DoctorReport, repair: bool) -> Any:
    """The shard opened without the integrity checks; a write-ahead log the engine cannot replay is set aside
    (with ``repair``; ``None`` without)."""
    try:
        return store.open_unchecked(meta)
    except WriteAheadLogError as exc:
        finding = Finding(f"the write-ahead log cannot be replayed ({str(exc).split('(', 1)[-1].split(');')[0]})",
                          "set it aside (kept beside the collection) and open the stored segments without it")
        report.findings.append(finding)
        if not repair:
            return None
    wal = store.location / "wal"
    kept = store.scratch(f"damaged-wal-{time.strftime('%Y%m%d-%H%M%S')}")
    os.rename(wal, kept)
    wal.mkdir()
    shard = store.open_unchecked(meta)
    total = store.counts()[0]
    recorded = meta.get("points")
    if not meta.get("pending", True) and recorded == total:
        finding.fix += f"; nothing was lost: the segments hold all {total} points recorded at the last close"
    else:
        finding.fix += (f"; the segments hold {total} points"
                        + (f" ({recorded} were recorded at the last completed ingest)" if recorded is not None else "")
                        + ": writes of the last, unfinished session may be missing: index your sources again")
    finding.fix += f" (the log is kept as {kept})"
    finding.repaired = True
    return shard


def _check_meta(store: EdgeStore, engine: tuple[int, str], report: DoctorReport) -> tuple[dict[str, Any], bool]:
    """The metadata to use (rebuilt from the engine's config if damaged) and whether it was damaged."""
    fields = store.engine_multivectors()
    try:
        meta = store.read_meta()
    except StoreError as exc:
        report.findings.append(Finding(str(exc).split("; run")[0], f"rewrite {META_FILE} from the engine's config"))
        meta = None
    if meta is None:
        if not any(META_FILE in f.problem for f in report.findings):
            report.findings.append(Finding(f"{store.meta_path} is missing", "write it from the engine's config (the "
                                           "model's record and what `recallrank tune` stored are lost with it: the "
                                           "next search or index records the model again; tune again)"))
        fresh = {**new_meta(*engine, settings=engine_layout(store.location)), "pending": True}
        del fresh["points"]
        if fields:
            fresh["multivectors"] = fields_meta(fields, {})
        if FIELD in store.engine_sparse():  # the BM25 field the engine holds: recorded again, filled at the end
            fresh["sparse"] = {FIELD: {**bm25_record(), "filled": False}}
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
        meta = {**meta, "multivectors": fields_meta(fields, listed), "pending": True}
        damaged = True
    return meta, damaged


def _scan(store: EdgeStore, shard: Any, fields: list[str]) -> _Scan:
    """Every point, part by part: unreadable payloads, lost dense vectors, lost and absent token vectors."""
    scan = _Scan(tokens_lost=dict.fromkeys(fields, 0), tokens_missing=dict.fromkeys(fields, 0))
    for batch in read_points(store, shard, fields):
        for p in batch:
            if not p.text_readable:
                scan.unreadable.append(str(p.id))
                continue
            if p.dense is None:
                scan.no_vector.append((p.id, p.payload or {}))
            for name in fields:
                if name in p.lost:
                    scan.tokens_lost[name] += 1
                elif name not in p.named:
                    scan.tokens_missing[name] += 1
    return scan


def _usable_encoders(meta: dict[str, Any], fields: Mapping[str, int], given: Mapping[str, Any]) -> dict[str, Any]:
    """The token encoders that may fill a field: given for it, and the model the field records (when it does)."""
    out = {}
    for name, encoder in given.items():
        recorded = ((meta.get("multivectors") or {}).get(name) or {}).get("model")
        if name in fields and (recorded is None or recorded == getattr(encoder, "model_name", recorded)):
            out[name] = encoder
    return out


def _token_findings(scan: _Scan, encoders: Mapping[str, Any], meta: dict[str, Any]) -> dict[str, Finding]:
    out = {}
    for name in scan.tokens_lost:
        lost, absent = scan.tokens_lost[name], scan.tokens_missing[name]
        if not lost and not absent:
            continue
        parts = ([f"{lost} points have '{name}' token vectors that cannot be read"] if lost else []) + \
            ([f"{absent} points have no '{name}' token vectors (an ingest stopped before writing them)"]
             if absent else [])
        model = ((meta.get("multivectors") or {}).get(name) or {}).get("model")
        keep = "keep every document" + (" (rebuilt without the damaged file)" if lost else "")
        fix = (f"{keep}; encode their '{name}' token vectors again with {model or 'the field model'}"
               if name in encoders else
               f"{keep}; their '{name}' token vectors need the model that wrote them ({model or 'unrecorded'}): "
               "run `recallrank doctor --repair` with it, or TwoStageRetriever(...).add_stage_vectors() "
               "(until then these documents drop out of that stage's ranking)")
        out[name] = Finding("; ".join(parts), fix)
    return out


def _rebuild(store: EdgeStore, old: Any, meta: dict[str, Any], scan: _Scan, embed: Embed | None,
             report: DoctorReport) -> tuple[str, int]:
    """Stream every readable point of ``old`` into a new shard beside it and swap it in; (backup folder, points
    written). ``meta`` is the metadata as checked against the engine's config."""
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

    def dense(batch: list[StoredParts]) -> list[Any]:
        return [None if str(p.id) in skip or not p.text_readable else
                p.dense if p.dense is not None else new_vectors.get(str(p.id)) for p in batch]

    return rebuild_and_swap(store, old, dimension, similarity, meta, dense, "damaged")


def _fill_tokens(store: EdgeStore, name: str, encoder: Any, batch: int = 64) -> list[str]:
    """Encode the ``name`` token vectors of every point that lacks them (the store is healthy by now); returns the
    ids of points whose text gives no token vector at all (a store cannot hold an empty multivector)."""
    todo = list(store.without_multivector(name))
    has_tokens = getattr(encoder, "has_tokens", None)
    wordless: list[str] = []
    if has_tokens is not None and todo:
        readable = has_tokens([text for _, text in todo])
        wordless = [pid for (pid, _), ok in zip(todo, readable, strict=True) if not ok]
        todo = [point for point, ok in zip(todo, readable, strict=True) if ok]
    for lo in range(0, len(todo), batch):
        part = todo[lo:lo + batch]
        tokens = encoder.encode_documents([text for _, text in part])
        store.write_multivectors(name, {pid: t for (pid, _), t in zip(part, tokens, strict=True)})
    store.finish_ingest()
    return wordless
