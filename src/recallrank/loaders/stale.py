"""Stale chunks: stored chunks that the sources indexed no longer hold."""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path

from recallrank.documents import chunk_of
from recallrank.index.base import VectorStore
from recallrank.loaders.chunks import BOOKKEEPING
from recallrank.loaders.files import under
from recallrank.loaders.sources import Sources


def stale_ids(store: VectorStore, found: Sources, current: Container[str], prune: bool = True) -> list[str]:
    """Point ids of stored chunks that the sources no longer hold.

    Always: chunks of a file read this run that are not among ``current`` (document ids), e.g. a file that shrank
    or was emptied, or a JSONL record that was removed. With ``prune``: chunks of files under the roots indexed
    that no longer exist (deleted or renamed). Files skipped for errors keep their chunks. Only chunks written by
    :func:`chunk_documents` (id ``...#<n>`` with bookkeeping ``chunk = n``: under :data:`BOOKKEEPING`, or at the top
    of the metadata for chunks written before that key existed) are considered; documents added any other way that
    merely name a ``source`` are left alone.
    """
    skipped = [Path(path) for path, _ in found.skipped]
    stale = []
    for pid, payload in store.scroll(["metadata.source", "metadata.chunk", f"metadata.{BOOKKEEPING}", "doc_id"]):
        doc_id = payload.get("doc_id")
        found_chunk = chunk_of(payload.get("metadata") or {}, doc_id)
        if found_chunk is None:
            continue  # not a chunk `recallrank index` wrote (e.g. added through the API): never ours to remove
        source = found_chunk[0].get("source")
        if not isinstance(source, str) or doc_id in current:
            continue
        if source in found.files or (prune and under(Path(source), found.roots)
                                     and not under(Path(source), skipped)):
            stale.append(pid)
    return stale
