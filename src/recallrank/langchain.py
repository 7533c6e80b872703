"""LangChain adapters over the framework-free core (``langchain-core`` only): retrievers, a compressor, a cross-encoder.

* :class:`BiEncoderRetriever`: a ``BaseRetriever`` recalling ``k`` documents by vector from Qdrant.
* :class:`CrossEncoderCompressor`: a ``BaseDocumentCompressor`` reranking any documents with the cross-encoder
  (drop it into ``ContextualCompressionRetriever``).
* :class:`RecallrankRetriever`: both stages in one ``BaseRetriever`` (recall ``top_k``, rerank, keep ``k``).
* :class:`RecallrankCrossEncoder`: ``langchain_core.cross_encoders.BaseCrossEncoder``, so LangChain's own
  rerankers (e.g. langchain-classic's ``CrossEncoderReranker``) can use our model.

Names map onto the core's: ``k`` is the number of documents returned (``top_n``, default 10 everywhere), ``top_k``
the candidates recalled (default 100). Returned documents are new objects whose metadata carries the same score
fields as every recallrank front end: ``score`` (what the order follows), ``probability`` (calibrated probability
of relevance, ``None`` without a fitted calibration), ``relevance_score`` (the last rerank stage's own score),
``retrieval_score`` (recall similarity), ``score_stage`` and ``score_model`` (what produced ``score``); the caller's
documents are never mutated. ``min_probability`` is the core's: a retriever returns no documents when it abstains.
Per-stage timings, ``abstained`` and ``best_probability`` are sent to callbacks as the custom event
``recallrank_timings``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from recallrank.documents import SCORE_FIELDS, Document, Result
from recallrank.errors import InvalidInputError, MissingDependencyError, StoreError
from recallrank.index.base import VectorStore, point_id
from recallrank.index.open import DEFAULT_COLLECTION, DEFAULT_PATH, open_store
from recallrank.models.bi_encoder import BiEncoder
from recallrank.redact import redact_url
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.foreign import Incoming, check_fusion, default_reranker, rerank_incoming
from recallrank.retrieval.judged import check_min_probability
from recallrank.retrieval.pipeline import IngestReport, SearchResponse, TwoStageRetriever, check_stages
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE, RecallMode

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
        Callbacks,
    )
    from langchain_core.cross_encoders import BaseCrossEncoder
    from langchain_core.documents import BaseDocumentCompressor
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, Field, PrivateAttr, StrictBool, StrictInt, field_validator
    from typing_extensions import Self
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("recallrank.langchain needs langchain-core: pip install 'recallrank[langchain]'") \
        from exc

__all__ = ["BiEncoderRetriever", "CrossEncoderCompressor", "RecallrankCrossEncoder", "RecallrankRetriever"]

TIMINGS_EVENT = "recallrank_timings"


def to_core(doc: LCDocument) -> Document:
    """A LangChain document as a recallrank one (its ``id`` is kept, so re-ingest replaces rather than adds)."""
    if not isinstance(doc, LCDocument):
        raise InvalidInputError(f"expected langchain_core.documents.Document, got {type(doc).__name__}")
    return Document(doc.page_content, metadata=dict(doc.metadata), id=doc.id)


def to_langchain(result: Result) -> LCDocument:
    """A ranked result as a new LangChain document with the score fields in its metadata (see
    :meth:`recallrank.Result.score_fields`)."""
    doc = result.document
    metadata = {**doc.metadata, **result.score_fields(), **result.found_fields()}
    return LCDocument(page_content=doc.text, metadata=metadata,
                      id=doc.id if doc.id is not None else result.point_id)


#: search arguments a retriever also takes per call (``invoke(query, documents=True)``), as the core names them
PER_CALL = ("min_probability", "documents", "passages", "document_score", "evidence")


class _StoreRetriever(BaseRetriever):
    """What both retrievers share: the store, the bi-encoder, ``k``, filters, threshold and the factories."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    """A :class:`~recallrank.index.base.VectorStore` (``EdgeStore`` embedded, ``QdrantServerStore``)."""
    encoder: BiEncoder | None = None
    """The bi-encoder; ``None`` is the one the collection records (all-MiniLM-L6-v2 for a new one)."""
    k: int = Field(default=10, gt=0)
    """Documents returned (the core's ``top_n``); also settable per call: ``invoke(query, k=3)``."""
    filter: dict[str, Any] | None = None
    """Metadata filter, run inside Qdrant; per call too. ``{"source": "faq"}``, ``{"lang": ["en", "zh"]}``,
    ``{"year": {"gte": 2020}}`` or LangChain's ``{"$and": [{"year": {"$gte": 2020}}, ...]}``; per call, a
    :class:`recallrank.filters.Filter` too (see :mod:`recallrank.filters`)."""
    score_threshold: float | None = None
    """Drop documents scoring below it (``0.0`` is honoured); per call too."""
    min_probability: float | str | None = "auto"
    """Return no documents (abstain) when none has a calibrated ``probability`` reaching it, else all of them (the
    core's ``min_probability``: ``"auto"`` the collection's tuned threshold, else the pipeline's own, 0.15 for the
    default one; ``0`` or ``"none"`` never abstains; ``None`` is ``"auto"``); per call too."""
    exact: bool = False
    """Search Qdrant exactly instead of through HNSW."""
    recall: RecallMode = DEFAULT_RECALL_MODE
    """How candidates are recalled, as the core's ``recall`` (see :mod:`recallrank.retrieval.recall`): ``"dense"``
    (bi-encoder), ``"sparse"`` (Qdrant's BM25 over the stored text) or ``"hybrid"`` (both, fused by RRF in Qdrant);
    ``retrieval_score`` in the metadata is then the similarity, the BM25 score or the RRF score."""

    documents: StrictBool = False
    """Return documents instead of chunks: each document once, scored by its best passage, its ``passages`` in the
    metadata with their offsets (the core's ``documents``); per call too."""
    passages: StrictInt = Field(default=3, gt=0, le=100)
    """Best passages kept per document in documents mode (the core's); per call too."""
    document_score: Literal["max", "sum"] = "max"
    """A document's score: its best passage's (``"max"``) or the sum of its ``passages`` best (``"sum"``)."""
    evidence: StrictBool = False
    """``True``: ``evidence`` in the metadata, where each document matched (the core's: from the stored token vectors
    after a late-interaction stage, and a cross-encoder's best sentence); per call too."""

    _pipeline: TwoStageRetriever | None = PrivateAttr(default=None)

    @field_validator("min_probability")
    @classmethod
    def _check_min_probability(cls, value: Any) -> Any:
        return check_min_probability(value)

    @field_validator("store")
    @classmethod
    def _check_store(cls, store: Any) -> Any:
        if not isinstance(store, VectorStore):
            raise ValueError(f"store must be a recallrank VectorStore (EdgeStore, QdrantServerStore), got "
                             f"{type(store).__name__}; build one with recallrank.index.open.open_store(path or url)")
        return store

    def _reranker(self) -> Any:
        return False

    def _rerank_args(self) -> dict[str, Any]:
        return {"reranker": self._reranker()}

    @property
    def pipeline(self) -> TwoStageRetriever:
        """The framework-free retriever doing the work (built on first use; models load lazily)."""
        if self._pipeline is None:
            self._pipeline = TwoStageRetriever(self.store, self.encoder, top_n=self.k,
                                               score_threshold=self.score_threshold, exact=self.exact,
                                               recall=self.recall, min_probability=self.min_probability,
                                               documents=self.documents, passages=self.passages,
                                               document_score=self.document_score, evidence=self.evidence,
                                               **self._rerank_args())
        return self._pipeline

    def _search_args(self, k: int | None, filter: dict[str, Any] | None, score_threshold: float | None,
                     kwargs: dict[str, Any]) -> dict[str, Any]:
        per_call = {name: kwargs.pop(name, None) for name in PER_CALL}
        if kwargs:
            raise InvalidInputError(f"{type(self).__name__} got unexpected search arguments {sorted(kwargs)}; "
                                    f"it accepts k, filter, score_threshold, {', '.join(PER_CALL)}")
        n = k if k is not None else self.k
        return {"top_k": n, "top_n": n, "filter": filter if filter is not None else self.filter,
                "score_threshold": score_threshold if score_threshold is not None else self.score_threshold,
                **per_call, "rerank": False}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filter: dict[str, Any] | None = None,
                                score_threshold: float | None = None, **kwargs: Any) -> list[LCDocument]:
        response = self.pipeline.search(query, **self._search_args(k, filter, score_threshold, kwargs))
        run_manager.get_child().on_custom_event(TIMINGS_EVENT, _event(response), run_id=run_manager.run_id)
        return [to_langchain(r) for r in response.results]

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, filter: dict[str, Any] | None = None,
                                       score_threshold: float | None = None, **kwargs: Any) -> list[LCDocument]:
        response = await self.pipeline.asearch(query, **self._search_args(k, filter, score_threshold, kwargs))
        await run_manager.get_child().on_custom_event(TIMINGS_EVENT, _event(response), run_id=run_manager.run_id)
        return [to_langchain(r) for r in response.results]

    # -- ingest and factories ------------------------------------------------------------------------------------
    def add_documents(self, documents: Iterable[LCDocument], **kwargs: Any) -> IngestReport:
        """Embed and store LangChain documents; unchanged ones already stored are skipped."""
        return self.pipeline.add_documents([to_core(d) for d in documents], **kwargs)

    def add_texts(self, texts: Iterable[str], metadatas: Sequence[dict[str, Any]] | None = None,
                  ids: Sequence[str] | None = None, **kwargs: Any) -> IngestReport:
        return self.pipeline.add_texts(texts, metadatas, ids, **kwargs)

    @classmethod
    def from_texts(cls, texts: Iterable[str], metadatas: Sequence[dict[str, Any]] | None = None,
                   ids: Sequence[str] | None = None, *, path: str | Path | None = None, url: str | None = None,
                   api_key: str | None = None, collection_name: str = DEFAULT_COLLECTION,
                   store_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Self:
        """Index ``texts`` into an embedded store at ``path`` (default ``.recallrank/index``) or a server at ``url``
        and return a retriever over them. Running it again with the same texts embeds nothing."""
        retriever = cls(store=open_store(path, url, collection_name, api_key=api_key, **(store_kwargs or {})),
                        **kwargs)
        retriever.add_texts(texts, metadatas, ids)
        return retriever

    @classmethod
    def from_documents(cls, documents: Iterable[LCDocument], **kwargs: Any) -> Self:
        """:meth:`from_texts` for LangChain documents (``page_content``, ``metadata``, ``id``)."""
        docs = list(documents)
        ids = [d.id for d in docs if d.id is not None]
        return cls.from_texts([d.page_content for d in docs], [dict(d.metadata) for d in docs],
                              ids if len(ids) == len(docs) else None, **kwargs)

    @classmethod
    def from_existing_collection(cls, collection_name: str = DEFAULT_COLLECTION, *, path: str | Path | None = None,
                                 url: str | None = None, api_key: str | None = None,
                                 store_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Self:
        """A retriever over a collection built before (by :meth:`from_texts`, ``recallrank index``, ...)."""
        store = open_store(path, url, collection_name, api_key=api_key, **(store_kwargs or {}))
        if not store.exists():
            where = redact_url(url) if url is not None else Path(path if path is not None else DEFAULT_PATH).resolve()
            raise StoreError(f"no collection '{collection_name}' at {where}; build it first with from_texts(), "
                             "from_documents() or `recallrank index`")
        return cls(store=store, **kwargs)

    @classmethod
    def from_url(cls, url: str, collection_name: str = DEFAULT_COLLECTION, *, api_key: str | None = None,
                 **kwargs: Any) -> Self:
        """A retriever over an existing collection on a Qdrant server or cluster."""
        return cls.from_existing_collection(collection_name, url=url, api_key=api_key, **kwargs)


class BiEncoderRetriever(_StoreRetriever):
    """Recall by vector from Qdrant: the bi-encoder stage alone, ``k`` documents in similarity order.

    Example:
        >>> from recallrank.langchain import BiEncoderRetriever
        >>> retriever = BiEncoderRetriever.from_texts(["Qdrant stores vectors.", "Apples are fruit."],
        ...                                           path="./index", k=1)       # doctest: +SKIP
        >>> retriever.invoke("vector database")[0].metadata["retrieval_score"]    # doctest: +SKIP
        0.47...
    """


class RecallrankRetriever(_StoreRetriever):
    """Two-stage retrieval: recall ``top_k`` by vector from Qdrant, rerank, return ``k``: the same pipeline as
    ``TwoStageRetriever`` and ``recallrank search`` (default rerank: zero-shot MaxSim fused with recall after
    all-MiniLM-L6-v2, none after multilingual-e5-small).

    Example:
        >>> from recallrank.langchain import RecallrankRetriever
        >>> retriever = RecallrankRetriever.from_texts(
        ...     ["Apple Inc. is worth $3 trillion.", "Apples are a fruit sold at market."],
        ...     path="./index", top_k=100, k=1)                                    # doctest: +SKIP
        >>> retriever.invoke("Apple company market value")[0].page_content      # doctest: +SKIP
        'Apple Inc. is worth $3 trillion.'
    """

    reranker: Any = None
    """One rerank stage (``CrossEncoderReranker()``, ``MaxSimReranker(...)``, ...); ``None`` is recallrank's default
    for the recall model (see ``TwoStageRetriever``)."""
    stages: list[Any] | None = None
    """Instead of ``reranker``, a cascade: rerankers or ``(reranker, keep)`` pairs, e.g.
    ``[(MaxSimReranker(field="colbert"), 30), CrossEncoderReranker()]`` (see ``TwoStageRetriever``)."""
    top_k: int | None = Field(default=None, gt=0)
    """Candidates recalled before reranking (50-200 is typical; ``None``: the collection's tuned value, else 100);
    per call too."""
    latency_budget: float | None = None
    """Seconds per query for the rerank cascade: a stage that would not fit the time left is skipped, with those
    after it (the core's ``latency_budget``)."""
    confident_recall: float | None = None
    """Skip the rerank stages when recall's calibrated first result reaches this probability (the core's)."""
    k: int = Field(default=10, gt=0)
    """Documents kept after reranking."""

    @field_validator("stages")
    @classmethod
    def _check_stages(cls, stages: list[Any] | None) -> list[Any] | None:
        if stages is not None:
            check_stages(stages)  # a bad cascade fails here, not at the first query
        return stages

    def _reranker(self) -> Any:
        return self.reranker

    def _rerank_args(self) -> dict[str, Any]:
        budget = {"latency_budget": self.latency_budget, "confident_recall": self.confident_recall}
        if self.stages is not None:
            if self.reranker is not None:
                raise InvalidInputError("pass either reranker= or stages=, not both: put the cross-encoder in stages")
            return {"stages": self.stages, **budget}
        return {"reranker": self._reranker(), **budget}

    def _search_args(self, k: int | None, filter: dict[str, Any] | None, score_threshold: float | None,
                     kwargs: dict[str, Any]) -> dict[str, Any]:
        top_k = kwargs.pop("top_k", None)
        args = super()._search_args(k, filter, score_threshold, kwargs)
        top_k = top_k if top_k is not None else self.top_k if self.top_k is not None else self.pipeline.top_k
        return {**args, "top_k": max(top_k, args["top_n"]), "rerank": True}

    @classmethod
    def from_components(cls, retriever: BiEncoderRetriever, compressor: CrossEncoderCompressor,
                        **kwargs: Any) -> RecallrankRetriever:
        """Compose a bi-encoder retriever (its ``k`` becomes ``top_k``) and a compressor (its ``top_n`` becomes ``k``)
        into one retriever that shares the store, the models and their settings."""
        return cls(store=retriever.store, encoder=retriever.encoder, filter=retriever.filter, exact=retriever.exact,
                   reranker=compressor.reranker if compressor.reranker is not None else default_reranker(),
                   top_k=retriever.k, k=compressor.top_n, recall=retriever.recall,
                   score_threshold=compressor.score_threshold, **kwargs)


class CrossEncoderCompressor(BaseDocumentCompressor):
    """Rerank documents from any retriever and keep the best ``top_n``: a LangChain document compressor.

    The same routine as Haystack's ``RecallrankRanker`` and LlamaIndex's ``RecallrankRerank``
    (:func:`recallrank.rerank.foreign.rerank_incoming`): recallrank's bilingual cross-encoder, fused with what the
    documents arrived with: the ``retrieval_score`` in their metadata when every one has it (as
    :class:`BiEncoderRetriever` gives), else the order they arrived in. Measured on held-out questions in
    ``benchmarks/results/foreign_rerank.md``: the cross-encoder alone ranks English FAQ questions below the order it
    receives, each fusion at or above it.

    Input documents are never changed; each output is a new document whose metadata carries the score fields every
    recallrank front end gives (``score``, ``relevance_score``, ``retrieval_score``, ``score_stage``,
    ``score_model``). Duplicates (same id, or same text and metadata) are scored once.

    Example:
        >>> from langchain_classic.retrievers import ContextualCompressionRetriever
        >>> from recallrank.langchain import BiEncoderRetriever, CrossEncoderCompressor
        >>> base = BiEncoderRetriever.from_existing_collection(path="./index", k=100)            # doctest: +SKIP
        >>> retriever = ContextualCompressionRetriever(base_compressor=CrossEncoderCompressor(top_n=5),
        ...                                            base_retriever=base)                      # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: CrossEncoderReranker | None = None
    """The cross-encoder; ``None`` is recallrank's bilingual one (loaded on first use)."""
    top_n: int = Field(default=10, gt=0)
    """Documents kept (the core's ``top_n``)."""
    score_threshold: float | None = None
    """Drop documents whose final ``score`` is below it (``0.0`` is honoured)."""
    fusion: str = "auto"
    """``"auto"`` (``"score"`` when every document has a ``retrieval_score``, else ``"order"``), ``"score"``,
    ``"order"`` or ``"none"`` (the cross-encoder alone); see :mod:`recallrank.rerank.foreign`."""

    _default: CrossEncoderReranker | None = PrivateAttr(default=None)

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, fusion: str) -> str:
        return check_fusion(fusion)

    @property
    def model(self) -> CrossEncoderReranker:
        if self.reranker is not None:
            return self.reranker
        if self._default is None:
            self._default = default_reranker()
        return self._default

    def compress_documents(self, documents: Sequence[LCDocument], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[LCDocument]:
        incoming = []
        for doc in documents:
            if not isinstance(doc, LCDocument):
                raise InvalidInputError(f"expected langchain_core.documents.Document, got {type(doc).__name__}")
            metadata = {k: v for k, v in doc.metadata.items() if k not in SCORE_FIELDS}  # not part of the identity
            core = Document(doc.page_content, metadata=metadata, id=doc.id)
            incoming.append(Incoming(point_id(core), doc.page_content, doc.metadata.get("retrieval_score")))
        ranked = rerank_incoming(self.model, query, incoming, top_n=self.top_n, score_threshold=self.score_threshold,
                                 fusion=self.fusion)
        return [documents[i].model_copy(update={"metadata": {**documents[i].metadata, **r.score_fields()}})
                for i, r in ranked]

    async def acompress_documents(self, documents: Sequence[LCDocument], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[LCDocument]:
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)


class RecallrankCrossEncoder(BaseCrossEncoder):
    """Our cross-encoder behind LangChain's ``BaseCrossEncoder`` interface.

    Example:
        >>> from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
        >>> compressor = CrossEncoderReranker(model=RecallrankCrossEncoder(), top_n=3)   # doctest: +SKIP
    """

    def __init__(self, reranker: CrossEncoderReranker | None = None) -> None:
        self.reranker = reranker if reranker is not None else CrossEncoderReranker()

    def score(self, text_pairs: list[tuple[str, str]]) -> list[float]:
        """Scores of (query, text) pairs in input order (probabilities unless the reranker is ``raw``)."""
        return [float(s) for s in self.reranker.score_pairs([(str(q), str(t)) for q, t in text_pairs])]


def _event(response: SearchResponse) -> dict[str, Any]:
    return {"timings": dict(response.timings), "recalled": response.recalled, "returned": len(response.results),
            **response.summary()}
