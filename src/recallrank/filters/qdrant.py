"""The one compiler from the filter model into Qdrant's filter classes (qdrant-edge and qdrant-client), and what
makes its answers exact on a real collection.

Qdrant's own conditions cannot tell a missing key from ``[]``, and a payload index changes how some of them
compare: a keyword index makes ``match except`` skip points whose value is not a string, an integer index reads
``1.0`` as ``1`` and skips ``1.5`` in ranges, a float index reads a datetime range as numbers and a datetime index
a numeric range as instants. So every point carries a record of its metadata (:data:`PATHS_FIELD`, written by
:func:`metadata_paths` when the store writes the point): which keys it has and which types of value each holds.
:class:`Exists` reads it, ``match except`` adds the points holding values of other types from it, and
:func:`check_indexes` refuses, with the way out, what the collection's indexes would answer inexactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from recallrank.filters.model import (
    Condition,
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
    bound,
    show,
)

#: the payload field holding each point's record of its metadata: ``{"present": [...], "str": [...], ...}`` lists
#: the key paths (``author.name``, ``tags[].name``) present, and those holding values of each type; ``present``
#: always holds ``""`` (the metadata itself), so a point without a record is one written before recallrank kept it
PATHS_FIELD = "metadata_paths"
#: value types the record tells apart (``object`` and ``list`` for an object, or a list inside a list)
KINDS = ("str", "int", "float", "bool", "object", "list")
#: points written before the record was kept (their ``present`` list is missing)
UNRECORDED = Filter(must=(IsEmpty(f"@{PATHS_FIELD}.present"),))
_PLAIN = re.compile(r"[\w-]+")  # fullmatch: `$` would let a trailing newline through


def payload_key(key: str, prefix: str = "metadata.") -> str:
    """The payload path of a filter key: under ``prefix`` (``@text``/``@doc_id`` at the top), segments other than
    plain words quoted, as Qdrant's JSON paths want."""
    if key.startswith("@"):  # a payload field beside the metadata
        prefix, key = "", key[1:]
    return prefix + ".".join(seg if _PLAIN.fullmatch(seg.removesuffix("[]")) else
                             f'"{seg.removesuffix("[]")}"' + ("[]" if seg.endswith("[]") else "")
                             for seg in key.split("."))


def kind_of(value: Any) -> str | None:
    """The record's name for the type of ``value`` (``None`` for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else "object"


def walk(metadata: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key path, value)`` for every key in ``metadata``, nested ones included: ``a.b`` inside an object and
    ``a[].b`` inside a list of objects (the paths filters use)."""
    for key, value in metadata.items():
        path = f"{prefix}{key}"
        yield path, value
        inner = f"{path}[]." if isinstance(value, list) else f"{path}."
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, Mapping):
                yield from walk(item, inner)


def items(value: Any) -> list[Any]:
    """The values a condition on a key compares: a list's items, or the single value."""
    return list(value) if isinstance(value, list) else [value]


def metadata_paths(metadata: Mapping[str, Any]) -> dict[str, list[str]]:
    """The record of ``metadata`` stored in :data:`PATHS_FIELD` (see the module docstring)."""
    present: set[str] = {""}
    kinds: dict[str, set[str]] = {k: set() for k in KINDS}
    for path, value in walk(metadata):
        present.add(path)
        for item in items(value):
            kind = kind_of(item)
            if kind is not None:
                kinds[kind].add(path)
    return {"present": sorted(present), **{k: sorted(paths) for k, paths in kinds.items() if paths}}


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

    def recorded(kind: str, k: str) -> Any:  # the record says k holds a value of this kind (or is present)
        return models.FieldCondition(key=f"{PATHS_FIELD}.{kind}", match=models.MatchValue(value=k))

    def cond(c: Condition) -> Any:
        if isinstance(c, Filter):
            return build(c)
        if isinstance(c, Match):
            return models.FieldCondition(key=key(c.key), match=models.MatchValue(value=typed(c.value)))
        if isinstance(c, MatchAny):
            if all(isinstance(v, str) for v in c.values) or \
                    all(isinstance(v, int) and not isinstance(v, bool) for v in c.values):
                return models.FieldCondition(key=key(c.key), match=models.MatchAny(any=list(c.values)))
            # Qdrant's match-any takes neither booleans nor mixed types: OR exact matches
            return models.Filter(should=[cond(Match(c.key, v)) for v in c.values])
        if isinstance(c, MatchExcept):
            native = models.FieldCondition(key=key(c.key), match=models.MatchExcept(**{"except": list(c.values)}))
            if c.key.startswith("@"):
                return native
            # values of other types are none of c.values too; an index on the key hides them from `except`
            own = "str" if isinstance(c.values[0], str) else "int"
            return models.Filter(should=[native, *(recorded(kind, c.key) for kind in KINDS if kind != own)])
        if isinstance(c, Range):
            bounds = c.bounds()
            if c.is_datetime:
                instants = {op: bound(c.key, op, v) for op, v in bounds.items()}
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
        if isinstance(c, Exists):
            return recorded("present", c.key)
        if isinstance(c, Nothing):
            return models.HasIdCondition(point_ids=set()) if edge else models.HasIdCondition(has_id=[])
        raise FilterValueError(f"unknown filter condition {show(c)}")

    def build(f: Filter) -> Any:
        return models.Filter(must=[cond(c) for c in f.must] or None, should=[cond(c) for c in f.should] or None,
                             must_not=[cond(c) for c in f.must_not] or None)

    return build(flt)


def index_kinds(schema: Mapping[str, Any] | None) -> dict[str, str]:
    """A collection's payload schema (from qdrant-edge or qdrant-client) as payload path -> index type in lower case
    (``keyword``, ``integer``, ``float``, ``bool``, ``datetime``, ``text``, ``uuid``, ``geo``)."""
    return {str(path): str(getattr(info, "data_type", info)).split(".")[-1].lower()
            for path, info in dict(schema or {}).items()}


def _index_problem(c: Condition, kind: str) -> str | None:
    """Why Qdrant would answer ``c`` inexactly from a payload index of ``kind`` on its key (``None``: it would not).
    Measured on qdrant-edge: each index type against the same conditions without an index."""
    numeric = isinstance(c, Range) and not c.is_datetime
    integer = isinstance(c, (Match, MatchAny, MatchExcept)) and any(
        isinstance(v, int) and not isinstance(v, bool) for v in ((c.value,) if isinstance(c, Match) else c.values))
    if kind in ("keyword", "bool", "text"):
        return None
    if kind == "integer":
        if integer or isinstance(c, Range):
            return "Qdrant answers integer matches and ranges from it, which reads 1.0 as 1 and skips 1.5"
        return None
    if kind == "float":
        return "Qdrant reads a datetime range on it as numbers" if isinstance(c, Range) and c.is_datetime else None
    if kind == "datetime":
        return "Qdrant reads a numeric range on it as instants" if numeric else None
    if kind == "uuid":
        return "Qdrant's `except` on it skips every value that is not a UUID" if isinstance(c, MatchExcept) else None
    if isinstance(c, (IsEmpty, IsNull, Exists, Nothing)):
        return None
    return f"recallrank does not know how Qdrant compares through a {kind} index"


def check_indexes(flt: Filter | None, indexes: Callable[[], Mapping[str, str]], unrecorded: Callable[[], int],
                  where: str) -> None:
    """Raise :class:`InexactFilterError` where ``flt`` cannot be answered exactly on a collection with these payload
    ``indexes`` (path -> type, read only if the filter compares values) and ``unrecorded()`` points written before
    the metadata record was kept (counted only when the filter needs the record). ``where`` names the collection."""
    if not flt:
        return
    conditions = flt.conditions()
    schema = indexes() if any(not isinstance(c, (Nothing, Exists)) for c in conditions) else {}
    needs_record: list[str] = []
    for c in conditions:
        if isinstance(c, (Nothing, Filter)):
            continue
        path = payload_key(c.key)
        kind = schema.get(path)
        problem = _index_problem(c, kind) if kind is not None else None
        if problem is not None:
            raise InexactFilterError(
                f"{where}: the filter {show(c)} cannot be answered exactly: {path} has a {kind} payload index "
                f"(an earlier recallrank made one on first filtered use, or it was made by hand) and {problem}; "
                f"replace it with store.create_payload_index({c.key!r}, KIND): 'float' for a key holding numbers, "
                "'datetime' for ISO 8601 datetimes, 'keyword' (exact for every filter) otherwise")
        if isinstance(c, Exists):
            needs_record.append(f"$exists on {c.key!r}")
        elif isinstance(c, MatchExcept) and kind in ("keyword", "integer") and not c.key.startswith("@"):
            needs_record.append(f"except on {c.key!r} (it has a {kind} index)")
    if needs_record:
        missing = unrecorded()
        if missing:
            raise InexactFilterError(
                f"{where}: {missing:,} points were written before recallrank recorded which metadata keys each "
                f"point holds, so {needs_record[0]} cannot be answered exactly there (Qdrant cannot tell a missing "
                "key from [], nor see past a payload index); write those documents again (`recallrank index "
                "--reembed --into NEW` copies every point with its record), or filter with is_empty / is_null")
