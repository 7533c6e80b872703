"""One filter language for every front end, executed inside Qdrant on both backends.

The model (:mod:`~recallrank.filters.model`) mirrors Qdrant's own: a :class:`Filter` holds ``must`` / ``should`` /
``must_not`` lists of conditions (:class:`Match`, :class:`MatchAny`, :class:`MatchExcept`, :class:`Range`,
:class:`IsEmpty`, :class:`IsNull`, :class:`Exists`, :class:`Nothing`, or another :class:`Filter`). Keys name
metadata fields; ``"a.b"`` reaches into nested objects and ``"a[].b"`` into lists of objects, as in Qdrant;
``"@text"`` and ``"@doc_id"`` name the document's own text and id. Types are never mixed (``"02139"`` is not
``2139``, ``True`` is not ``1``), and a list in the metadata matches when one of its items does.

Front ends translate *to* this model (:mod:`~recallrank.filters.dialects`): :func:`as_filter` reads the plain dicts
of the Python API (``{"source": "faq"}``, or Qdrant-style ``{"must": [...]}``), :func:`from_haystack` Haystack's
``field``/``operator``/``value`` dicts and :func:`from_mongo` LangChain's ``$and``/``$eq`` dicts, each with its
framework's semantics; :mod:`~recallrank.filters.qdrant` compiles it for both backends. Nothing is ever filtered in
Python after the search, which would silently return fewer than ``top_k``.

Limits, refused with a :class:`FilterValueError` before anything runs: :data:`MAX_FILTER_DEPTH` levels of nesting,
:data:`MAX_FILTER_VALUES` values in one list, :data:`MAX_FILTER_CONDITIONS` conditions in all. A search never
writes to the store: payload indexes are made when documents are written, or by ``store.create_payload_index``.

Example:
    >>> from recallrank.filters import Filter, Match, Range, as_filter
    >>> f = Filter(must=(Match("lang", "en"), Range("year", gte=2020)))
    >>> as_filter({"lang": "en", "year": {"gte": 2020}}) == f
    True
"""

from __future__ import annotations

from recallrank.filters.dialects import as_filter, from_haystack, from_mongo
from recallrank.filters.model import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    RANGE_OPERATORS,
    Condition,
    Exact,
    Exists,
    Filter,
    FilterValueError,
    InexactFilterError,
    IsEmpty,
    IsNull,
    Match,
    MatchAny,
    MatchExcept,
    Nothing,
    Range,
    any_of,
    depth_check,
    equals,
    missing_or_null,
)
from recallrank.filters.qdrant import PATHS_FIELD, check_indexes, metadata_paths, payload_key, to_qdrant

__all__ = [
    "MAX_FILTER_CONDITIONS", "MAX_FILTER_DEPTH", "MAX_FILTER_VALUES", "PATHS_FIELD", "RANGE_OPERATORS", "Condition",
    "Exact", "Exists", "Filter", "FilterValueError", "InexactFilterError", "IsEmpty", "IsNull", "Match", "MatchAny",
    "MatchExcept", "Nothing", "Range", "any_of", "as_filter", "check_indexes", "depth_check", "equals",
    "from_haystack", "from_mongo", "metadata_paths", "missing_or_null", "payload_key", "to_qdrant",
]
