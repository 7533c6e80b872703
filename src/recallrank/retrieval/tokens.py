"""Token vectors a MaxSim stage reads from the store: written at ingest, filled in where missing (one routine for
``TwoStageRetriever`` and the Haystack document store)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def readable(reranker: Any, points: Sequence[tuple[str, str]], warn: bool = True) -> list[tuple[str, str]]:
    """The ``(point id, text)`` pairs whose text gets token vectors; the others (no word the stage's tokenizer
    reads) are left without, named in a warning when ``warn``."""
    has_tokens = getattr(reranker.encoder, "has_tokens", None)
    if has_tokens is None or not points:
        return list(points)
    ok = has_tokens([text for _, text in points])
    lacking = [pid for (pid, _), k in zip(points, ok, strict=True) if not k]
    if lacking and warn:
        log.warning("%d stored point(s) have no words the '%s' stage can read, so they get no token vectors: "
                    "%s%s; delete them, or index their sources again (--skip-errors leaves such chunks out)",
                    len(lacking), reranker.field, ", ".join(lacking[:5]), " ..." if len(lacking) > 5 else "")
    return [p for p, k in zip(points, ok, strict=True) if k]


def prepare(store: Any, reranker: Any) -> None:
    """Declare the stage's token-vector field (and the model it records) in ``store``."""
    store.ensure_multivector(reranker.field, reranker.encoder.dimension, model=reranker.encoder.model_name)


def write(store: Any, reranker: Any, points: Sequence[tuple[str, str]],
          tokens: Sequence[np.ndarray] | None = None) -> None:
    """Store the token vectors of ``(point id, text)`` pairs: ``tokens`` when given (one array per pair, from the
    recall model's own forward pass), else encoded now with the stage's encoder."""
    if points:
        if tokens is None:
            tokens = reranker.encoder.encode_documents([text for _, text in points])
        store.write_multivectors(reranker.field, {pid: t for (pid, _), t in zip(points, tokens, strict=True)})


def fill(store: Any, rerankers: Sequence[Any], batch_size: int = 64,
         progress: Callable[[int], object] | None = None) -> int:
    """Write the token vectors of every stored point that lacks them, for each stage; how many were filled."""
    filled = 0
    for reranker in rerankers:
        if not store.exists():
            break
        prepare(store, reranker)
        todo = readable(reranker, list(store.without_multivector(reranker.field)))
        for lo in range(0, len(todo), batch_size):
            batch = todo[lo:lo + batch_size]
            write(store, reranker, batch)
            filled += len(batch)
            if progress is not None:
                progress(len(batch))
    if filled:
        store.finish_ingest()
    return filled
