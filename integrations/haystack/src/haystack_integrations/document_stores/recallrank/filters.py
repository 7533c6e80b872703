"""Haystack filters -> recallrank's filter model, run inside Qdrant by the store.

The translation itself is recallrank's Haystack dialect (``recallrank.filters.from_haystack``, Haystack's
semantics); this module names the fields a Haystack filter may use beside ``meta.*`` and turns a malformed filter
into Haystack's ``FilterError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haystack.errors import FilterError

from recallrank.filters import Filter, FilterValueError, Match, from_haystack

#: Haystack document fields that are not metadata -> payload fields
FIELDS = {"content": "@text", "id": "@doc_id"}
#: documents written without an embedding (they hold a placeholder vector)
NO_EMBEDDING = Match("@haystack.no_embedding", True)


def to_filter(filters: Mapping[str, Any] | None) -> Filter | None:
    """Haystack ``filters`` as recallrank's filter model (``None``: no filter); a malformed one raises Haystack's
    ``FilterError``."""
    if filters is not None and not isinstance(filters, Mapping):
        raise FilterError(f"filters must be a dict, got {type(filters).__name__}")
    try:
        return from_haystack(filters, FIELDS)
    except FilterValueError as exc:
        raise FilterError(str(exc)) from exc


def embedded_only(flt: Filter | None) -> Filter:
    """``flt`` restricted to documents written with an embedding (what embedding retrieval may return)."""
    return Filter(must=(flt,) if flt else (), must_not=(NO_EMBEDDING,))
