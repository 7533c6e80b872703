"""recallrank's cross-encoder as a LlamaIndex node postprocessor: the routine every recallrank front end reranks
foreign documents with (:func:`recallrank.rerank.foreign.rerank_incoming`)."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr, field_validator
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from llama_index.retrievers.recallrank.base import SCORE_KEYS

from recallrank.errors import InvalidInputError
from recallrank.rerank.foreign import DEFAULT_MODEL, Incoming, check_fusion, rerank_incoming
from recallrank.rerank.registry import cross_encoder


class RecallrankRerank(BaseNodePostprocessor):
    """Reorders nodes from any retriever by recallrank's cross-encoder, fused with what they arrived with, and keeps
    the ``top_n`` best.

    The same rule as LangChain's ``CrossEncoderCompressor`` and Haystack's ``RecallrankRanker``
    (:mod:`recallrank.rerank.foreign`): the cross-encoder fused with each node's incoming score when every one has a
    score, else with the order they arrived in (``benchmarks/results/foreign_rerank.md``).

    ``model``: ``None`` for recallrank's default here, the bilingual (English + Chinese) cross-encoder;
    ``"shipped"`` for the English MiniLM one, or an id/folder. ``top_n`` (default 10, as everywhere) nodes are kept.
    Returned nodes are copies: ``score`` is the ranking score, and ``metadata`` carries the score fields every
    recallrank front end gives (``score``, ``relevance_score``, ``retrieval_score``, ``score_stage``,
    ``score_model``), hidden from the LLM.

    Example:
        >>> rerank = RecallrankRerank(top_n=3)                                         # doctest: +SKIP
        >>> query_engine = index.as_query_engine(node_postprocessors=[rerank])         # doctest: +SKIP
    """

    model: str | None = Field(default=None, description="cross-encoder: None (bilingual), 'shipped', or an id/folder")
    top_n: int = Field(default=10, description="nodes kept")
    score_threshold: float | None = Field(default=None, description="drop nodes scoring below it (0.0 honoured)")
    fusion: str = Field(default="auto", description="auto (score when every node has one, else order), score, "
                        "order or none (the cross-encoder alone)")
    precision: str = Field(default="auto", description="auto (see recallrank.CrossEncoderReranker), fp32, bf16 or int8")
    _reranker: Any = PrivateAttr(default=None)

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, fusion: str) -> str:
        return check_fusion(fusion)

    @classmethod
    def class_name(cls) -> str:
        return "RecallrankRerank"

    def warm_up(self) -> None:
        """Load the model now (else on the first call)."""
        if self._reranker is None:
            reranker = cross_encoder(self.model if self.model is not None else DEFAULT_MODEL, self.precision)
            reranker.warm_up()
            self._reranker = reranker

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if query_bundle is None:
            raise InvalidInputError("RecallrankRerank needs the query: pass query_bundle (or query_str)")
        if not nodes:
            return []
        self.warm_up()
        incoming = [Incoming(n.node.node_id, n.node.get_content(metadata_mode=MetadataMode.NONE) or "", n.score)
                    for n in nodes]
        ranked = rerank_incoming(self._reranker, query_bundle.query_str, incoming, top_n=self.top_n,
                                 score_threshold=self.score_threshold, fusion=self.fusion)
        out = []
        for i, r in ranked:
            node = nodes[i].node.model_copy(deep=True)  # the caller's nodes are not modified
            node.metadata = {**node.metadata, **r.score_fields()}
            for keys in (node.excluded_llm_metadata_keys, node.excluded_embed_metadata_keys):
                keys.extend(k for k in SCORE_KEYS if k not in keys)
            out.append(NodeWithScore(node=node, score=r.score))
        return out
