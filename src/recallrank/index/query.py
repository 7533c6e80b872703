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
class Query:
    """One nearest-neighbour query as the backends' query primitive takes it."""

    vector: list[float] | list[list[float]]
    limit: int
    condition: Any = None  #: the backend's filter (``None``: every point)
    params: Any = None  #: the backend's ``SearchParams`` (``None``: the collection's defaults)
    using: str | None = None  #: a token-vector field; ``None`` is the dense vector
    with_payload: bool = True
    prefetch: Query | None = None  #: candidates to rescore, found by another query first


def short_of_limit(found: int, limit: int, condition: Any, exact: bool, count: Callable[[], int]) -> bool:
    """Whether a filtered HNSW search came back with fewer hits than the filter matches (the graph walk can miss
    points under a restrictive filter): then the caller repeats it exactly, so a filter never silently returns
    fewer than ``limit``. Costs one count, and only when the result is short."""
    return condition is not None and not exact and found < limit and int(count()) > found


def dense(vector: np.ndarray | Sequence[float]) -> list[float]:
    return [float(x) for x in np.asarray(vector).ravel()]
