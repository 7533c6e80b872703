"""What every rerank family shares: the candidates a stage accepts and results ordered by a score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from recallrank.documents import Document, Result
from recallrank.errors import InvalidInputError


@runtime_checkable
class Reranker(Protocol):
    """A rerank stage: orders candidates (texts, :class:`Document` s, recall hits or :class:`Result` s) for a query.

    ``rerank`` returns new :class:`Result` s best first, at most ``top_n``, those whose final score is under
    ``score_threshold`` dropped; ``score`` is what the order follows, ``relevance_score`` the stage's own score and
    ``retrieval_score`` the candidate's incoming (recall) score. ``config`` describes the stage as plain data.
    """

    def rerank(self, query: str, candidates: Sequence[Any], top_n: int | None = None,
               score_threshold: float | None = None) -> list[Result]: ...

    def config(self) -> dict[str, Any]: ...


def candidates_of(candidates: Sequence[Any]) -> tuple[list[Document], list[float | None], list[str | None]]:
    """Documents, recall scores and point ids of texts, Documents or recall hits."""
    if isinstance(candidates, (str, Document)):
        raise InvalidInputError("pass a list of candidates, not a single one")
    docs, recall, ids = [], [], []
    for c in candidates:
        doc = getattr(c, "document", c)
        doc = Document(doc) if isinstance(doc, str) else doc
        if not isinstance(doc, Document):
            raise InvalidInputError(f"cannot rerank a {type(c).__name__}; pass texts, Documents or hits")
        docs.append(doc)
        recall.append(getattr(c, "score", None))
        ids.append(getattr(c, "id", None))
    return docs, recall, ids


def ranked(docs: Sequence[Document], recall: Sequence[float | None], ids: Sequence[str | None], scores: np.ndarray,
           top_n: int | None, score_threshold: float | None, relevance: np.ndarray | None = None) -> list[Result]:
    """Results best first by ``scores`` (stable), those under ``score_threshold`` dropped, at most ``top_n``;
    ``relevance`` (default: ``scores``) is the stage's own score."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    relevance = scores if relevance is None else relevance
    results = [Result(document=docs[i], score=float(scores[i]), retrieval_score=recall[i],
                      relevance_score=float(relevance[i]), point_id=ids[i])
               for i in order if score_threshold is None or scores[i] >= score_threshold]
    return results[:top_n] if top_n is not None else results
