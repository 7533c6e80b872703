"""recallrank's two-stage retrieval as a LlamaIndex retriever."""

from __future__ import annotations

from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from recallrank.documents import BOOKKEEPING, SCORE_FIELDS, Result
from recallrank.errors import InvalidInputError
from recallrank.filters import Filter, IsEmpty, Nothing, Range, any_of, as_filter, depth_check, equals
from recallrank.filters.model import check_count, show
from recallrank.retrieval.evidence import check_evidence
from recallrank.retrieval.grouping import check_documents
from recallrank.retrieval.judged import SearchResponse, check_min_probability
from recallrank.retrieval.pipeline import TwoStageRetriever
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE

#: metadata keys that carry the score fields (as in every recallrank front end); kept out of what the LLM and
#: embedders read
SCORE_KEYS = list(SCORE_FIELDS)


def to_node(r: Result) -> NodeWithScore:
    """A recallrank result as a new LlamaIndex node: ``score`` the final one, the score fields in metadata."""
    found = r.found_fields()  # passages and evidence: what the text already holds, kept from the LLM too
    metadata = {**r.document.metadata, **r.score_fields(), **found}
    hidden = [*SCORE_KEYS, *found, *(k for k in (BOOKKEEPING,) if k in metadata)]  # recallrank's own bookkeeping
    node = TextNode(text=r.document.text, id_=str(r.document.id if r.document.id is not None else r.point_id),
                    metadata=metadata, excluded_llm_metadata_keys=hidden, excluded_embed_metadata_keys=hidden)
    return NodeWithScore(node=node, score=r.score)


def from_metadata_filters(filters: MetadataFilters | None) -> Filter | None:
    """LlamaIndex ``MetadataFilters`` as recallrank's filter model (run inside Qdrant), with LlamaIndex's semantics:
    ``NOT`` matches when none of its filters does (as LlamaIndex's own vector store), ``!=`` and ``nin`` also match
    nodes without the key, ``is_empty`` a key that is missing, null or ``[]``, and ``any`` / ``all`` / ``contains``
    look into a list (a single value counts as a list of one; so do ``==`` and the ranges, as in Qdrant). Keys are
    metadata keys (``a.b`` for a nested one). ``TEXT_MATCH`` needs a full-text index and is refused with the
    operators that are accepted. Empty filters match every node."""
    return _filters(filters, 0) if filters is not None else None


def _filters(filters: MetadataFilters, depth: int) -> Filter | None:
    depth = depth_check(depth, "LlamaIndex MetadataFilters")
    parts = tuple(_condition(f, depth) for f in filters.filters)
    if not parts:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.OR:
        return Filter(should=parts)
    if condition == FilterCondition.NOT:
        return Filter(must_not=parts)
    return Filter(must=parts)


_ACCEPTED = "==, !=, >, >=, <, <=, in, nin, any, all, contains, is_empty"


def _condition(f: MetadataFilter | MetadataFilters, depth: int) -> Any:
    if isinstance(f, MetadataFilters):
        return _filters(f, depth) or Filter()
    key, op = f.key, f.operator
    value: Any = f.value  # checked by the condition classes, which name what they accept
    where = f"LlamaIndex filter on {key!r} with operator {op.value!r}"
    try:
        if isinstance(key, str) and key.startswith("@"):
            raise InvalidInputError("no metadata key starts with '@' (recallrank refuses such keys when documents "
                                    "are written)")
        if op in (FilterOperator.EQ, FilterOperator.NE):
            # LlamaIndex: a node without the key never equals a value, and always differs from one (None included)
            cond = Nothing() if value is None else equals(key, value)
            return cond if op == FilterOperator.EQ else Filter(must_not=(cond,)) if value is not None else Filter()
        if op in (FilterOperator.GT, FilterOperator.GTE, FilterOperator.LT, FilterOperator.LTE):
            return Range(key, **{op.name.lower(): value})
        if op in (FilterOperator.IN, FilterOperator.ANY, FilterOperator.NIN):
            any_in = any_of(key, [v for v in value if v is not None] if isinstance(value, list) else value, op.value)
            if op != FilterOperator.NIN:
                return any_in
            return Filter() if isinstance(any_in, Nothing) else Filter(must_not=(any_in,))
        if op == FilterOperator.ALL:
            if not isinstance(value, list) or not value:
                raise InvalidInputError(f"expects a non-empty list, got {show(value)}")
            check_count(key, op.value, value)
            return Filter(must=tuple(equals(key, v) for v in value))
        if op == FilterOperator.CONTAINS:
            return equals(key, value)
        if op == FilterOperator.IS_EMPTY:
            return IsEmpty(key)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    raise InvalidInputError(f"{where}: unsupported (full-text match needs a text index); accepted: {_ACCEPTED}")


class RecallrankRetriever(BaseRetriever):
    """Two-stage retrieval (bi-encoder recall from Qdrant, cross-encoder rerank) as a LlamaIndex retriever.

    Args:
        retriever: a :class:`recallrank.TwoStageRetriever` (its store, models and stages); or build one with
            :meth:`from_store`.
        similarity_top_k: nodes returned; recall_k: candidates recalled (``None``: the retriever's ``top_k``).
        filters: LlamaIndex ``MetadataFilters`` or a recallrank filter (dict or :class:`~recallrank.filters.Filter`).
        score_threshold: nodes whose final score is below it are dropped (``0.0`` honoured).
        min_probability: no node is returned when none has a calibrated ``probability`` reaching it, else all
            are (``None``: the ``TwoStageRetriever``'s setting, by default ``"auto"``: the collection's tuned
            threshold, else the pipeline's own, 0.15 for the default one; ``0`` or ``"none"`` never abstains).
            ``last_abstained`` says whether the latest retrieve found nothing relevant.
        documents: nodes are documents instead of chunks, each once, scored by its best passage(s), with
            ``passages`` (and their offsets) in metadata; passages, document_score, evidence: as the core's
            (``None``: the ``TwoStageRetriever``'s setting). ``evidence`` in metadata says where a node matched.

    Names map onto the core's: ``similarity_top_k`` is the number returned (``top_n``, default 10), ``recall_k``
    the candidates recalled (``top_k``, default 100). The pipeline is ``TwoStageRetriever``'s, its default rerank
    included. Each ``NodeWithScore`` has ``score`` (the final ranking score) and the score fields every recallrank
    front end gives in ``metadata`` (``score``, ``probability``, ``relevance_score``, ``retrieval_score``,
    ``score_stage``, ``score_model``), which the LLM does not see.

    Example:
        >>> from recallrank import EdgeStore
        >>> r = RecallrankRetriever.from_store(EdgeStore("./index", "notes"), similarity_top_k=5)   # doctest: +SKIP
        >>> r.retrieve("how do I mount a disk")                                                    # doctest: +SKIP
    """

    def __init__(self, retriever: TwoStageRetriever, *, similarity_top_k: int = 10, recall_k: int | None = None,
                 filters: MetadataFilters | Any = None, score_threshold: float | None = None,
                 min_probability: float | str | None = None, documents: bool | None = None,
                 passages: int | None = None, document_score: str | None = None, evidence: bool | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        if not isinstance(retriever, TwoStageRetriever):
            raise InvalidInputError(f"retriever must be a recallrank TwoStageRetriever, got {type(retriever).__name__}"
                                    "; build one with RecallrankRetriever.from_store(store)")
        self._pipeline, self.similarity_top_k, self.recall_k = retriever, similarity_top_k, recall_k
        self.filters = filters if isinstance(filters, MetadataFilters) or filters is None else as_filter(filters)
        self._filter = from_metadata_filters(filters) if isinstance(filters, MetadataFilters) else self.filters
        self.score_threshold = score_threshold
        self.min_probability = check_min_probability(min_probability)
        #: documents mode and evidence as the core's (``None``: the ``TwoStageRetriever``'s setting)
        self.documents, self.passages, self.document_score, self.evidence = documents, passages, document_score, \
            evidence
        check_documents(retriever.documents if documents is None else documents,
                        retriever.passages if passages is None else passages,
                        retriever.document_score if document_score is None else document_score)
        check_evidence(retriever.evidence if evidence is None else evidence)
        #: whether the latest retrieve abstained (no node reached ``min_probability``), and its best probability
        self.last_abstained, self.last_best_probability = False, None
        super().__init__(callback_manager=callback_manager)

    @classmethod
    def from_store(cls, store: Any, *, encoder: Any = None, reranker: Any = None, recall: str = DEFAULT_RECALL_MODE,
                   **kwargs: Any) -> RecallrankRetriever:
        """A retriever over a recallrank store (``EdgeStore``, ``QdrantServerStore``); models load on first use.
        ``recall`` is the core's: ``"dense"`` (bi-encoder), ``"sparse"`` (Qdrant's BM25 over the stored text) or
        ``"hybrid"`` (both, fused by RRF inside Qdrant; ``retrieval_score`` is then the RRF score)."""
        return cls(TwoStageRetriever(store, encoder, reranker, recall=recall), **kwargs)

    def _args(self) -> dict[str, Any]:
        k = self.recall_k if self.recall_k is not None else max(self._pipeline.top_k, self.similarity_top_k)
        return {"top_k": k, "top_n": self.similarity_top_k, "filter": self._filter,
                "score_threshold": self.score_threshold, "min_probability": self.min_probability,
                "documents": self.documents, "passages": self.passages, "document_score": self.document_score,
                "evidence": self.evidence}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._nodes(self._pipeline.search(query_bundle.query_str, **self._args()))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._nodes(await self._pipeline.asearch(query_bundle.query_str, **self._args()))

    def _nodes(self, response: SearchResponse) -> list[NodeWithScore]:
        self.last_abstained, self.last_best_probability = response.abstained, response.best_probability
        return [to_node(r) for r in response.results]
