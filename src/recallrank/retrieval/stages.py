"""A rerank cascade: stages, each a reranker and how many of its best results go on, checked before anything runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recallrank.errors import InvalidInputError
from recallrank.index.base import MetadataFilter


@dataclass(frozen=True)
class Stage:
    """One rerank stage of a cascade: a reranker and how many of its best results go on to the next stage.

    ``reranker`` is anything with ``rerank(query, candidates, top_n=..., score_threshold=...)`` returning
    :class:`Result` s: :class:`CrossEncoderReranker`, :class:`~recallrank.models.late_interaction.MaxSimReranker`,
    :class:`~recallrank.models.poly_encoder.PolyReranker`. ``keep=None`` passes on everything; the last stage's
    results are cut to the search's ``top_n``.

    Example:
        >>> Stage(MaxSimReranker(field="colbert"), keep=30)            # doctest: +SKIP
    """

    reranker: Any
    keep: int | None = None

    @property
    def name(self) -> str:
        config = st_config(self.reranker)  # a MaxSim stage is named by its field ("colbert", "maxsim")
        return str(config.get("field") or config.get("kind") or type(self.reranker).__name__)


def st_config(reranker: Any) -> dict[str, Any]:
    """A reranker's settings as plain data; one without ``config()`` is named by its class."""
    config = getattr(reranker, "config", None)
    return dict(config()) if callable(config) else {"kind": type(reranker).__name__}


#: the most candidates one query may ask for (Qdrant's limit is a 64-bit count; this keeps errors readable)
MAX_K = 100_000


def check_k(top_k: int, top_n: int) -> None:
    for name, k in (("top_k", top_k), ("top_n", top_n)):
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"{name} must be a positive int of at most {MAX_K:,}, got {k!r:.40}")


def check_stages(stages: Sequence[Any]) -> list[Stage]:
    """Stages from rerankers, ``(reranker, keep)`` pairs or :class:`Stage` s, checked before anything runs."""
    if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence):
        raise InvalidInputError("stages must be a list of rerankers or (reranker, keep) pairs")
    out = []
    for i, st in enumerate(stages):
        st = st if isinstance(st, Stage) else Stage(*st) if isinstance(st, tuple) else Stage(st)
        if not callable(getattr(st.reranker, "rerank", None)):
            raise InvalidInputError(f"stage {i + 1} is a {type(st.reranker).__name__}, which has no rerank(); pass "
                                    "CrossEncoderReranker, MaxSimReranker or PolyReranker objects")
        if st.keep is not None and (isinstance(st.keep, bool) or not isinstance(st.keep, int)
                                    or not 1 <= st.keep <= MAX_K):
            raise InvalidInputError(f"stage {i + 1} keep must be a positive int of at most {MAX_K:,} or None, "
                                    f"got {st.keep!r:.40}")
        out.append(st)
    if not out:
        raise InvalidInputError("stages is empty: pass reranker=False for recall alone")
    keeps = [st.keep for st in out if st.keep is not None]
    if keeps != sorted(keeps, reverse=True):
        raise InvalidInputError(f"stage keeps must not grow down the cascade, got {keeps}: each stage reranks the "
                                "previous one's results")
    return out


@dataclass
class Plan:
    """One search as the retriever runs it: the checked arguments and the seconds each part took."""

    query: str
    top_k: int
    top_n: int
    filter: MetadataFilter | None
    threshold: float | None
    rerank: bool
    timings: dict[str, float]
    started: float
    min_probability: float | str | None = None
    budget: float | None = None
    #: documents mode (see :mod:`recallrank.retrieval.grouping`) and evidence
    documents: bool = False
    passages: int = 3
    document_score: str = "max"
    evidence: bool = False

    @property
    def depth(self) -> int:
        """Candidates recalled: ``top_k``, but at least two, so that a result's calibrated probability (which reads
        the gap to the second candidate) does not depend on ``top_k``."""
        return max(self.top_k, 2)


def check_threshold(threshold: object) -> float | None:
    """``score_threshold`` as a float (``None`` kept), or a clear error."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise InvalidInputError(f"score_threshold must be a finite number or None, got {threshold!r:.40}")
    return float(threshold)
