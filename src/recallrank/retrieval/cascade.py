"""A cascade written as text (``"maxsim:30,cross"``, CLI ``--stages``) and the default rerank for a recall model."""

from __future__ import annotations

import logging
from typing import Any

from recallrank.errors import InvalidInputError
from recallrank.rerank.registry import STAGE_NAMES, make_stage
from recallrank.retrieval.stages import Stage, check_stages

log = logging.getLogger(__name__)


def default_stages(encoder: Any = None) -> list[Stage]:
    """The default rerank after recall.

    After all-MiniLM-L6-v2 recall: zero-shot MaxSim over the bi-encoder's own token vectors, written at ingest and
    scored inside Qdrant. It measured the largest nDCG@10 gain per millisecond on the held-out sets
    (``benchmarks/results/selection.md``); the trained ColBERT (``colbert``) is as fast at 30 % of the bytes per
    document and 0.007 nDCG@10 lower.

    After multilingual-e5-small recall (a collection of Chinese or other non-Latin text): none. The one reranker
    that reads Chinese, the bilingual cross-encoder, added less than the 0.02 nDCG@10 that would earn its second
    per query on held-out Chinese questions (``benchmarks/results/recall_modes.md``), and MiniLM's token vectors
    cannot read Chinese. Ask for it with ``reranker=True`` (CLI ``--stages cross``).
    """
    from recallrank.models.e5 import is_multilingual

    if is_multilingual(encoder):
        return []
    return [Stage(make_stage("maxsim"))]


def parse_stages(spec: str, reranker: str | None = None, precision: str = "auto") -> list[Stage]:
    """``"maxsim:30,cross"`` -> stages; every name and number is checked before any model is built."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError("--stages is empty: write e.g. maxsim:30,cross (or --no-rerank for recall alone)")
    parsed = []
    for part in spec.split(","):
        name, sep, keep = part.strip().partition(":")
        if name not in STAGE_NAMES:
            raise InvalidInputError(f"--stages {spec!r}: unknown stage {name!r}; use {', '.join(STAGE_NAMES)} with an "
                                    "optional :N to keep N, e.g. maxsim:30,cross")
        if sep and not keep.isdigit():
            raise InvalidInputError(f"--stages {spec!r}: {part.strip()!r} must be NAME or NAME:N with N a positive "
                                    "integer")
        parsed.append((name, int(keep) if sep else None))
    check_stages([(_Named(n), k) for n, k in parsed])  # counts and order, before anything loads
    return [Stage(make_stage(n, reranker, precision), k) for n, k in parsed]


class _Named:
    """A placeholder reranker, so the cascade's shape is checked before models are built."""

    def __init__(self, name: str) -> None:
        self.name = name

    def rerank(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise NotImplementedError
