"""Qdrant Edge itself: the config a shard is created or reopened with, what its failures to open mean, and which
collection folders this process has open (the engine locks a folder per open shard, so a second open in the same
process would otherwise be reported as another process's lock)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recallrank.errors import StoreCorruptedError, StoreError, StoreUnavailableError
from recallrank.index.embedded.meta import first_line
from recallrank.index.query import DISTANCES
from recallrank.index.settings import CollectionSettings, quantization_config

#: HNSW defaults chosen by benchmarks/hnsw_recall.py (recall@100 vs exact >= 0.99 on the Debian corpus)
DEFAULT_HNSW_M = 16
DEFAULT_EF_CONSTRUCT = 128
DEFAULT_HNSW_EF = 256


class WriteAheadLogError(StoreCorruptedError):
    """The engine cannot replay the collection's write-ahead log (``recallrank doctor --repair`` sets it aside)."""


def edge_config(layout: CollectionSettings, dimension: int, similarity: str, m: int, ef_construct: int,
                full_scan_threshold_kb: int, multivectors: Mapping[str, Any] | None = None,
                sparse: tuple[str, ...] = ()) -> Any:
    """The ``qdrant_edge.EdgeConfig``: the dense vector with HNSW, token-vector (MaxSim) fields (name ->
    ``(size, storage datatype)``) without a graph of their own (they rescore candidates; building HNSW over token
    vectors costs minutes), and the ``sparse`` (BM25) fields, IDF applied at query time."""
    import qdrant_edge as qe

    dense = qe.EdgeVectorParams(size=dimension, distance=getattr(qe.Distance, DISTANCES[similarity]),
                                on_disk=layout.on_disk or None, quantization_config=quantization_config(qe, layout))
    vectors: Any = dense
    if multivectors:
        vectors = {"": dense, **{name: qe.EdgeVectorParams(
            size=size, distance=qe.Distance.Dot, datatype=datatype,
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
            hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=ef_construct, full_scan_threshold=full_scan_threshold_kb))
            for name, (size, datatype) in multivectors.items()}}
    return qe.EdgeConfig(
        vectors=vectors,
        sparse_vectors={name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf) for name in sparse} or None,
        on_disk_payload=layout.on_disk_payload or None,
        hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=ef_construct, full_scan_threshold=full_scan_threshold_kb,
                                       on_disk=layout.hnsw_on_disk or None),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=full_scan_threshold_kb),
    )


def token_datatype(declared: Mapping[str, Any] | None, new: str) -> Any:
    """How a token-vector field stores its vectors: as the engine already declares it (``declared``; fields written
    by 0.2's first release are fp32, those up to 0.4 fp16, and the engine refuses a config that changes them), else
    ``new`` (the collection's ``token_storage`` setting)."""
    import qdrant_edge as qe

    name = new if declared is None else str(declared.get("datatype") or "float32")  # no entry: the engine's fp32
    return getattr(qe.VectorStorageDatatype, name.capitalize())


def open_error(loc: Path, exc: BaseException) -> StoreError:
    text = str(exc)
    if "WouldBlock" in text or "lock" in text.lower():
        return StoreUnavailableError(
            f"the embedded store at {loc} is already opened by another process (its write-ahead log is locked); "
            "close that process or use another path, or run a Qdrant server and pass its URL")
    if isinstance(exc, PermissionError) or "Permission denied" in text or "Read-only" in text:
        return StoreError(
            f"cannot open the embedded store at {loc}: {first_line(exc)}. Qdrant Edge needs write access to the "
            "folder even to search (it locks and replays its write-ahead log); copy the store to a writable folder")
    if "WAL" in text:
        return WriteAheadLogError(
            f"the embedded store at {loc} cannot replay its write-ahead log ({first_line(exc)}); run `recallrank "
            f"doctor --repair --path {loc.parent} --collection {loc.name}`: it sets the log aside (kept) and opens "
            "the stored segments, then says whether anything written since the last completed ingest is missing")
    return StoreError(f"could not open the embedded store at {loc}: {first_line(exc)}")


#: collection folder -> the store object holding it open in this process
_HOLDERS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_HOLDERS_LOCK = threading.Lock()


def hold(loc: Path, holder: Any) -> None:
    """Note that ``holder`` opens the folder ``loc``; a folder another live store object of this process holds
    open is refused, naming what to do (the engine would report its own lock as another process's)."""
    key = str(loc.resolve())
    with _HOLDERS_LOCK:
        other = _HOLDERS.get(key)
        if other is not None and other is not holder:
            raise StoreUnavailableError(
                f"the embedded store at {loc} is already open in this process (by {other!r}); use that store "
                "object (pass it as store=... to a second retriever) or close() it first; one engine may hold a "
                "folder at a time")
        _HOLDERS[key] = holder


def release(loc: Path, holder: Any) -> None:
    key = str(loc.resolve())
    with _HOLDERS_LOCK:
        if _HOLDERS.get(key) is holder:
            del _HOLDERS[key]
