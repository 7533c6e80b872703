"""JSONL records as sources: one object a line, its text field chunked, its id scoped to its file, its other fields
kept as metadata (see :mod:`recallrank.loaders`)."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import check_metadata, check_unicode
from recallrank.errors import InvalidInputError
from recallrank.loaders.chunks import BOOKKEEPING, Source
from recallrank.loaders.ids import id_hash

_JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "an array"}


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file, read line by line: a file of any size takes one line's memory."""
    lineno = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                yield lineno, line
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason} near line {lineno + 1}); convert it "
                                "to UTF-8 or leave it out") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from exc

def jsonl_sources(path: Path, text_field: str) -> Iterator[Source]:
    """The records of a JSONL file, line by line. Ids are checked for uniqueness in 12 bytes a record (a 64-bit
    hash and the line number; the lines are re-read only when two hashes match), and a repeat is raised after the
    last record: consumers validate a whole file (:func:`scan_sources`) before writing any of it."""
    hashes, linenos = array("Q"), array("L")
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
            raise InvalidInputError(f"{where}: not valid JSON ({reason}); fix or remove that line") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise InvalidInputError(f"{where}: expected an object with a string '{text_field}' field; "
                                    "name the text field with --text-field")
        check_unicode(record[text_field], f"{where}: '{text_field}'")
        id_field = "id" if "id" in record else "_id" if "_id" in record else None
        record_id = record[id_field] if id_field is not None else None
        if record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, (str, int))):
            raise InvalidInputError(f"{where}: id {record_id!r:.40} must be a string or an integer")
        metadata = _record_metadata(record, text_field, id_field, where)
        if record_id is not None:
            rid = check_unicode(str(record_id), f"{where}: id")
            hashes.append(id_hash(rid))
            linenos.append(lineno)
        # ids are scoped to their file: the same id in two files names two records
        key = f"{path}::{record_id}" if record_id is not None else f"{path}:{lineno}"
        metadata[BOOKKEEPING] = {"source": str(path)} | ({"doc_id": str(record_id)} if record_id is not None else {})
        yield Source(key, record[text_field], check_metadata(metadata, where), lineno)
    _check_unique_ids(path, hashes, linenos)

def _record_metadata(record: dict[str, Any], text_field: str, id_field: str | None, where: str) -> dict[str, Any]:
    """A record's fields but its text and id, merged with its ``"metadata"`` object (see :mod:`recallrank.loaders`)."""
    fields = {k: v for k, v in record.items() if k not in (text_field, id_field, "metadata")}
    nested = record.get("metadata") if text_field != "metadata" and id_field != "metadata" else None
    if isinstance(nested, dict):
        both = [k for k in nested if k in fields]
        if both:
            raise InvalidInputError(f"{where}: {both[0]!r} is both a field of the record and a key of its 'metadata' "
                                    "object, which are merged into one; keep one of the two")
        fields.update(nested)
    elif nested is not None:
        raise InvalidInputError(f"{where}: 'metadata' is {_JSON_TYPES.get(type(nested), type(nested).__name__)}, but "
                                "it must be an object (its keys are merged with the record's other fields) or null; "
                                "rename the field to store it as a value")
    if BOOKKEEPING in fields:
        raise InvalidInputError(f"{where}: the field {BOOKKEEPING!r} is reserved for recallrank's own bookkeeping "
                                "(source file, record id, chunk number); rename it")
    return fields

def _check_unique_ids(path: Path, hashes: array[int], linenos: array[int]) -> None:
    if len(hashes) < 2:
        return
    h = np.frombuffer(hashes, dtype=np.uint64)
    order = np.argsort(h, kind="stable")
    same = np.nonzero(h[order][1:] == h[order][:-1])[0]
    if not same.size:
        return
    wanted = {int(linenos[i]) for k in same for i in (order[k], order[k + 1])}
    ids = {n: str(json.loads(line).get("id", json.loads(line).get("_id"))) for n, line in _lines(path)
           if n in wanted}
    repeats = [(int(linenos[order[k]]), int(linenos[order[k + 1]])) for k in same
               if ids[int(linenos[order[k]])] == ids[int(linenos[order[k + 1]])]]
    if repeats:
        first, second = min(repeats, key=lambda pair: pair[1])
        raise InvalidInputError(f"{path}: id {ids[second]!r} is used on lines {first} and {second}; ids must be "
                                "unique within a file")
