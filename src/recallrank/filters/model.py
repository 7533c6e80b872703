"""The filter model: conditions, their validation and the limits every filter is held to."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Union

from recallrank.documents import INT_MAX, INT_MIN, KEY_FORBIDDEN, check_unicode
from recallrank.errors import InvalidInputError, StoreError

#: a value a match condition compares exactly (bool matches booleans only, never 1)
Exact = str | int | bool
#: how deep filters may nest: a Filter inside a Filter is one level (Qdrant's must/should/must_not, Haystack's
#: AND/OR, LangChain's $and/$or and LlamaIndex's MetadataFilters take one each; a NOT or $not may take two);
#: deeper filters are refused, the dialects' own nesting before it is read
MAX_FILTER_DEPTH = 32
#: how many values one ``in`` / ``any`` / ``except`` / ``$in`` / ``$nin`` list may hold
MAX_FILTER_VALUES = 1024
#: how many conditions one filter may hold in all
MAX_FILTER_CONDITIONS = 4096
#: the names the document's own fields have in filter keys (the rest are metadata keys)
SPECIAL_KEYS = ("@text", "@doc_id")

_short = reprlib.Repr()
_short.maxlevel, _short.maxdict, _short.maxlist, _short.maxstring, _short.maxother = 3, 4, 4, 40, 40


def show(value: Any) -> str:
    """A short repr for messages: bounded in length and depth, so a hostile filter cannot blow up its own error."""
    return _short.repr(value)


class FilterValueError(InvalidInputError):
    """A filter names an unsupported operator or gives a value of the wrong type (says which and what is accepted)."""


class InexactFilterError(StoreError):
    """The collection cannot answer a filter exactly as it stands (a payload index whose type changes how Qdrant
    compares, or points written before recallrank recorded which metadata keys they hold); says how to fix it."""


def check_key(key: Any, where: str) -> str:
    """``key`` if it names a field: metadata keys joined by ``.`` (``author.name``), ``[]`` after a list of objects
    (``tags[].name``), or ``@text`` / ``@doc_id``."""
    if isinstance(key, str) and key.strip():
        segments = key.split(".")
        names = [s.removesuffix("[]") for s in segments]
        if all(n.strip() and not set(n) & set(KEY_FORBIDDEN) for n in names):
            check_unicode(key, where)
            return key
    raise FilterValueError(f"{where}: {show(key)} is not a metadata key; give a field name such as 'source', "
                           "'author.name' for a nested object or 'tags[].name' for a list of objects")


def depth_check(depth: int, where: str) -> int:
    """``depth + 1``, or a FilterValueError when that is deeper than :data:`MAX_FILTER_DEPTH`."""
    if depth >= MAX_FILTER_DEPTH:
        raise FilterValueError(f"{where}: the filter is nested more than {MAX_FILTER_DEPTH} levels deep; flatten it "
                               "(a list of values with 'in' instead of nested ORs, one AND instead of ANDs in ANDs)")
    return depth + 1


def exact(key: str, op: str, value: Any) -> Exact:
    if isinstance(value, str):
        check_unicode(value, f"filter {key!r} {op}")
        return value
    if isinstance(value, int):  # bool is an int
        if not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
            raise FilterValueError(f"filter {key!r} {op} {value}: outside the 64-bit integer range that can be "
                                   "stored, so nothing can match it; filter on the string instead")
        return value
    raise FilterValueError(f"filter {key!r} {op} {show(value)}: match values must be str, int or bool "
                           f"(got {type(value).__name__}); for a float use a range such as {{'gte': x, 'lte': x}}")


def exact_values(key: str, op: str, values: Any) -> tuple[Exact, ...]:
    if not isinstance(values, (list, tuple)):
        raise FilterValueError(f"filter {key!r} {op}: expects a list of values, got {type(values).__name__} "
                               f"{show(values)}")
    if not values:
        raise FilterValueError(f"filter {key!r} {op}: the list is empty; give at least one value")
    check_count(key, op, values)
    return tuple(exact(key, op, v) for v in values)


def check_count(key: str, op: str, values: Any) -> None:
    if len(values) > MAX_FILTER_VALUES:
        raise FilterValueError(f"filter {key!r} {op}: {len(values):,} values, over the {MAX_FILTER_VALUES:,} a list "
                               "may hold; split the query, or store a coarser field (e.g. a group) to filter on")


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value`` (a str, int or bool; types are never mixed: ``"5"`` does not match ``5``, ``True``
    does not match ``1``, and ``1`` does not match ``1.0``). A list matches when one of its items does (as in
    Qdrant: a single value counts as a list of one)."""

    key: str
    value: Exact

    def __post_init__(self) -> None:
        check_key(self.key, "Match")
        exact(self.key, "==", self.value)


@dataclass(frozen=True)
class MatchAny:
    """``key`` equals one of ``values`` (at most :data:`MAX_FILTER_VALUES`)."""

    key: str
    values: tuple[Exact, ...]

    def __post_init__(self) -> None:
        check_key(self.key, "MatchAny")
        object.__setattr__(self, "values", exact_values(self.key, "in", self.values))


@dataclass(frozen=True)
class MatchExcept:
    """``key`` holds a value that is none of ``values``, as Qdrant's ``match: {except: [...]}``: for a list, at least
    one item that is none of them; a value of another type counts (the integer ``2139`` is not ``"02139"``). A point
    without ``key``, or with only null or ``[]`` there, does not match; for "missing or other" use
    ``Filter(must_not=(MatchAny(key, values),))``. ``values`` are all ``str`` or all ``int``, as in Qdrant."""

    key: str
    values: tuple[Exact, ...]

    def __post_init__(self) -> None:
        check_key(self.key, "MatchExcept")
        values = exact_values(self.key, "except", self.values)
        if not (all(isinstance(v, str) for v in values)
                or all(isinstance(v, int) and not isinstance(v, bool) for v in values)):
            raise FilterValueError(f"filter {self.key!r} except {show(list(values))}: give values of one type, all "
                                   "strings or all integers (as Qdrant's match except); for 'none of these values' "
                                   "use Filter(must_not=(MatchAny(key, values),))")
        object.__setattr__(self, "values", values)


def bound(key: str, op: str, value: Any) -> float | datetime:
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
        raise FilterValueError(f"filter {key!r} {op} {show(value)}: a string bound must be an ISO 8601 datetime "
                               "such as '2024-01-31T12:00:00'; compare numbers with numbers")
    raise FilterValueError(f"filter {key!r} {op} {show(value)}: a range bound is a number, a datetime or an ISO "
                           f"8601 string, not {type(value).__name__}")


@dataclass(frozen=True)
class Range:
    """``key`` within the given bounds: all numbers (compared as 64-bit floats, ints and floats alike; booleans and
    strings never match), or all datetimes (``datetime`` or ISO 8601 strings, compared as instants with stored
    ISO 8601 strings; a time without zone is UTC, as in Qdrant). A list matches when one of its items does."""

    key: str
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None

    def __post_init__(self) -> None:
        check_key(self.key, "Range")
        bounds = {op: bound(self.key, op, v) for op, v in self.bounds().items()}
        if not bounds:
            raise FilterValueError(f"filter {self.key!r}: a range needs at least one of gt, gte, lt, lte")
        if len({isinstance(b, datetime) for b in bounds.values()}) > 1:
            raise FilterValueError(f"filter {self.key!r}: a range mixes numbers and datetimes ({show(bounds)}); use "
                                   "one kind")

    def bounds(self) -> dict[str, Any]:
        return {op: v for op, v in (("gt", self.gt), ("gte", self.gte), ("lt", self.lt), ("lte", self.lte))
                if v is not None}

    @property
    def is_datetime(self) -> bool:
        return any(isinstance(bound(self.key, op, v), datetime) for op, v in self.bounds().items())


@dataclass(frozen=True)
class IsEmpty:
    """``key`` is missing, null or ``[]`` (Qdrant's ``is_empty``)."""

    key: str

    def __post_init__(self) -> None:
        check_key(self.key, "IsEmpty")


@dataclass(frozen=True)
class IsNull:
    """``key`` is null, or a list holding a null (Qdrant's ``is_null``)."""

    key: str

    def __post_init__(self) -> None:
        check_key(self.key, "IsNull")


@dataclass(frozen=True)
class Exists:
    """The metadata has ``key``, whatever its value: null and ``[]`` included (LangChain's and MongoDB's
    ``$exists: true``). ``tags[].name`` exists when an object in the list ``tags`` has ``name``. Answered from the
    record of metadata keys that recallrank writes with every point (see :mod:`recallrank.filters.qdrant`)."""

    key: str

    def __post_init__(self) -> None:
        check_key(self.key, "Exists")
        if self.key.startswith("@"):
            raise FilterValueError(f"Exists({self.key!r}): Exists asks about metadata keys; every document has "
                                   f"{', '.join(SPECIAL_KEYS)}")


@dataclass(frozen=True)
class Nothing:
    """Matches no point (e.g. Haystack's ``>`` against ``None``, or an ``OR`` of no conditions)."""


Condition = Union[Match, MatchAny, MatchExcept, Range, IsEmpty, IsNull, Exists, Nothing, "Filter"]
CONDITIONS = (Match, MatchAny, MatchExcept, Range, IsEmpty, IsNull, Exists, Nothing)
#: comparison operators as written by the front ends -> Range's bound names
RANGE_OPERATORS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


@dataclass(frozen=True)
class Filter:
    """All of ``must``, at least one of ``should`` (when given) and none of ``must_not``; an empty Filter matches
    every point. Nested at most :data:`MAX_FILTER_DEPTH` deep, with at most :data:`MAX_FILTER_CONDITIONS`
    conditions in all."""

    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()
    #: how deep it nests (1: no Filter inside) and how many conditions it holds; set from the parts
    depth: int = field(default=1, init=False, compare=False, repr=False)
    size: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        depth, size = 1, 0
        for part in ("must", "should", "must_not"):
            items = tuple(getattr(self, part))
            for c in items:
                if isinstance(c, Filter):
                    depth, size = max(depth, c.depth + 1), size + c.size
                elif isinstance(c, CONDITIONS):
                    size += 1
                else:
                    raise FilterValueError(f"Filter.{part} holds {show(c)}; conditions are Match, MatchAny, "
                                           "MatchExcept, Range, IsEmpty, IsNull, Exists, Nothing or a nested Filter")
            object.__setattr__(self, part, items)
        if depth > MAX_FILTER_DEPTH:
            depth_check(depth - 1, "Filter")
        if size > MAX_FILTER_CONDITIONS:
            raise FilterValueError(f"the filter holds {size:,} conditions, over the {MAX_FILTER_CONDITIONS:,} allowed; "
                                   "use lists of values ('in') instead of one condition per value")
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "size", size)

    def keys(self) -> set[str]:
        """Every key the filter reads."""
        out: set[str] = set()
        for c in (*self.must, *self.should, *self.must_not):
            out |= c.keys() if isinstance(c, Filter) else ({c.key} if hasattr(c, "key") else set())
        return out

    def conditions(self) -> list[Condition]:
        """Every condition other than a Filter, at any depth."""
        out: list[Condition] = []
        for c in (*self.must, *self.should, *self.must_not):
            out.extend(c.conditions() if isinstance(c, Filter) else [c])
        return out

    def __bool__(self) -> bool:
        return bool(self.must or self.should or self.must_not)


# --- shapes several front ends share --------------------------------------------------------------------------

def equals(key: str, value: Any) -> Match | Range:
    """``key`` equal to ``value``: an exact match, or for a float (which Qdrant cannot match exactly) the range
    ``[value, value]``, which any number of that value matches."""
    return Range(key, gte=value, lte=value) if isinstance(value, float) else Match(key, value)


def missing_or_null(key: str) -> Filter:
    """``key`` is missing, or null (or a list holding a null): not ``[]``, which is present and holds nothing."""
    return Filter(should=(Filter(must_not=(Exists(key),)), IsNull(key)))


def any_of(key: str, values: Any, op: str = "in") -> Condition:
    """``key`` equals one of ``values``: exact values, floats (as ranges) and ``None`` (missing or null) alike;
    :class:`Nothing` for an empty list."""
    if not isinstance(values, (list, tuple)):
        raise FilterValueError(f"filter {key!r} {op}: expects a list of values, got {type(values).__name__} "
                               f"{show(values)}")
    check_count(key, op, values)
    exacts = tuple(v for v in values if v is not None and not isinstance(v, float))
    parts: list[Condition] = [Range(key, gte=v, lte=v) for v in values if isinstance(v, float)]
    parts += [MatchAny(key, exacts)] if exacts else []
    parts += [missing_or_null(key)] if any(v is None for v in values) else []
    if not parts:
        return Nothing()
    return parts[0] if len(parts) == 1 else Filter(should=tuple(parts))


def mapping_keys(value: Any) -> list[str]:
    return [str(k) for k in value] if isinstance(value, Mapping) else []
