"""Where an embedded collection's bytes are: each vector field, payloads, indexes and the write-ahead log, as
allocated on disk (what ``du`` counts), for ``recallrank doctor`` and ``benchmarks/footprint.py``."""

from __future__ import annotations

from pathlib import Path

#: the write-ahead log's component name: Qdrant Edge keeps about one closed 32 MB segment and the open ones
#: whatever the collection's size, so it is counted apart from the data
WAL = "write-ahead log"


def disk_usage(location: Path) -> dict[str, int]:
    """Bytes on disk by component: ``dense vectors``, ``<field> vectors`` (token vectors, BM25), ``dense HNSW
    graph``, ``<field> index``, ``payload``, ``payload indexes``, :data:`WAL` and ``bookkeeping`` (id tracker,
    configs, version files)."""
    out: dict[str, int] = {}
    for f in location.rglob("*"):
        if not f.is_file():
            continue
        parts = f.relative_to(location).parts
        key = WAL if parts[0] == "wal" else _component(parts[2]) if parts[0] == "segments" and len(parts) > 2 \
            else "bookkeeping"
        out[key] = out.get(key, 0) + f.stat().st_blocks * 512
    return out


def _component(part: str) -> str:
    if part == "vector_storage":
        return "dense vectors"
    if part == "vector_index":
        return "dense HNSW graph"
    if part.startswith("vector_storage-"):
        return f"{part.split('-', 1)[1]} vectors"
    if part.startswith("vector_index-"):
        return f"{part.split('-', 1)[1]} index"
    if part.startswith("payload_storage"):
        return "payload"
    if part.startswith("payload_index"):
        return "payload indexes"
    return "bookkeeping"
