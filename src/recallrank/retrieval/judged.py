"""What a search returns, and the calibrated relevance of its results: ``probability`` per result, and an honest
"nothing relevant" (``abstained``) when no result reaches ``min_probability``.

``min_probability`` decides whether to answer, not how much context to pass: when the best result reaches it, every
result is returned with its probability (cut them with ``[r for r in response if r.probability >= p]`` if you
want); when none does, no result is returned. Measured on held-out English FAQ questions, dropping each result under
0.15 instead cost 0.15 nDCG@10 (the answer is often ranked second to fifth with a low probability), while
abstaining only when nothing reaches 0.15 kept the ranking and answered 92.5 % of them
(``benchmarks/results/relevance.md``).

See :mod:`recallrank.rerank.relevance` for how a calibration is fitted and which pipelines ship one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from recallrank.documents import Result
from recallrank.errors import InvalidInputError
from recallrank.rerank.relevance import stage_scores

#: ``min_probability="auto"``: the collection's tuned threshold, else :data:`DEFAULT_MIN_PROBABILITY`, on a
#: calibrated pipeline; nothing on a pipeline without a calibration
AUTO = "auto"


@dataclass(frozen=True)
class SearchResponse:
    """Ranked results plus the seconds each stage took (``embed``, ``recall``, ``rerank``, ``total``).

    ``abstained`` is ``True`` when no result reached ``min_probability``: ``results`` is then empty (no context
    for the LLM) and ``best_probability`` says how close the best candidate came; otherwise every result is
    returned. ``calibration`` names the fitted
    calibration behind each result's ``probability`` (``None``: this pipeline has none, and ``probability`` is
    ``None``); ``min_probability`` is the threshold that was applied (``None``: none). ``skipped`` names rerank
    stages left out by ``latency_budget`` or ``confident_recall``.
    """

    results: list[Result]
    timings: dict[str, float] = field(default_factory=dict)
    recalled: int = 0
    abstained: bool = False
    best_probability: float | None = None
    calibration: str | None = None
    min_probability: float | None = None
    skipped: tuple[str, ...] = ()
    #: the inputs the probabilities came from (stage scores, recall similarities, recall summary), for fitting
    relevance_inputs: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Any:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def summary(self) -> dict[str, Any]:
        """The response-level fields every front end reports: ``abstained``, ``best_probability``,
        ``calibration``, ``min_probability`` and ``skipped``."""
        return {"abstained": self.abstained, "best_probability": self.best_probability,
                "calibration": self.calibration, "min_probability": self.min_probability,
                "skipped": list(self.skipped)}


#: ``min_probability="none"`` (the CLI's and HTTP's spelling): never abstain, the same as ``0``
NONE = "none"


def check_min_probability(value: object) -> float | str | None:
    """``min_probability`` as given: ``"auto"``, a number in [0, 1], ``"none"`` (read as ``0.0``: never abstain),
    or ``None`` (not given: the caller's default applies); else a clear error."""
    if isinstance(value, str) and value.strip().lower() in (AUTO, NONE):
        return AUTO if value.strip().lower() == AUTO else 0.0
    return check_probability(value, "min_probability", "'auto', 'none' (never abstain) or None (the default)")


def check_probability(value: object, name: str, others: str = "None") -> float | None:
    """``value`` as a probability (``None`` kept), or an error naming ``name`` and what else it takes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
            or not 0 <= float(value) <= 1:
        raise InvalidInputError(f"{name} must be a probability in [0, 1] or {others}, got {value!r:.40}")
    return float(value)


def inputs(kind: str, query_tokens: int, results: Sequence[Result], recalled: Sequence[float]
           ) -> tuple[np.ndarray, np.ndarray, list[float]] | None:
    """The calibration's inputs for ``results`` (``None`` when a result lacks a recall similarity)."""
    recall = [r.retrieval_score for r in results]
    if not results or any(x is None for x in recall):
        return None
    own = np.array([r.relevance_score if r.relevance_score is not None else r.score for r in results])
    return stage_scores(kind, own, query_tokens), np.asarray(recall, dtype=np.float64), list(recalled)


#: results a search ranks at least, whatever its ``top_n`` (and candidates it recalls, whatever its ``top_k``:
#: :attr:`~recallrank.retrieval.stages.Plan.depth`), so that a result's probability does not depend on how many are
#: returned (the first result's features include the gap to the second)
CALIBRATION_DEPTH = 2


def judge(results: list[Result], probabilities: list[float] | None, label: str | None,
          min_probability: float | None, found: Any = None, top_n: int | None = None) -> dict[str, Any]:
    """The first ``top_n`` results, each with its ``probability`` (``probabilities``, by a calibration ``label``
    names); none when the best of them is under ``min_probability`` (abstained); the response fields."""
    results = results[:top_n] if top_n is not None else results
    if probabilities is None or not results:
        return {"results": results, "calibration": label, "relevance_inputs": found}
    probabilities = probabilities[:len(results)]
    best = max(probabilities)
    abstained = min_probability is not None and best < min_probability
    scored = [] if abstained else [replace(r, probability=p) for r, p in zip(results, probabilities, strict=True)]
    return {"results": scored, "abstained": abstained, "best_probability": best, "calibration": label,
            "min_probability": min_probability, "relevance_inputs": found}
