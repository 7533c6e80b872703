"""What a collection core asks of a backend in one query, and the rules every search follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: recallrank similarity -> Qdrant distance name (the same names in qdrant-edge and qdrant-client)
DISTANCES = {"cosine": "Cosine", "dot": "Dot", "euclidean": "Euclid"}
#: Qdrant distance name, lower case -> recallrank similarity
SIMILARITIES = {v.lower(): k for k, v in DISTANCES.items()}


@dataclass(frozen=True)
class Sparse:
    """A sparse vector (BM25 term weights, see :mod:`recallrank.index.sparse`) as both backends take it."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Fuse:
    """Fuse the ranked lists of a query's ``legs`` inside Qdrant: ``"rrf"`` (reciprocal rank fusion, constant
    ``k``) or ``"dbsf"`` (distribution-based score fusion)."""

    method: str
    k: int = 2


@dataclass(frozen=True)
class Query:
    """One query as the backends' query primitive takes it: nearest neighbours of a dense, token or sparse vector,
    or (``Fuse``) the fusion of the lists its ``legs`` find."""

    vector: list[float] | list[list[float]] | Sparse | Fuse
    limit: int
    condition: Any = None  #: the backend's filter (``None``: every point)
    params: Any = None  #: the backend's ``SearchParams`` (``None``: the collection's defaults)
    using: str | None = None  #: a token-vector field; ``None`` is the dense vector
    with_payload: bool = True
    prefetch: Query | None = None  #: candidates to rescore, found by another query first
    legs: tuple[Query, ...] = ()  #: with a ``Fuse`` vector: the queries whose results are fused


def short_of_limit(found: int, limit: int, condition: Any, exact: bool, count: Callable[[], int]) -> bool:
    """Whether a filtered HNSW search came back with fewer hits than the filter matches (the graph walk can miss
    points under a restrictive filter): then the caller repeats it exactly, so a filter never silently returns
    fewer than ``limit``. Costs one count, and only when the result is short."""
    return condition is not None and not exact and found < limit and int(count()) > found


def dense(vector: np.ndarray | Sequence[float]) -> list[float]:
    return [float(x) for x in np.asarray(vector).ravel()]
