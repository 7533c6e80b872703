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
from recallrank.rerank.relevance import calibration_problem
from recallrank.retrieval.stages import MAX_K

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
    problems = {key: why for key, why in ((k, _problem(k, v)) for k, v in tuning.items()) if why}
    for key, why in problems.items():
        log.warning("collection '%s' records a malformed tuned %s (%s): ignored; run `recallrank tune` again to "
                    "replace it", store.name, key, why)
    return {k: v for k, v in tuning.items() if k not in problems}


def _problem(key: str, value: Any) -> str | None:
    """Why a tuned setting cannot be used (``None``: it can)."""
    if key == "top_k" and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K):
        return f"{value!r:.40} is not a candidate count in 1..{MAX_K:,}"
    if key == "maxsim_fuse" and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                                        or not math.isfinite(value) or not 0 <= value < 1e6):
        return f"{value!r:.40} is not a non-negative weight"
    if key == "calibration":
        return calibration_problem(value)
    return None
