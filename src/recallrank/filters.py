"""One filter language for every front end, executed inside Qdrant on both backends.

The model mirrors Qdrant's own: a :class:`Filter` holds ``must`` / ``should`` / ``must_not`` lists of conditions
(:class:`Match`, :class:`MatchAny`, :class:`MatchExcept`, :class:`Range`, :class:`IsEmpty`, :class:`IsNull`, or
another :class:`Filter`). Keys name metadata fields; ``"a.b"`` reaches into nested objects and ``"a[].b"`` into
lists of objects, as in Qdrant; ``"@text"`` and ``"@doc_id"`` name the document's own text and id. Front ends
translate *to* this model: :func:`as_filter` reads the plain dicts of the Python API (``{"source": "faq"}``, or
Qdrant-style ``{"must": [...]}``), :func:`from_haystack` Haystack's ``field``/``operator``/``value`` dicts and
:func:`from_mongo` LangChain's ``$and``/``$eq`` dicts. Nothing is ever filtered in Python after the search, which
would silently return fewer than ``top_k``.

Example:
    >>> from recallrank.filters import Filter, Match, Range, as_filter
    >>> f = Filter(must=(Match("lang", "en"), Range("year", gte=2020)))
    >>> as_filter({"lang": "en", "year": {"gte": 2020}}) == f
    True
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Union

from recallrank.documents import INT_MAX, INT_MIN, check_unicode
from recallrank.errors import InvalidInputError

#: a value a match condition compares exactly (bool matches booleans only, never 1)
Exact = str | int | bool
_SEGMENT = r'[^."\[\]]+(\[\])?'
_KEY = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*$")
_PLAIN = re.compile(r"^[\w-]+$")


class FilterValueError(InvalidInputError):
    """A filter names an unsupported operator or gives a value of the wrong type (says which and what is accepted)."""


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key.strip() or not _KEY.match(key):
        raise FilterValueError(f"{where}: {key!r} is not a metadata key; give a field name such as 'source', "
                               "'author.name' for a nested object or 'tags[].name' for a list of objects")
    check_unicode(key, where)
    return key


def _exact(key: str, op: str, value: Any) -> Exact:
    if isinstance(value, str):
        check_unicode(value, f"filter {key!r} {op}")
        return value
    if isinstance(value, int):  # bool is an int
        if not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
            raise FilterValueError(f"filter {key!r} {op} {value}: outside the 64-bit integer range that can be "
                                   "stored, so nothing can match it; filter on the string instead")
        return value
    raise FilterValueError(f"filter {key!r} {op} {value!r:.80}: match values must be str, int or bool "
                           f"(got {type(value).__name__}); for a float use a range such as {{'gte': x, 'lte': x}}")


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value`` (a str, int or bool; types are never mixed: ``"5"`` does not match ``5``)."""

    key: str
    value: Exact

    def __post_init__(self) -> None:
        _key(self.key, "Match")
        _exact(self.key, "==", self.value)


def _values(key: str, op: str, values: Any) -> tuple[Exact, ...]:
    if not isinstance(values, (list, tuple)):
        raise FilterValueError(f"filter {key!r} {op}: expects a list of values, got {type(values).__name__} "
                               f"{values!r:.80}")
    if not values:
        raise FilterValueError(f"filter {key!r} {op}: the list is empty; give at least one value")
    return tuple(_exact(key, op, v) for v in values)


@dataclass(frozen=True)
class MatchAny:
    """``key`` equals one of ``values``."""

    key: str
    values: tuple[Exact, ...]

    def __post_init__(self) -> None:
        _key(self.key, "MatchAny")
        object.__setattr__(self, "values", _values(self.key, "in", self.values))


@dataclass(frozen=True)
class MatchExcept:
    """``key`` has a value and it is none of ``values`` (a point without ``key`` does not match: for "missing or
    other" use ``Filter(must_not=(MatchAny(key, values),))``)."""

    key: str
    values: tuple[Exact, ...]

    def __post_init__(self) -> None:
        _key(self.key, "MatchExcept")
        object.__setattr__(self, "values", _values(self.key, "not in", self.values))


def _bound(key: str, op: str, value: Any) -> float | datetime:
    if isinstance(value, bool) or value is None:
        raise FilterValueError(f"filter {key!r} {op} {value!r}: a range bound is a number, a datetime or an ISO 8601 "
                               "string such as '2024-01-31T12:00:00'")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterValueError(f"filter {key!r} {op} {value}: bounds must be finite numbers")
        return float(value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        raise FilterValueError(f"filter {key!r} {op} {value!r:.80}: a string bound must be an ISO 8601 datetime "
                               "such as '2024-01-31T12:00:00'; compare numbers with numbers")
    raise FilterValueError(f"filter {key!r} {op} {value!r:.80}: a range bound is a number, a datetime or an ISO "
                           f"8601 string, not {type(value).__name__}")


@dataclass(frozen=True)
class Range:
    """``key`` within the given bounds: all numbers, or all datetimes (``datetime`` or ISO 8601 strings, compared as
    instants; a time without zone is UTC, as in Qdrant)."""

    key: str
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None

    def __post_init__(self) -> None:
        _key(self.key, "Range")
        bounds = {op: _bound(self.key, op, v) for op, v in self.bounds().items()}
        if not bounds:
            raise FilterValueError(f"filter {self.key!r}: a range needs at least one of gt, gte, lt, lte")
        if len({isinstance(b, datetime) for b in bounds.values()}) > 1:
            raise FilterValueError(f"filter {self.key!r}: a range mixes numbers and datetimes ({bounds}); use one kind")

    def bounds(self) -> dict[str, Any]:
        return {op: v for op, v in (("gt", self.gt), ("gte", self.gte), ("lt", self.lt), ("lte", self.lte))
                if v is not None}

    @property
    def is_datetime(self) -> bool:
        return any(isinstance(_bound(self.key, op, v), datetime) for op, v in self.bounds().items())


@dataclass(frozen=True)
class IsEmpty:
    """``key`` is missing, null or an empty list."""

    key: str

    def __post_init__(self) -> None:
        _key(self.key, "IsEmpty")


@dataclass(frozen=True)
class IsNull:
    """``key`` is present and null."""

    key: str

    def __post_init__(self) -> None:
        _key(self.key, "IsNull")


@dataclass(frozen=True)
class Nothing:
    """Matches no point (e.g. Haystack's ``>`` against ``None``)."""


Condition = Union[Match, MatchAny, MatchExcept, Range, IsEmpty, IsNull, Nothing, "Filter"]
#: comparison operators as written by the front ends -> Range's bound names
RANGE_OPERATORS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def equals(key: str, value: Any) -> Match | Range:
    """``key`` equal to ``value``: an exact match, or for a float (which Qdrant cannot match exactly) the range
    ``[value, value]``."""
    return Range(key, gte=value, lte=value) if isinstance(value, float) else Match(key, value)
_CONDITIONS = (Match, MatchAny, MatchExcept, Range, IsEmpty, IsNull, Nothing)


@dataclass(frozen=True)
class Filter:
    """All of ``must``, at least one of ``should`` (when given) and none of ``must_not``."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        for part in ("must", "should", "must_not"):
            items = tuple(getattr(self, part))
            for c in items:
                if not isinstance(c, (*_CONDITIONS, Filter)):
                    raise FilterValueError(f"Filter.{part} holds {c!r:.80}; conditions are Match, MatchAny, "
                                           "MatchExcept, Range, IsEmpty, IsNull or a nested Filter")
            object.__setattr__(self, part, items)

    def keys(self) -> set[str]:
        """Every metadata key the filter reads (for payload indexes)."""
        out: set[str] = set()
        for c in (*self.must, *self.should, *self.must_not):
            out |= c.keys() if isinstance(c, Filter) else ({c.key} if hasattr(c, "key") else set())
        return out

    def __bool__(self) -> bool:
        return bool(self.must or self.should or self.must_not)


# --- reading the plain dicts of the Python API and the CLI -------------------------------------------------------

_STRUCTURE = {"must", "should", "must_not"}
_RANGE_OPS = {"gt", "gte", "lt", "lte"}


def as_filter(flt: Any) -> Filter | None:
    """Any accepted filter form as a :class:`Filter` (``None`` for no filter), validated before anything runs.

    Accepted: a :class:`Filter` or a single condition; ``{"key": value}`` (equal), ``{"key": [v1, v2]}`` (any of
    them), ``{"key": {"gte": 1, "lt": 5}}`` (range), all keys must match; or Qdrant's own shape
    ``{"must": [...], "should": [...], "must_not": [...]}`` whose conditions are ``{"key": k, "match": {"value": v}}``
    (or ``"any"`` / ``"except"``), ``{"key": k, "range": {...}}``, ``{"is_empty": {"key": k}}``,
    ``{"is_null": {"key": k}}`` or nested filters; or LangChain's ``$`` operators (see :func:`from_mongo`).
    """
    if flt is None:
        return None
    if isinstance(flt, Filter):
        return flt or None
    if isinstance(flt, _CONDITIONS):
        return Filter(must=(flt,))
    if not isinstance(flt, Mapping):
        raise FilterValueError(f"filter must be a dict like {{'source': 'faq'}} or a recallrank.filters.Filter, "
                               f"got {type(flt).__name__}")
    if flt and set(flt) <= _STRUCTURE and all(isinstance(v, (list, tuple)) for v in flt.values()):
        return _qdrant_dict(flt) or None
    if any(str(k).startswith("$") or (isinstance(v, Mapping) and any(str(o).startswith("$") for o in v))
           for k, v in flt.items()):
        return from_mongo(flt)
    must: list[Condition] = []
    for key, value in flt.items():
        key = _key(key, "filter key")
        if isinstance(value, Mapping):
            unknown = set(value) - _RANGE_OPS
            if unknown:
                raise FilterValueError(f"filter[{key!r}] = {dict(value)!r:.80}: a dict value is a range with keys "
                                       f"gt, gte, lt, lte; {sorted(unknown)} are not accepted")
            must.append(Range(key, **value))
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values:
                raise FilterValueError(f"filter[{key!r}] is an empty list; give at least one value to match")
            must.append(Match(key, values[0]) if len(values) == 1 else MatchAny(key, tuple(values)))
        else:
            must.append(Match(key, _exact(key, "==", value)))
    return Filter(must=tuple(must)) if must else None


def _qdrant_dict(flt: Mapping[str, Any]) -> Filter:
    return Filter(**{part: tuple(_qdrant_condition(c) for c in flt.get(part, ())) for part in _STRUCTURE})


def _qdrant_condition(c: Any) -> Condition:
    if not isinstance(c, Mapping):
        raise FilterValueError(f"filter condition {c!r:.80}: expected a dict such as "
                               "{'key': 'lang', 'match': {'value': 'en'}}")
    if set(c) & _STRUCTURE:
        return _qdrant_dict(c)
    for kind, cls in (("is_empty", IsEmpty), ("is_null", IsNull)):
        if kind in c:
            inner = c[kind]
            return cls(inner["key"] if isinstance(inner, Mapping) and "key" in inner else inner)
    key = _key(c.get("key"), f"filter condition {dict(c)!r:.80}")
    if isinstance(c.get("match"), Mapping):
        m = c["match"]
        if "value" in m:
            return Match(key, m["value"])
        if "any" in m:
            return MatchAny(key, tuple(m["any"]) if isinstance(m["any"], list) else m["any"])
        if "except" in m:
            return MatchExcept(key, tuple(m["except"]) if isinstance(m["except"], list) else m["except"])
        raise FilterValueError(f"filter {key!r} match {dict(m)!r:.80}: give 'value', 'any' or 'except'")
    if isinstance(c.get("range"), Mapping):
        unknown = set(c["range"]) - _RANGE_OPS
        if unknown:
            raise FilterValueError(f"filter {key!r} range: {sorted(unknown)} not accepted; use gt, gte, lt, lte")
        return Range(key, **c["range"])
    raise FilterValueError(f"filter condition on {key!r}: give 'match' ({{'value'|'any'|'except': ...}}) or "
                           "'range' ({'gte': ..., 'lt': ...})")


# --- Haystack ----------------------------------------------------------------------------------------------------

_HAYSTACK_COMPARISONS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in")


def from_haystack(flt: Mapping[str, Any] | None, fields: Mapping[str, str] | None = None) -> Filter | None:
    """Haystack 2/3 filter dicts (``{"field": "meta.x", "operator": "==", "value": 1}`` and
    ``{"operator": "AND" | "OR" | "NOT", "conditions": [...]}``) as a :class:`Filter`, with Haystack's semantics:
    ``== None`` matches a missing or null field, ``!=`` and ``not in`` also match documents without the field, and a
    range against ``None`` matches nothing. ``fields`` maps document fields other than ``meta.*`` (e.g.
    ``{"content": "text"}``) to payload keys; ``meta.`` is stripped from the rest."""
    if not flt:
        return None
    return Filter(must=(_haystack(flt, fields or {}),))


def _haystack(c: Any, fields: Mapping[str, str]) -> Condition:
    if not isinstance(c, Mapping):
        raise FilterValueError(f"Haystack filter {c!r:.80}: each condition is a dict with 'field', 'operator' and "
                               "'value', or 'operator' and 'conditions'")
    if "field" not in c:
        if "operator" not in c:
            raise FilterValueError(f"Haystack filter {dict(c)!r:.100}: missing 'operator' (AND, OR or NOT with "
                                   "'conditions', or a comparison with 'field' and 'value')")
        if "conditions" not in c:
            raise FilterValueError(f"Haystack filter {dict(c)!r:.100}: the logical operator {c['operator']!r} "
                                   "needs a 'conditions' list; a comparison needs a 'field'")
        op, items = c["operator"], c["conditions"]
        if not isinstance(items, list):
            raise FilterValueError(f"Haystack filter {op!r}: 'conditions' must be a list of conditions")
        inner = tuple(_haystack(x, fields) for x in items)
        if op == "AND":
            return Filter(must=inner)
        if op == "OR":
            return Filter(should=inner) if inner else Filter()
        if op == "NOT":
            return Filter(must_not=(Filter(must=inner),))
        raise FilterValueError(f"Haystack filter: logical operator {op!r} is not one of AND, OR, NOT")
    for part in ("operator", "value"):
        if part not in c:
            raise FilterValueError(f"Haystack filter on {c['field']!r}: missing {part!r}")
    field, op, value = c["field"], c["operator"], c["value"]
    if not isinstance(field, str):
        raise FilterValueError(f"Haystack filter: field {field!r} must be a string such as 'meta.year'")
    key = fields.get(field, field[5:] if field.startswith("meta.") else field)
    where = f"Haystack filter on {field!r} with operator {op!r}"
    if op not in _HAYSTACK_COMPARISONS:
        raise FilterValueError(f"{where}: unsupported; use one of {', '.join(_HAYSTACK_COMPARISONS)} "
                               "(or AND / OR / NOT with 'conditions')")
    try:
        return _haystack_comparison(key, op, value)
    except FilterValueError as exc:
        raise FilterValueError(f"{where}: {exc}") from None


def _haystack_comparison(key: str, op: str, value: Any) -> Condition:
    if op in ("==", "!="):
        if value is None:
            cond: Condition = IsEmpty(key)
        elif isinstance(value, (str, int, float)):
            cond = equals(key, value)
        else:
            raise FilterValueError(f"value {value!r:.80} is a {type(value).__name__}; compare with a str, int, "
                                   "float, bool or None")
        return cond if op == "==" else Filter(must_not=(cond,))
    if op in ("in", "not in"):
        if not isinstance(value, list):
            raise FilterValueError(f"value {value!r:.80} must be a list, got {type(value).__name__}")
        exact = tuple(v for v in value if not isinstance(v, float))
        parts: list[Condition] = [equals(key, v) for v in value if isinstance(v, float)]
        parts += [MatchAny(key, exact)] if exact else []  # mixed types become exact matches in to_qdrant
        any_of = Filter(should=tuple(parts)) if parts else Nothing()
        return any_of if op == "in" else Filter(must_not=(any_of,)) if parts else Filter()
    if value is None:
        return Nothing()
    if isinstance(value, (list, tuple, dict, bool)):
        raise FilterValueError(f"value {value!r:.80}: compare with a number or an ISO 8601 date string")
    return Range(key, **{RANGE_OPERATORS[op]: value})


# --- LangChain (Mongo-style operators, as in its structured-query translators) -----------------------------------

_MONGO = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}


def from_mongo(flt: Mapping[str, Any] | None) -> Filter | None:
    """LangChain's filter dicts: ``{"key": value}``, ``{"key": {"$gte": 3}}``, ``{"$and": [...]}``, ``{"$or": [...]}``,
    ``{"$not": {...}}`` with ``$eq $ne $gt $gte $lt $lte $in $nin $exists``, as a :class:`Filter`."""
    if not flt:
        return None
    return _mongo(flt) or None


def _mongo(flt: Any) -> Filter:
    if not isinstance(flt, Mapping):
        raise FilterValueError(f"filter {flt!r:.80}: expected a dict such as {{'source': 'faq'}} or "
                               "{'year': {'$gte': 2020}}")
    must: list[Condition] = []
    for key, value in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise FilterValueError(f"filter {key}: expects a list of filters, got {type(value).__name__}")
            inner = tuple(_mongo(v) for v in value)
            must.append(Filter(must=inner) if key == "$and" else Filter(should=inner))
        elif key == "$not":
            must.append(Filter(must_not=(_mongo(value),)))
        elif isinstance(key, str) and key.startswith("$"):
            raise FilterValueError(f"filter operator {key!r} is not supported at the top level; use $and, $or, $not "
                                   "or a field name")
        elif isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
            must.extend(_mongo_field(_key(key, "filter key"), value))
        else:
            plain = as_filter({key: value})
            must.extend(plain.must if plain else ())
    return Filter(must=tuple(must))


def _mongo_field(key: str, ops: Mapping[str, Any]) -> list[Condition]:
    out: list[Condition] = []
    for op, value in ops.items():
        if op not in _MONGO:
            raise FilterValueError(f"filter {key!r}: operator {op!r} is not supported; use one of "
                                   f"{', '.join(sorted(_MONGO))}")
        if op == "$exists":
            if not isinstance(value, bool):
                raise FilterValueError(f"filter {key!r} $exists: expects true or false, got {value!r:.40}")
            out.append(Filter(must_not=(IsEmpty(key),)) if value else IsEmpty(key))
        elif op in ("$eq", "$ne"):
            cond = equals(key, value if isinstance(value, float) else _exact(key, op, value))
            out.append(cond if op == "$eq" else Filter(must_not=(cond,)))
        elif op in ("$in", "$nin"):
            any_of = MatchAny(key, tuple(value) if isinstance(value, list) else value)
            out.append(any_of if op == "$in" else Filter(must_not=(any_of,)))
        else:
            out.append(Range(key, **{op[1:]: value}))
    return out


# --- to Qdrant ---------------------------------------------------------------------------------------------------


def payload_key(key: str, prefix: str = "metadata.") -> str:
    """The payload path of a filter key: under ``prefix`` (``@text``/``@doc_id`` at the top), segments other than
    plain words quoted, as Qdrant's JSON paths want."""
    if key.startswith("@"):  # a payload field beside the metadata
        prefix, key = "", key[1:]
    return prefix + ".".join(seg if _PLAIN.match(seg.removesuffix("[]")) else
                             f'"{seg.removesuffix("[]")}"' + ("[]" if seg.endswith("[]") else "")
                             for seg in key.split("."))


def to_qdrant(flt: Filter | None, models: Any, prefix: str = "metadata.",
              typed: Callable[[Any], Any] = lambda v: v) -> Any:
    """``flt`` as a Qdrant ``Filter`` of ``models`` (``qdrant_edge`` or ``qdrant_client.models``; the class names
    differ only for ranges and empty/null checks), keys under ``prefix`` in the payload. ``typed`` wraps each exact
    value (qdrant-edge needs its booleans as ``numpy.bool_``)."""
    if not flt:
        return None
    edge = hasattr(models, "RangeFloat")

    def key(k: str) -> str:
        return payload_key(k, prefix)

    def cond(c: Condition) -> Any:
        if isinstance(c, Filter):
            return build(c)
        if isinstance(c, Match):
            return models.FieldCondition(key=key(c.key), match=models.MatchValue(value=typed(c.value)))
        if isinstance(c, (MatchAny, MatchExcept)):
            one_type = all(isinstance(v, str) for v in c.values) or \
                all(isinstance(v, int) and not isinstance(v, bool) for v in c.values)
            if not one_type:  # Qdrant's match-any takes neither booleans nor mixed types: OR exact matches
                exact = models.Filter(should=[cond(Match(c.key, v)) for v in c.values])
                if isinstance(c, MatchAny):
                    return exact
                return models.Filter(must=[models.Filter(must_not=[cond(IsEmpty(c.key))]),
                                           models.Filter(must_not=[exact])])
            if isinstance(c, MatchAny):
                return models.FieldCondition(key=key(c.key), match=models.MatchAny(any=list(c.values)))
            return models.FieldCondition(key=key(c.key), match=models.MatchExcept(**{"except": list(c.values)}))
        if isinstance(c, Range):
            bounds = c.bounds()
            if c.is_datetime:
                instants = {op: _bound(c.key, op, v) for op, v in bounds.items()}
                values = {op: v.isoformat() if edge and isinstance(v, datetime) else v for op, v in instants.items()}
                rng = models.RangeDateTime(**values) if edge else models.DatetimeRange(**values)
            else:
                values = {op: float(v) for op, v in bounds.items()}
                rng = models.RangeFloat(**values) if edge else models.Range(**values)
            return models.FieldCondition(key=key(c.key), range=rng)
        if isinstance(c, IsEmpty):
            return models.IsEmptyCondition(key=key(c.key)) if edge else \
                models.IsEmptyCondition(is_empty=models.PayloadField(key=key(c.key)))
        if isinstance(c, IsNull):
            return models.IsNullCondition(key=key(c.key)) if edge else \
                models.IsNullCondition(is_null=models.PayloadField(key=key(c.key)))
        if isinstance(c, Nothing):
            return models.HasIdCondition(point_ids=set()) if edge else models.HasIdCondition(has_id=[])
        raise FilterValueError(f"unknown filter condition {c!r:.80}")

    def build(f: Filter) -> Any:
        return models.Filter(must=[cond(c) for c in f.must] or None, should=[cond(c) for c in f.should] or None,
                             must_not=[cond(c) for c in f.must_not] or None)

    return build(flt)


def payload_schema(flt: Filter | None) -> dict[str, str]:
    """Key -> Qdrant payload index type for the keys ``flt`` reads: ``keyword``, ``integer``, ``bool``, ``float``
    or ``datetime`` (from the values it compares them with). Stores create these indexes on a key's first filtered
    use, so filtered search stays fast as the collection grows; a later filter comparing the key with another type
    is still answered exactly (Qdrant reads the payload where the index cannot)."""
    out: dict[str, str] = {}

    def visit(f: Filter) -> None:
        for c in (*f.must, *f.should, *f.must_not):
            if isinstance(c, Filter):
                visit(c)
            elif isinstance(c, (Match, MatchAny, MatchExcept)):
                values: Sequence[Exact] = (c.value,) if isinstance(c, Match) else c.values
                kinds = {"bool" if isinstance(v, bool) else "integer" if isinstance(v, int) else "keyword"
                         for v in values}
                if len(kinds) == 1:
                    out.setdefault(c.key, kinds.pop())
            elif isinstance(c, Range):
                out.setdefault(c.key, "datetime" if c.is_datetime else "float")

    if flt:
        visit(flt)
    return out
