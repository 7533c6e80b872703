"""Token vectors (late interaction) as both stores take and give them: checks on field names and arrays, and the
dense vector of a record read back with its named vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError

#: token vectors written per engine call: they travel as lists of Python floats (~30 bytes a number), and a whole
#: ingest batch at once (256 Debian descriptions) raised an ingest's peak memory by ~400 MB
TOKEN_WRITES = 32


def check_field_name(name: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInputError(f"multivector field name {name!r}: use letters, digits and _, e.g. 'colbert'")


def check_tokens(pid: str, name: str, tokens: np.ndarray, dimension: int) -> np.ndarray:
    """``tokens`` as a float32 ``(tokens, dimension)`` array, or an error naming the point and the field."""
    arr = np.asarray(tokens, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dimension or arr.shape[0] == 0 or not np.isfinite(arr).all():
        raise InvalidInputError(f"point {pid}: token vectors must be a non-empty, finite (tokens, {dimension}) "
                                f"array for field '{name}', got shape {arr.shape}")
    return arr


def query_tokens(query: np.ndarray) -> list[list[float]]:
    arr = np.asarray(query, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidInputError(f"query token vectors must be a (tokens, dimension) array, got shape {arr.shape}")
    return [[float(x) for x in row] for row in arr]


def record_vectors(record: Any) -> tuple[list[float] | None, dict[str, Any]]:
    """(dense vector or None, named vectors) of a record retrieved with vectors: a point with only the dense
    vector comes back as a list, one with named vectors too as a dict keyed by name ('' for the dense one)."""
    vector = record.vector
    if isinstance(vector, dict):
        dense = vector.get("")
        return (list(dense) if dense else None), {k: v for k, v in vector.items() if k and v}
    return (list(vector) if vector else None), {}
