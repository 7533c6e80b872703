"""``--filter KEY=VALUE`` items, the command line's filter dialect, as one :class:`~recallrank.filters.Filter`."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from recallrank.errors import InvalidInputError
from recallrank.filters import RANGE_OPERATORS, Filter, Match, MatchAny, Range

_FILTER_ITEM = re.compile(r"^([^=!<>:]+?)(!:=|:=|!=|>=|<=|=|>|<)(.*)$", re.S)


def parse_filters(items: list[str]) -> Filter | None:
    """``--filter`` items as one :class:`~recallrank.filters.Filter` (all must hold).

    ``KEY=VALUE`` matches the string VALUE exactly; ``KEY:=JSON`` a typed value (``n:=5``, ``flag:=true``,
    ``name:='"x"'``); a key given twice with ``=`` or ``:=`` accepts either value. ``KEY!=VALUE`` excludes a string
    and ``KEY!:=JSON`` a typed value (documents without KEY stay in); ``KEY>=X``, ``KEY>X``, ``KEY<=X``, ``KEY<X``
    bound a number or an ISO 8601 datetime (``year>=2020``, ``date<2024-06-01``). Dotted keys reach nested fields.

    Example: ``["zip=02139", "lang=en", "lang=zh", "year>=2020"]`` -> zip is "02139", lang is "en" or "zh", and
    year >= 2020.
    """
    equal: dict[str, list[Any]] = {}
    must: list[Any] = []
    must_not: list[Any] = []
    for item in items:
        m = _FILTER_ITEM.match(item)
        if not m or not m.group(1).strip():
            raise InvalidInputError(f"--filter {item!r}: write KEY=VALUE for a string (--filter source=faq), "
                                    "KEY:=VALUE for a number or boolean (--filter year:=2023), KEY!=VALUE to exclude "
                                    "one, or KEY>=VALUE / KEY<VALUE for a range (--filter year>=2020)")
        key, op, raw = m.group(1).strip(), m.group(2), m.group(3)
        if op in ("=", ":=", "!=", "!:="):
            value: Any = raw
            if op.endswith(":="):
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = None
                if isinstance(value, float) or not isinstance(value, (str, int)):
                    raise InvalidInputError(f"--filter {item!r}: after := write an integer, true, false or a quoted "
                                            f"JSON string; for the string {raw!r} write {key}={raw}; for a float "
                                            f"write a range ({key}>={raw} {key}<={raw})")
            if op.startswith("!"):
                must_not.append(Match(key, value))
            else:
                equal.setdefault(key, []).append(value)
        else:
            bound = _number(raw)
            must.append(Range(key, **{RANGE_OPERATORS[op]: bound if bound is not None else raw}))
    matches = [Match(key, values[0]) if len(values) == 1 else MatchAny(key, tuple(values))
               for key, values in equal.items()]
    return Filter(must=(*matches, *must), must_not=tuple(must_not)) or None


def _number(raw: str) -> int | float | None:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
