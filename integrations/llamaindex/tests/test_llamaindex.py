"""The LlamaIndex retriever and postprocessor, offline: a RetrieverQueryEngine with llama-index-core's MockLLM,
native async retrieval, filters run inside Qdrant, both scores on every node, inputs never modified."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from llama_index.core import Settings
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters
from llama_index.postprocessor.recallrank_rerank import RecallrankRerank
from llama_index.retrievers.recallrank import RecallrankRetriever, from_metadata_filters

from recallrank import Document, EdgeStore, InvalidInputError, TwoStageRetriever
from recallrank.filters import Filter, Match, MatchAny, Range
from recallrank.testing import SAMPLE_CORPUS

CORPUS = SAMPLE_CORPUS


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoStageRetriever]:
    store = EdgeStore(tmp_path_factory.mktemp("li") / "index", "docs")
    r = TwoStageRetriever(store, reranker=True)
    r.add_documents([Document(t, m, id=i) for i, t, m in CORPUS])
    yield r
    store.close()


def test_query_engine_with_mock_llm(pipeline: TwoStageRetriever) -> None:
    retriever = RecallrankRetriever(pipeline, similarity_top_k=2)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=8))
    response = engine.query("Apple company market value")
    nodes = response.source_nodes
    assert [n.node.node_id for n in nodes] == ["apple-inc", "apple-fruit"]
    assert all(n.node.metadata["retrieval_score"] is not None and n.node.metadata["relevance_score"] is not None
               for n in nodes)
    assert "retrieval_score" not in nodes[0].node.get_content(metadata_mode="llm")  # the LLM does not see scores
    assert response.response  # MockLLM answered from the prompt the engine built


async def test_native_async_matches_sync(pipeline: TwoStageRetriever) -> None:
    retriever = RecallrankRetriever(pipeline, similarity_top_k=3)
    sync = retriever.retrieve("vector database written in Rust")
    asynchronous = await retriever.aretrieve("vector database written in Rust")
    assert [(n.node.node_id, n.score) for n in asynchronous] == [(n.node.node_id, n.score) for n in sync]
    assert sync[0].node.node_id == "qdrant"


def test_metadata_filters_run_inside_qdrant(pipeline: TwoStageRetriever) -> None:
    food = MetadataFilters(filters=[MetadataFilter(key="topic", value="food")])
    got = RecallrankRetriever(pipeline, similarity_top_k=5, filters=food).retrieve("technology company")
    assert {n.node.node_id for n in got} == {"apple-fruit", "tea"}  # all matches, never short
    newer = MetadataFilters(filters=[MetadataFilter(key="year", value=2021, operator=FilterOperator.GTE),
                                     MetadataFilter(key="topic", value=["software"], operator=FilterOperator.NIN)])
    assert {n.node.node_id for n in RecallrankRetriever(pipeline, filters=newer).retrieve("anything")} == \
        {"apple-inc", "apple-fruit"}
    assert from_metadata_filters(MetadataFilters(filters=[
        MetadataFilter(key="a", value=1), MetadataFilter(key="b", value=[1, 2], operator=FilterOperator.IN),
        MetadataFilter(key="c", value=2.5, operator=FilterOperator.LT)], condition=FilterCondition.OR)) == \
        Filter(should=(Match("a", 1), MatchAny("b", (1, 2)), Range("c", lt=2.5)))
    with pytest.raises(InvalidInputError, match=r"'topic' with operator 'text_match'.*accepted: =="):
        from_metadata_filters(MetadataFilters(filters=[
            MetadataFilter(key="topic", value="fo", operator=FilterOperator.TEXT_MATCH)]))


def test_postprocessor_keeps_both_scores_and_leaves_inputs_alone() -> None:
    nodes = [NodeWithScore(node=TextNode(text=t, id_=i, metadata=dict(m)), score=0.5) for i, t, m in CORPUS]
    before = [(n.node.node_id, n.score, dict(n.node.metadata)) for n in nodes]
    rerank = RecallrankRerank(top_n=2)
    out = rerank.postprocess_nodes(nodes, query_bundle=QueryBundle("Apple company market value"))
    assert [(n.node.node_id, n.score, dict(n.node.metadata)) for n in nodes] == before
    assert [n.node.node_id for n in out] == ["apple-inc", "apple-fruit"]
    assert out[0].node.metadata["retrieval_score"] == 0.5 and out[0].score == out[0].node.metadata["score"]
    assert 0.0 < out[0].node.metadata["relevance_score"] < 1.0
    everything = RecallrankRerank(top_n=5).postprocess_nodes(nodes, query_str="apple")
    kept = RecallrankRerank(top_n=5, score_threshold=0.0).postprocess_nodes(nodes, query_str="apple")
    assert [n.node.node_id for n in kept] == [n.node.node_id for n in everything if (n.score or 0.0) >= 0.0]
    with pytest.raises(InvalidInputError, match="needs the query"):
        rerank.postprocess_nodes(nodes)


def test_retriever_needs_a_pipeline(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="TwoStageRetriever"):
        RecallrankRetriever(object())  # type: ignore[arg-type]
    Settings.llm = MockLLM()
    r = RecallrankRetriever.from_store(EdgeStore(tmp_path / "never", "x"))
    assert r.similarity_top_k == 10 and not (tmp_path / "never").exists()


@pytest.mark.integration
def test_retriever_on_a_qdrant_server(qdrant_url: str) -> None:
    """The same retriever with filters and async against a real server (QDRANT_URL, else testcontainers)."""
    from recallrank import QdrantServerStore

    store = QdrantServerStore(qdrant_url, "li_" + os.urandom(6).hex())
    pipeline = TwoStageRetriever(store, reranker=True)
    pipeline.add_documents([Document(t, m, id=i) for i, t, m in CORPUS])
    try:
        food = MetadataFilters(filters=[MetadataFilter(key="topic", value="food")])
        got = RecallrankRetriever(pipeline, similarity_top_k=5, filters=food).retrieve("technology company")
        assert {n.node.node_id for n in got} == {"apple-fruit", "tea"}
    finally:
        store.client.delete_collection(store.name)
        store.close()
