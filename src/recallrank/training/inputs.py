"""Labelled pairs a user trains on: JSONL lines ``{"query", "positive" | "positive_id", "negatives"?, "score"?}``,
read with errors that name the file, the line and what to change, before anything else runs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recallrank.errors import InvalidInputError


@dataclass(frozen=True)
class LabelledPair:
    """One training example: a query, its positive (text, or the id of a document in the index), optional
    negatives and an optional graded relevance ``score`` in [0, 1]; ``line`` is where it was read."""

    query: str
    positive: str | None = None
    positive_id: str | None = None
    negatives: tuple[str, ...] = ()
    score: float | None = None
    line: int = 0


def read_pairs(path: str | Path) -> list[LabelledPair]:
    """Every pair in a JSONL file; the first malformed line raises an :class:`InvalidInputError` naming it.

    Example:
        >>> read_pairs("pairs.jsonl")[0]   # doctest: +SKIP
        LabelledPair(query='how do I mount a disk', positive=None, positive_id='fstab', negatives=(), ...)
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file; give a JSONL file of labelled pairs") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    pairs = [_pair(path, n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not pairs:
        raise InvalidInputError(f"{path}: no pairs; each line is an object such as "
                                '{"query": "...", "positive": "..."} or {"query": "...", "positive_id": "..."}')
    return pairs


def _pair(path: Path, n: int, line: str) -> LabelledPair:
    where = f"{path}:{n}"
    try:
        row: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise InvalidInputError(f"{where}: a line must be a JSON object, got {type(row).__name__}")
    unknown = set(row) - {"query", "positive", "positive_id", "negatives", "score"}
    if unknown:
        raise InvalidInputError(f"{where}: unknown field(s) {sorted(unknown)}; accepted: query, positive, "
                                "positive_id, negatives, score")
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"{where}: 'query' must be a non-empty string, got {query!r:.60}")
    positive, positive_id = row.get("positive"), row.get("positive_id")
    if (positive is None) == (positive_id is None):
        raise InvalidInputError(f"{where}: give exactly one of 'positive' (the text) or 'positive_id' (a document "
                                "id in the index)")
    if positive is not None and (not isinstance(positive, str) or not positive.strip()):
        raise InvalidInputError(f"{where}: 'positive' must be a non-empty string, got {positive!r:.60}")
    if (positive_id is not None and not isinstance(positive_id, (str, int))) or isinstance(positive_id, bool):
        raise InvalidInputError(f"{where}: 'positive_id' must be a string, got {positive_id!r:.60}")
    negatives = row.get("negatives", [])
    if not isinstance(negatives, list) or not all(isinstance(x, str) and x.strip() for x in negatives):
        raise InvalidInputError(f"{where}: 'negatives' must be a list of non-empty strings")
    score = row.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or not math.isfinite(score) or not 0.0 <= score <= 1.0):
        raise InvalidInputError(f"{where}: 'score' must be a number in [0, 1] (graded relevance), got {score!r:.40}")
    return LabelledPair(query, positive, None if positive_id is None else str(positive_id), tuple(negatives),
                        None if score is None else float(score), n)
