"""Front ends' filter dialects read into the one model: the Python API's plain and Qdrant-shaped dicts, LangChain's
``$`` operators and Haystack's ``field``/``operator``/``value`` dicts, each with its framework's semantics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recallrank.filters.model import (
    CONDITIONS,
    RANGE_OPERATORS,
    Condition,
    Exists,
    Filter,
    FilterValueError,
    IsEmpty,
    IsNull,
    Match,
    MatchAny,
    MatchExcept,
    Nothing,
    Range,
    any_of,
    check_key,
    depth_check,
    equals,
    exact,
    missing_or_null,
    show,
)

_STRUCTURE = {"must", "should", "must_not"}
_RANGE_OPS = {"gt", "gte", "lt", "lte"}


def as_filter(flt: Any) -> Filter | None:
    """Any accepted filter form as a :class:`Filter` (``None`` for no filter), validated before anything runs.

    Accepted: a :class:`Filter` or a single condition; ``{"key": value}`` (equal), ``{"key": [v1, v2]}`` (any of
    them), ``{"key": {"gte": 1, "lt": 5}}`` (range), all keys must match; or Qdrant's own shape
    ``{"must": [...], "should": [...], "must_not": [...]}`` whose conditions are ``{"key": k, "match": {"value": v}}``
    (or ``"any"`` / ``"except"``), ``{"key": k, "range": {...}}``, ``{"is_empty": {"key": k}}``,
    ``{"is_null": {"key": k}}`` or nested filters, with Qdrant's semantics; or LangChain's ``$`` operators (see
    :func:`from_mongo`).
    """
    if flt is None:
        return None
    if isinstance(flt, Filter):
        return flt or None
    if isinstance(flt, CONDITIONS):
        return Filter(must=(flt,))
    if not isinstance(flt, Mapping):
        raise FilterValueError(f"filter must be a dict like {{'source': 'faq'}} or a recallrank.filters.Filter, "
                               f"got {type(flt).__name__}")
    if flt and set(flt) <= _STRUCTURE and all(isinstance(v, (list, tuple)) for v in flt.values()):
        return _qdrant_dict(flt, 0) or None
    if any(str(k).startswith("$") or (isinstance(v, Mapping) and any(str(o).startswith("$") for o in v))
           for k, v in flt.items()):
        return from_mongo(flt)
    return _plain(flt) or None


def _plain(flt: Mapping[Any, Any]) -> Filter:
    must: list[Condition] = []
    for key, value in flt.items():
        key = check_key(key, "filter key")
        if isinstance(value, Mapping):
            unknown = set(value) - _RANGE_OPS
            if unknown:
                raise FilterValueError(f"filter[{key!r}] = {show(value)}: a dict value is a range with keys "
                                       f"gt, gte, lt, lte; {sorted(map(str, unknown))} are not accepted")
            must.append(Range(key, **value))
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values:
                raise FilterValueError(f"filter[{key!r}] is an empty list; give at least one value to match")
            must.append(Match(key, values[0]) if len(values) == 1 else MatchAny(key, tuple(values)))
        else:
            must.append(Match(key, exact(key, "==", value)))
    return Filter(must=tuple(must))


def _qdrant_dict(flt: Mapping[str, Any], depth: int) -> Filter:
    depth = depth_check(depth, "Qdrant-shaped filter")
    parts = {}
    for part in _STRUCTURE:
        items = flt.get(part, ())
        if not isinstance(items, (list, tuple)):
            raise FilterValueError(f"filter {part!r}: expects a list of conditions, got {type(items).__name__}")
        parts[part] = tuple(_qdrant_condition(c, depth) for c in items)
    return Filter(**parts)


def _qdrant_condition(c: Any, depth: int) -> Condition:
    if not isinstance(c, Mapping):
        raise FilterValueError(f"filter condition {show(c)}: expected a dict such as "
                               "{'key': 'lang', 'match': {'value': 'en'}}")
    if set(c) & _STRUCTURE:
        return _qdrant_dict(c, depth)
    for kind, cls in (("is_empty", IsEmpty), ("is_null", IsNull)):
        if kind in c:
            inner = c[kind]
            return cls(inner["key"] if isinstance(inner, Mapping) and "key" in inner else inner)
    key = check_key(c.get("key"), f"filter condition {show(c)}")
    if isinstance(c.get("match"), Mapping):
        m = c["match"]
        if "value" in m:
            return Match(key, m["value"])
        if "any" in m:
            return MatchAny(key, tuple(m["any"]) if isinstance(m["any"], list) else m["any"])
        if "except" in m:
            return MatchExcept(key, tuple(m["except"]) if isinstance(m["except"], list) else m["except"])
        raise FilterValueError(f"filter {key!r} match {show(m)}: give 'value', 'any' or 'except'")
    if isinstance(c.get("range"), Mapping):
        unknown = set(c["range"]) - _RANGE_OPS
        if unknown:
            raise FilterValueError(f"filter {key!r} range: {sorted(map(str, unknown))} not accepted; use gt, gte, "
                                   "lt, lte")
        return Range(key, **c["range"])
    raise FilterValueError(f"filter condition on {key!r}: give 'match' ({{'value'|'any'|'except': ...}}) or "
                           "'range' ({'gte': ..., 'lt': ...})")


# --- Haystack ----------------------------------------------------------------------------------------------------

_HAYSTACK_COMPARISONS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in")


def from_haystack(flt: Mapping[str, Any] | None, fields: Mapping[str, str] | None = None) -> Filter | None:
    """Haystack 2/3 filter dicts (``{"field": "meta.x", "operator": "==", "value": 1}`` and
    ``{"operator": "AND" | "OR" | "NOT", "conditions": [...]}``) as a :class:`Filter`, with Haystack's semantics:
    ``== None`` matches a missing or null field (not ``[]``, which is there), ``!=`` and ``not in`` also match
    documents without the field, a range against ``None`` matches nothing, ``AND`` of no conditions matches every
    document and ``OR`` of none no document (``NOT`` of none: none). A list in the metadata matches when one of its
    items does. ``fields`` maps document fields other than ``meta.*`` (e.g. ``{"content": "@text"}``) to filter
    keys; ``meta.`` is stripped from the rest."""
    if not flt:
        return None
    return Filter(must=(_haystack(flt, fields or {}, 0),))


def _haystack(c: Any, fields: Mapping[str, str], depth: int) -> Condition:
    if not isinstance(c, Mapping):
        raise FilterValueError(f"Haystack filter {show(c)}: each condition is a dict with 'field', 'operator' and "
                               "'value', or 'operator' and 'conditions'")
    if "field" not in c:
        if "operator" not in c:
            raise FilterValueError(f"Haystack filter {show(c)}: missing 'operator' (AND, OR or NOT with "
                                   "'conditions', or a comparison with 'field' and 'value')")
        if "conditions" not in c:
            raise FilterValueError(f"Haystack filter {show(c)}: the logical operator {show(c['operator'])} "
                                   "needs a 'conditions' list; a comparison needs a 'field'")
        op, items = c["operator"], c["conditions"]
        if op not in ("AND", "OR", "NOT"):
            raise FilterValueError(f"Haystack filter: logical operator {show(op)} is not one of AND, OR, NOT")
        if not isinstance(items, list):
            raise FilterValueError(f"Haystack filter {op!r}: 'conditions' must be a list of conditions")
        depth = depth_check(depth, f"Haystack filter {op!r}")
        inner = tuple(_haystack(x, fields, depth) for x in items)
        if op == "AND":
            return Filter(must=inner)
        if op == "OR":
            return Filter(should=inner) if inner else Nothing()
        return Filter(must_not=(Filter(must=inner),)) if inner else Nothing()  # NOT: not all of them
    for part in ("operator", "value"):
        if part not in c:
            raise FilterValueError(f"Haystack filter on {show(c['field'])}: missing {part!r}")
    field, op, value = c["field"], c["operator"], c["value"]
    if not isinstance(field, str):
        raise FilterValueError(f"Haystack filter: field {show(field)} must be a string such as 'meta.year'")
    if field in fields:
        key = fields[field]
    else:
        key = field[5:] if field.startswith("meta.") else field
        if key.startswith("@"):
            raise FilterValueError(f"Haystack filter on {field!r}: no metadata key starts with '@' (recallrank "
                                   "refuses such keys when documents are written)")
    where = f"Haystack filter on {field!r} with operator {show(op)}"
    if op not in _HAYSTACK_COMPARISONS:
        raise FilterValueError(f"{where}: unsupported; use one of {', '.join(_HAYSTACK_COMPARISONS)} "
                               "(or AND / OR / NOT with 'conditions')")
    try:
        return _haystack_comparison(key, op, value)
    except FilterValueError as exc:
        raise FilterValueError(f"{where}: {exc}") from None


def _haystack_comparison(key: str, op: str, value: Any) -> Condition:
    check_key(key, "Haystack filter")
    if op in ("==", "!="):
        if value is None:
            cond: Condition = missing_or_null(key)
        elif isinstance(value, (str, int, float)):
            cond = equals(key, value)
        else:
            raise FilterValueError(f"value {show(value)} is a {type(value).__name__}; compare with a str, int, "
                                   "float, bool or None")
        return cond if op == "==" else Filter(must_not=(cond,))
    if op in ("in", "not in"):
        if not isinstance(value, list):
            raise FilterValueError(f"value {show(value)} must be a list, got {type(value).__name__}")
        any_in = any_of(key, value, op)
        if op == "in":
            return any_in
        return Filter() if isinstance(any_in, Nothing) else Filter(must_not=(any_in,))
    if value is None:
        return Nothing()
    if isinstance(value, (list, tuple, dict, bool)):
        raise FilterValueError(f"value {show(value)}: compare with a number or an ISO 8601 date string")
    return Range(key, **{RANGE_OPERATORS[op]: value})


# --- LangChain (Mongo-style operators, as in its vector stores' filters) -----------------------------------------

_MONGO = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}


def from_mongo(flt: Mapping[str, Any] | None) -> Filter | None:
    """LangChain's filter dicts: ``{"key": value}``, ``{"key": {"$gte": 3}}``, ``{"$and": [...]}``, ``{"$or": [...]}``,
    ``{"$not": {...}}`` with ``$eq $ne $gt $gte $lt $lte $in $nin $exists``, as a :class:`Filter`, with MongoDB's
    semantics (which LangChain's vector stores follow): ``$ne`` and ``$nin`` also match documents without the key,
    ``$eq: None`` matches a missing or null key, ``$exists: true`` a key that is there whatever its value (null and
    ``[]`` included; as ``jsonb_exists`` in langchain-postgres), and ``$and`` / ``$or`` need at least one filter.
    A list in the metadata matches when one of its items does."""
    if not flt:
        return None
    return _mongo(flt, 0) or None


def _mongo(flt: Any, depth: int) -> Filter:
    if not isinstance(flt, Mapping):
        raise FilterValueError(f"filter {show(flt)}: expected a dict such as {{'source': 'faq'}} or "
                               "{'year': {'$gte': 2020}}")
    depth = depth_check(depth, "LangChain filter")
    must: list[Condition] = []
    for key, value in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterValueError(f"filter {key}: expects a non-empty list of filters, got {show(value)}")
            inner = tuple(_mongo(v, depth) for v in value)
            must.append(Filter(must=inner) if key == "$and" else Filter(should=inner))
        elif key == "$not":
            must.append(Filter(must_not=(_mongo(value, depth),)))
        elif isinstance(key, str) and key.startswith("$"):
            raise FilterValueError(f"filter operator {key!r} is not supported at the top level; use $and, $or, $not "
                                   "or a field name")
        elif isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
            must.extend(_mongo_field(check_key(key, "filter key"), value))
        else:
            must.extend(_plain({key: value}).must)
    return Filter(must=tuple(must))


def _mongo_field(key: str, ops: Mapping[str, Any]) -> list[Condition]:
    out: list[Condition] = []
    for op, value in ops.items():
        if op not in _MONGO:
            raise FilterValueError(f"filter {key!r}: operator {show(op)} is not supported; use one of "
                                   f"{', '.join(sorted(_MONGO))}")
        if op == "$exists":
            if not isinstance(value, bool):
                raise FilterValueError(f"filter {key!r} $exists: expects true or false, got {show(value)}")
            out.append(Exists(key) if value else Filter(must_not=(Exists(key),)))
        elif op in ("$eq", "$ne"):
            cond: Condition = missing_or_null(key) if value is None else \
                equals(key, value if isinstance(value, float) else exact(key, op, value))
            out.append(cond if op == "$eq" else Filter(must_not=(cond,)))
        elif op in ("$in", "$nin"):
            if not isinstance(value, list):
                raise FilterValueError(f"filter {key!r} {op}: expects a list of values, got {show(value)}")
            any_in = any_of(key, value, op)
            out.append(any_in if op == "$in" else
                       Filter() if isinstance(any_in, Nothing) else Filter(must_not=(any_in,)))
        else:
            out.append(Range(key, **{op[1:]: value}))
    return out
