"""Plain data types shared by every stage: what goes into the store and what comes out of a search."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recallrank.errors import InvalidInputError


@dataclass(frozen=True)
class Document:
    """A text with optional id and metadata.

    ``id`` is the caller's own identifier; when given, the stored point id is derived from it alone, so a
    changed text under the same id replaces the old one. Without it, the point id comes from text + metadata.

    Example:
        >>> Document("Qdrant is a vector database.", metadata={"source": "notes"}).text
        'Qdrant is a vector database.'
    """

    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Result:
    """One ranked document with the score of each stage.

    Attributes:
        document: the stored document (a new object; the caller's are never mutated).
        score: what the final ranking is ordered by.
        retrieval_score: the recall stage's similarity (higher is better; negative distance for euclidean).
        relevance_score: the cross-encoder's score (a probability unless raw logits were asked for),
            ``None`` when no reranker ran.
        point_id: the id of the point in Qdrant.
    """

    document: Document
    score: float
    retrieval_score: float | None = None
    relevance_score: float | None = None
    point_id: str | None = None

    @property
    def text(self) -> str:
        return self.document.text


def check_text(value: object, what: str = "text") -> str:
    """Return ``value`` if it is a non-blank string, else raise an error saying what was passed."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, got {type(value).__name__}: {value!r:.60}")
    if not value.strip():
        raise InvalidInputError(f"{what} is empty or whitespace only; pass some text")
    return value


def check_metadata(metadata: object, where: str) -> dict[str, Any]:
    """Metadata must be a JSON object (it becomes the Qdrant payload); say which key breaks it."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{where}: metadata must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        bad = [k for k, v in metadata.items() if not _json_ok(v)]
        raise InvalidInputError(
            f"{where}: metadata is not JSON-serialisable ({exc}); offending keys: {bad}. "
            "Convert those values to str, int, float, bool, list or dict"
        ) from exc
    return dict(metadata)


def _json_ok(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))
