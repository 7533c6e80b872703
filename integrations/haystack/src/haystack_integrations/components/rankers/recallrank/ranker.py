"""recallrank's cross-encoder as a Haystack ranker: the routine every recallrank front end reranks foreign
documents with (:func:`recallrank.rerank.foreign.rerank_incoming`)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from recallrank.rerank.foreign import DEFAULT_MODEL, Incoming, check_fusion, rerank_incoming
from recallrank.rerank.registry import cross_encoder


def check_top_k(top_k: Any, what: str = "top_k") -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"{what} must be a positive int, got {top_k!r:.40}")
    return top_k


@component
class RecallrankRanker:
    """Reorders documents from any retriever by recallrank's cross-encoder, fused with what they arrived with.

    The same rule as LangChain's ``CrossEncoderCompressor`` and LlamaIndex's ``RecallrankRerank``
    (:mod:`recallrank.rerank.foreign`): the cross-encoder fused with each document's incoming ``score`` when every
    one has a score, else with the order they arrived in (``benchmarks/results/foreign_rerank.md``).

    Args:
        model: ``None`` for recallrank's default here, the bilingual (English + Chinese) cross-encoder; ``"shipped"``
            for its English MiniLM one, or a cross-encoder id or folder.
        top_k: documents kept (the core's ``top_n``; settable per run).
        score_threshold: documents whose final score is below it are dropped (``0.0`` is honoured).
        fusion: ``"auto"`` (``"score"`` when every document has a score, else ``"order"``), ``"score"``,
            ``"order"`` or ``"none"`` (the cross-encoder alone).
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"int8"``.
        batch_size: pairs per forward pass.

    Each output document is a new one: ``score`` is the ranking score, and ``meta`` carries the score fields every
    recallrank front end gives (``score``, ``relevance_score``, ``retrieval_score``, ``score_stage``,
    ``score_model``).

    Example:
        >>> from haystack import Document
        >>> ranker = RecallrankRanker(top_k=1)                                        # doctest: +SKIP
        >>> ranker.warm_up()                                                          # doctest: +SKIP
        >>> ranker.run("apple stock", [Document(content="Apples are fruit."),
        ...                            Document(content="Apple Inc. shares rose.")])  # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, *, top_k: int = 10, score_threshold: float | None = None,
                 fusion: str = "auto", precision: str = "auto",
                 batch_size: int = 32) -> None:
        self.model, self.top_k, self.score_threshold = model, check_top_k(top_k), score_threshold
        self.fusion = check_fusion(fusion)
        self.precision, self.batch_size = precision, batch_size
        self._reranker: Any = None

    def warm_up(self) -> None:
        """Load the model (Haystack calls this before the first run)."""
        if self._reranker is None:
            reranker = cross_encoder(self.model if self.model is not None else DEFAULT_MODEL, self.precision)
            reranker.batch_size = self.batch_size
            reranker.warm_up()
            self._reranker = reranker

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, top_k=self.top_k, score_threshold=self.score_threshold,
                               fusion=self.fusion, precision=self.precision,
                               batch_size=self.batch_size)

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
        for i, d in enumerate(documents):
            if not isinstance(d, Document):
                raise ValueError(f"documents[{i}] is a {type(d).__name__}, not a haystack Document")
        self.warm_up()
        incoming = [Incoming(d.id, d.content or "", d.score) for d in documents]
        ranked = rerank_incoming(self._reranker, query, incoming, top_n=k, score_threshold=threshold,
                                 fusion=self.fusion)
        return {"documents": [dataclasses.replace(documents[i], score=r.score,
                                                  meta={**documents[i].meta, **r.score_fields()})
                              for i, r in ranked]}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, documents: list[Document], top_k: int | None = None,
                        score_threshold: float | None = None) -> dict[str, list[Document]]:
        """:meth:`run` in a worker thread."""
        return await asyncio.to_thread(self.run, query, documents, top_k, score_threshold)
