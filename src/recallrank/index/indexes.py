"""Payload indexes a collection gets as documents are written: which type for which metadata key, planned once
for both stores from the values being written (a search never creates one)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from recallrank.filters import FilterValueError, payload_key
from recallrank.filters.model import check_key
from recallrank.filters.qdrant import PATHS_FIELD, items, metadata_paths, walk
from recallrank.index.base import StoredPoint

log = logging.getLogger(__name__)


#: payload index types a store creates (each compares exactly as the payload does for every filter recallrank
#: makes, except the ranges of the other kind: see :func:`recallrank.filters.check_indexes`)
INDEX_TYPES = ("keyword", "float", "bool", "datetime")
#: at most this many payload indexes are made automatically per collection (more with ``create_payload_index``)
MAX_AUTO_INDEXES = 64
#: a key holding a string longer than this gets no automatic keyword index (it is text, not a category)
MAX_INDEXED_STRING = 256
#: payload fields beside the metadata that every collection indexes
CORE_INDEXES = {"doc_id": "keyword", "parent": "keyword", f"{PATHS_FIELD}.present": "keyword"}


def stamp(points: Sequence[StoredPoint]) -> list[StoredPoint]:
    """``points`` with the record of their metadata (:func:`recallrank.filters.metadata_paths`) in their payload,
    recomputed from the metadata they hold; the store core calls it on every write, so no point goes without it."""
    def record(metadata: Any) -> dict[str, list[str]]:
        return metadata_paths(metadata if isinstance(metadata, Mapping) else {})

    return [StoredPoint(p.id, p.vector, {**p.payload, PATHS_FIELD: record(p.payload.get("metadata"))}) for p in points]


def index_path(key: str) -> str:
    """The payload path of a filter key (``lang``, ``author.name``, ``@doc_id``) that a payload index goes on."""
    return payload_key(check_key(key, "payload index"))


def _is_datetime(value: str) -> bool:
    if len(value) < 10 or value[4:5] != "-":
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _index_type(values: list[Any]) -> str | None:
    """The payload index type for a key holding ``values`` (``None``: none worth having)."""
    kinds = {type(v) for v in values if v is not None and not isinstance(v, (Mapping, list))}
    if not kinds:
        return None
    if str in kinds:
        if any(isinstance(v, str) and len(v) > MAX_INDEXED_STRING for v in values):
            return None
        if kinds == {str} and all(_is_datetime(v) for v in values if isinstance(v, str)):
            return "datetime"
        return "keyword"
    return "bool" if kinds == {bool} else "float"


def _join(have: str, want: str) -> str:
    """One index type for a key that holds what ``have`` was made for and what ``want`` fits."""
    have = "float" if have == "integer" else have  # an integer index reads 1.0 as 1: never kept
    if have == want:
        return have
    if {have, want} == {"float", "bool"}:
        return "float"
    return "keyword"  # exact for every filter (ranges then read the payload)


def plan_indexes(points: Sequence[StoredPoint], indexes: Mapping[str, str], where: str) -> dict[str, str]:
    """Payload path -> index type to create (or to change to) before writing ``points`` into a collection that has
    ``indexes``: one for each metadata key they hold (:func:`_index_type` from its values), at most
    :data:`MAX_AUTO_INDEXES` in all, plus :data:`CORE_INDEXES`; indexes made by hand with types recallrank does not
    make are left alone. Logs what it leaves out."""
    values: dict[str, list[Any]] = {}
    for p in points:
        metadata = p.payload.get("metadata")
        for path, value in walk(metadata if isinstance(metadata, Mapping) else {}):
            values.setdefault(payload_key(path), []).extend(items(value))
    plan = {path: kind for path, kind in CORE_INDEXES.items() if path not in indexes}
    made = sum(1 for path in indexes if path.startswith("metadata."))
    skipped = []
    for path, found in values.items():
        want = _index_type(found)
        have = indexes.get(path)
        if want is None or (have is not None and have not in (*INDEX_TYPES, "integer")):
            continue
        kind = want if have is None else _join(have, want)
        if kind == have:
            continue
        if have is None and made >= MAX_AUTO_INDEXES:
            skipped.append(path)
            continue
        made += have is None
        plan[path] = kind
    if skipped:
        log.warning("%s: %d metadata keys get no payload index (%s%s): %d are indexed already, the most made "
                    "automatically; filters on them read the payload (slower on large collections); index one with "
                    "store.create_payload_index(KEY, TYPE)", where, len(skipped), ", ".join(skipped[:5]),
                    ", ..." if len(skipped) > 5 else "", MAX_AUTO_INDEXES)
    return plan


def check_index_type(key: str, kind: str) -> tuple[str, str]:
    """``(payload path, type)`` for ``create_payload_index(key, kind)``, or a FilterValueError naming the types."""
    if kind not in INDEX_TYPES:
        raise FilterValueError(f"payload index type {kind!r}: use one of {', '.join(INDEX_TYPES)} (an integer index "
                               "would make Qdrant read 1.0 as 1 and skip 1.5 in ranges; 'float' indexes integers)")
    return index_path(key), kind
