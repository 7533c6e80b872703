"""Two-stage retrieval end to end on the embedded store with the real shipped models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from recallrank import BiEncoder, CrossEncoderReranker, Document, EdgeStore, Result, TwoStageRetriever
from tests.conftest import CORPUS


@pytest.fixture
def retriever(tmp_path: Path, encoder: BiEncoder, reranker: CrossEncoderReranker) -> TwoStageRetriever:
    r = TwoStageRetriever(EdgeStore(tmp_path, "docs"), encoder, reranker, top_k=5, top_n=3)
    r.add_documents([Document(text, metadata=meta, id=doc_id) for doc_id, text, meta in CORPUS])
    return r


def test_two_stage_returns_both_scores_and_timings(retriever: TwoStageRetriever) -> None:
    resp = retriever.search("Apple company market value")
    assert len(resp) == 3 and resp.recalled == 5
    assert resp.results[0].document.id == "apple-inc"
    for r in resp.results:
        assert isinstance(r, Result)
        assert r.retrieval_score is not None and -1.0 <= r.retrieval_score <= 1.0
        assert r.relevance_score is not None and 0.0 < r.relevance_score < 1.0
        assert 0.0 <= r.score <= 1.0  # a probability, fused with the recall score or not
        if not (retriever.fuse and retriever.reranker is not None and retriever.reranker.fusion is not None):
            assert r.score == r.relevance_score
    assert [r.score for r in resp.results] == sorted((r.score for r in resp.results), reverse=True)
    assert set(resp.timings) == {"embed", "recall", "rerank", "total"}
    assert resp.timings["total"] >= resp.timings["rerank"] > 0


def test_rerank_changes_bi_encoder_order_on_the_ambiguous_query(retriever: TwoStageRetriever) -> None:
    """The fruit text shares 'apple' and 'market value' with the query; the reranker must rank the company first."""
    two = retriever.search("Apple company market value", top_n=2)
    assert [r.document.id for r in two.results] == ["apple-inc", "apple-fruit"]
    assert two.results[0].relevance_score > two.results[1].relevance_score  # type: ignore[operator]


def test_filters_threshold_and_overrides(retriever: TwoStageRetriever) -> None:
    food = retriever.search("fruit", filter={"topic": "food"}, top_n=5)
    assert {r.document.metadata["topic"] for r in food.results} == {"food"}
    assert len(retriever.search("fruit", top_n=1)) == 1
    high = retriever.search("vector database in Rust", score_threshold=0.5, top_n=5)
    assert all(r.score >= 0.5 for r in high.results)
    top = retriever.search("vector database in Rust", top_n=1).results[0].score
    none = retriever.search("vector database in Rust", score_threshold=top + 1e-6)
    assert none.results == []
    everything = retriever.search("vector database in Rust", score_threshold=0.0, top_n=5)
    assert len(everything) == 5  # 0.0 is honoured as a threshold, not read as "unset"


def test_bi_only_mode_keeps_recall_order(retriever: TwoStageRetriever) -> None:
    rec = retriever.recall("Qdrant vector search", top_k=3)
    assert [r.relevance_score for r in rec.results] == [None] * 3
    assert [r.score for r in rec.results] == sorted((r.score for r in rec.results), reverse=True)
    assert rec.results[0].document.id == "qdrant"


def test_async_matches_sync(retriever: TwoStageRetriever) -> None:
    sync = retriever.search("green tea leaves")
    got = asyncio.run(retriever.asearch("green tea leaves"))
    assert [r.point_id for r in got.results] == [r.point_id for r in sync.results]
    assert [r.score for r in got.results] == pytest.approx([r.score for r in sync.results], rel=1e-5)


def test_reingest_is_a_noop_and_changed_text_replaces(retriever: TwoStageRetriever) -> None:
    docs = [Document(text, metadata=meta, id=doc_id) for doc_id, text, meta in CORPUS]
    again = retriever.add_documents(docs)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    assert retriever.store.count() == 5
    changed = retriever.add_documents([Document("Apple Inc. designs the iPhone.", id="apple-inc")])
    assert (changed.added, changed.updated) == (0, 1)
    assert retriever.store.count() == 5
    assert retriever.search("iPhone maker", top_n=1).results[0].text == "Apple Inc. designs the iPhone."


def test_interrupted_ingest_resumes_without_duplicates(tmp_path: Path, encoder: BiEncoder) -> None:
    docs = [Document(f"Document number {i} about topic {i % 7}.") for i in range(40)]
    first = TwoStageRetriever(EdgeStore(tmp_path, "r"), encoder, False)
    first.add_documents(docs[:25], batch_size=10)  # as if the process died after 25
    first.store.close()
    second = TwoStageRetriever(EdgeStore(tmp_path, "r"), encoder, False)
    report = second.add_documents(docs, batch_size=10)
    assert (report.added, report.unchanged) == (15, 25)
    assert second.store.count() == 40


def test_delete_and_duplicate_inputs(retriever: TwoStageRetriever) -> None:
    extra = Document("A duplicate text.", metadata={"topic": "x"})
    report = retriever.add_documents([extra, extra])
    assert report.added == 1
    retriever.delete([extra])
    assert retriever.store.count() == 5


def test_reranker_dedupes_and_never_mutates_inputs(reranker: CrossEncoderReranker) -> None:
    docs = [Document("Qdrant is a vector database.", metadata={"k": 1}), Document("Tea is a drink.")]
    before = [(d.text, dict(d.metadata)) for d in docs]
    results = reranker.rerank("vector database", [docs[0], docs[1], docs[0]])
    assert len(results) == 2 and results[0].document.text.startswith("Qdrant")
    assert [(d.text, dict(d.metadata)) for d in docs] == before
    assert results[0].retrieval_score is None


def test_raw_logits_and_sigmoid_agree(reranker: CrossEncoderReranker) -> None:
    raw = CrossEncoderReranker(reranker.model_name, activation="raw")
    texts = ["Qdrant is a vector database.", "Tea is a drink."]
    logits, probs = raw.score("vector db", texts), reranker.score("vector db", texts)
    assert probs == pytest.approx(1 / (1 + pow(2.718281828459045, -logits)), rel=1e-4)
    assert (logits < 0).any() or (logits > 1).any()  # raw scores are not squashed into (0, 1)


def test_config_round_trips_without_secrets(retriever: TwoStageRetriever) -> None:
    cfg = retriever.config()
    assert cfg["top_k"] == 5 and cfg["top_n"] == 3 and cfg["reranker"]["activation"] == "sigmoid"
    assert "api_key" not in str(cfg)


def test_fusion_only_with_the_recall_model_it_was_calibrated_for(tmp_path: Path,
                                                                 reranker: CrossEncoderReranker) -> None:
    assert TwoStageRetriever(EdgeStore(tmp_path, "a"), BiEncoder(), reranker).fuse
    assert not TwoStageRetriever(EdgeStore(tmp_path, "b"), BiEncoder(similarity="dot"), reranker).fuse
    assert not TwoStageRetriever(EdgeStore(tmp_path, "c"), BiEncoder(pooling="cls"), reranker).fuse
