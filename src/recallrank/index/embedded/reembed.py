"""Re-embed the embedded collection in place (``recallrank index --reembed`` without ``--into``): the new
collection is built beside the old one (token vectors of late-interaction stages copied as they are), then swapped
in; the old folder is kept as a backup and its path reported. Until the swap the old collection is untouched, and
a swap stopped between its renames is finished by the next open from its journal
(:mod:`recallrank.index.embedded.swap`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from recallrank.errors import StoreError
from recallrank.index.base import from_payload
from recallrank.index.embedded.rebuild import StoredParts, rebuild_and_swap
from recallrank.index.embedded.store import EdgeStore
from recallrank.index.reembed import ReembedReport, encode


def reembed_in_place(store: EdgeStore, encoder: Any, progress: Callable[[int], Any] | None = None,
                     model: Mapping[str, Any] | None = None) -> ReembedReport:
    """Rebuild the embedded collection with ``encoder``'s vectors and swap it in; the old one is kept aside.
    ``model`` (the encoder's description) is recorded as the bi-encoder that built it; without it the old record
    is dropped, since it no longer describes the vectors. What ``recallrank tune`` fitted is dropped too: it was
    fitted on the old vectors' scores.

    Stopped before the swap (an error, Ctrl-C, SIGKILL), the collection is untouched and the partial rebuild is
    removed (SIGKILL leaves it: ``recallrank doctor`` lists it); stopped during the swap, the next open finishes
    exactly this swap from its journal."""
    t = time.perf_counter()
    meta = {**store.metadata(), "bi_encoder": dict(model) if model is not None else None, "tuning": None}

    def dense(batch: list[StoredParts]) -> list[Any]:
        readable = [p for p in batch if not p.lost and p.text_readable]
        vectors = iter(encode(encoder, [from_payload(p.payload).text for p in readable]) if readable else [])
        return [next(vectors) if not p.lost and p.text_readable else None for p in batch]

    def refuse(damaged: list[StoredParts]) -> None:
        if damaged:
            raise StoreError(f"{len(damaged)} points of {store.location} have parts that cannot be read; run "
                             "`recallrank doctor --repair` first, then re-embed")

    backup, total = rebuild_and_swap(store, store.shard(), encoder.dimension, encoder.similarity, meta, dense,
                                     "before-reembed", progress, refuse)
    return ReembedReport(total, encoder.dimension, time.perf_counter() - t, backup)
