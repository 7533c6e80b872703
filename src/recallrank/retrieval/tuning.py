"""What ``recallrank tune`` fits for a collection, and how a retriever reads it back.

The settings live in the collection's record (``recallrank.json`` embedded, the collection's metadata on a server)
under ``tuning``, so every front end that opens the collection uses them: ``top_k`` (the recall depth),
``maxsim_fuse`` (the default MaxSim stage's recall weight), and ``calibration`` (a
:class:`~recallrank.rerank.relevance.Calibration` for the pipeline it was fitted on, with the ``min_probability``
that reached the target precision). Fitting is in :mod:`recallrank.training.tune`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from recallrank.errors import InvalidInputError

log = logging.getLogger(__name__)

#: candidates recalled when neither the caller nor the collection's tuning says
DEFAULT_TOP_K = 100


def check_budget(seconds: object) -> float | None:
    """``latency_budget`` in seconds (``None``: no budget), or a clear error."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise InvalidInputError(f"latency_budget must be a positive number of seconds or None, got {seconds!r:.40}")
    return float(seconds)


def tuned_settings(store: Any) -> dict[str, Any]:
    """The collection's tuned settings (``{}``: never tuned, a store that keeps no record, or no collection yet)."""
    getter = getattr(store, "recorded_models", None)
    if getter is None or not store.exists():
        return {}
    tuning = (getter() or {}).get("tuning")
    if not isinstance(tuning, dict):
        return {}
    top_k = tuning.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        log.warning("collection '%s' records a malformed tuned top_k (%r): ignored", store.name, top_k)
        tuning = {k: v for k, v in tuning.items() if k != "top_k"}
    return tuning
