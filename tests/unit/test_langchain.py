"""LangChain adapters: the langchain-tests standard retriever suite, the compressor inside LangChain's own
ContextualCompressionRetriever, BaseCrossEncoder inside langchain-classic's reranker, async, callbacks, factories."""

from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import CrossEncoderReranker as LCCrossEncoderReranker
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document as LCDocument
from pydantic import ValidationError

from recallrank import BiEncoder, CrossEncoderReranker, EdgeStore, InvalidInputError, QdrantServerStore, StoreError
from recallrank.errors import MissingDependencyError, StoreUnavailableError
from recallrank.langchain import (
    BiEncoderRetriever,
    CrossEncoderCompressor,
    RecallrankCrossEncoder,
    RecallrankRetriever,
)
from tests.conftest import CORPUS
from tests.langchain_suite import QUERY, RetrieverSuite

LC_DOCS = [LCDocument(page_content=text, metadata=meta, id=doc_id) for doc_id, text, meta in CORPUS]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, encoder: BiEncoder) -> EdgeStore:
    retriever = BiEncoderRetriever.from_documents(LC_DOCS, path=tmp_path_factory.mktemp("lc"), collection_name="docs",
                                                  encoder=encoder)
    return retriever.store


class TestBiEncoderRetrieverStandard(RetrieverSuite):
    constructor = BiEncoderRetriever

    @pytest.fixture(autouse=True)
    def _params(self, store: EdgeStore, encoder: BiEncoder) -> None:
        self._constructor_params = {"store": store, "encoder": encoder, "k": 4}


class TestRecallrankRetrieverStandard(RetrieverSuite):
    constructor = RecallrankRetriever

    @pytest.fixture(autouse=True)
    def _params(self, store: EdgeStore, encoder: BiEncoder, reranker: CrossEncoderReranker) -> None:
        self._constructor_params = {"store": store, "encoder": encoder, "reranker": reranker, "top_k": 5, "k": 4}


class TestRecallrankRetrieverOnQdrantClientLocalMode(RetrieverSuite):
    """The same suite on the server backend's code path (qdrant-client local mode stands in for a server)."""

    constructor = RecallrankRetriever

    @pytest.fixture(autouse=True)
    def _params(self, encoder: BiEncoder, reranker: CrossEncoderReranker) -> None:
        store = QdrantServerStore(location=":memory:", name="docs")
        BiEncoderRetriever(store=store, encoder=encoder).add_documents(LC_DOCS)
        self._constructor_params = {"store": store, "encoder": encoder, "reranker": reranker, "top_k": 5, "k": 4}


@pytest.fixture
def two_stage(store: EdgeStore, encoder: BiEncoder, reranker: CrossEncoderReranker) -> RecallrankRetriever:
    return RecallrankRetriever(store=store, encoder=encoder, reranker=reranker, top_k=5, k=3)


def test_two_stage_documents_carry_both_scores_and_ids(two_stage: RecallrankRetriever) -> None:
    docs = two_stage.invoke(QUERY)
    assert [d.id for d in docs][:2] == ["apple-inc", "apple-fruit"]
    for d in docs:
        assert -1.0 <= d.metadata["retrieval_score"] <= 1.0
        assert 0.0 < d.metadata["relevance_score"] < 1.0
        assert "topic" in d.metadata and "year" in d.metadata


def test_bi_encoder_order_differs_and_has_no_relevance_score(store: EdgeStore, encoder: BiEncoder) -> None:
    docs = BiEncoderRetriever(store=store, encoder=encoder, k=5).invoke(QUERY)
    scores = [d.metadata["retrieval_score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    assert all(d.metadata["relevance_score"] is None for d in docs)


def test_k_filter_threshold_and_top_k_per_call(two_stage: RecallrankRetriever) -> None:
    assert len(two_stage.invoke(QUERY, k=1)) == 1
    food = two_stage.invoke(QUERY, filter={"topic": "food"})
    assert {d.id for d in food} == {"apple-fruit", "tea"}
    newer_food = two_stage.invoke(QUERY, filter={"$and": [{"topic": {"$eq": "food"}}, {"year": {"$gte": 2020}}]})
    assert {d.id for d in newer_food} == {"apple-fruit"}  # LangChain's $-operator dicts, run inside Qdrant
    assert {d.id for d in two_stage.invoke(QUERY, filter={"topic": {"$nin": ["food", "software"]}})} == {"apple-inc"}
    with pytest.raises(InvalidInputError, match=r"'year': operator '\$regex' is not supported"):
        two_stage.invoke(QUERY, filter={"year": {"$regex": "20"}})
    assert two_stage.invoke(QUERY, score_threshold=1.01) == []
    assert len(two_stage.invoke(QUERY, score_threshold=0.0)) == 3  # 0.0 is a threshold, not "unset"
    assert len(two_stage.invoke(QUERY, top_k=2, k=2)) == 2
    with pytest.raises(InvalidInputError, match=r"unexpected search arguments.*top_p"):
        two_stage.invoke(QUERY, top_p=3)


async def test_ainvoke_matches_invoke(two_stage: RecallrankRetriever, store: EdgeStore, encoder: BiEncoder) -> None:
    assert [d.id for d in await two_stage.ainvoke(QUERY)] == [d.id for d in two_stage.invoke(QUERY)]
    bi = BiEncoderRetriever(store=store, encoder=encoder, k=3)
    assert [d.id for d in await bi.ainvoke(QUERY, k=2)] == [d.id for d in bi.invoke(QUERY, k=2)]


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append(("end", len(documents)))

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.events.append((name, data))


async def test_callbacks_receive_the_run_and_stage_timings(two_stage: RecallrankRetriever) -> None:
    rec = _Recorder()
    two_stage.invoke(QUERY, config={"callbacks": [rec]})
    await two_stage.ainvoke(QUERY, config={"callbacks": [rec]})
    timings = [data for name, data in rec.events if name == "recallrank_timings"]
    assert len(timings) == 2 and ("end", 3) in rec.events
    assert set(timings[0]["timings"]) == {"embed", "recall", "rerank", "total"}
    assert timings[0]["recalled"] == 5 and timings[0]["returned"] == 3


def test_compressor_inside_contextual_compression_retriever(store: EdgeStore, encoder: BiEncoder,
                                                            reranker: CrossEncoderReranker) -> None:
    base = BiEncoderRetriever(store=store, encoder=encoder, k=5)
    compressor = CrossEncoderCompressor(reranker=reranker, top_n=2)
    docs = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base).invoke(QUERY)
    assert [d.id for d in docs] == ["apple-inc", "apple-fruit"]
    assert all(d.metadata["retrieval_score"] is not None and d.metadata["relevance_score"] is not None for d in docs)
    # the composed two-stage retriever ranks the same documents from the same components
    composed = RecallrankRetriever.from_components(base, compressor)
    assert composed.top_k == 5 and composed.k == 2
    assert [d.id for d in composed.invoke(QUERY)] == ["apple-inc", "apple-fruit"]


async def test_compressor_never_mutates_inputs_and_dedupes(reranker: CrossEncoderReranker) -> None:
    docs = [*LC_DOCS, LC_DOCS[0]]
    before = copy.deepcopy(docs)
    compressor = CrossEncoderCompressor(reranker=reranker, top_n=10)
    out = compressor.compress_documents(docs, QUERY)
    assert docs == before
    assert len(out) == len(LC_DOCS) and out[0].id == "apple-inc"
    assert all(o is not d for o in out for d in docs)
    assert [d.id for d in await compressor.acompress_documents(docs, QUERY)] == [d.id for d in out]
    # the threshold applies to the final score, what the order follows (here the fusion with the arrival order)
    top = max(d.metadata["score"] for d in out)
    strict = CrossEncoderCompressor(reranker=reranker, top_n=2, score_threshold=top + 1e-9)
    assert strict.compress_documents(docs, QUERY) == []
    assert len(CrossEncoderCompressor(reranker=reranker, top_n=10, score_threshold=top).compress_documents(
        docs, QUERY)) == 1


def test_base_cross_encoder_inside_langchains_own_reranker(reranker: CrossEncoderReranker) -> None:
    scores = RecallrankCrossEncoder(reranker).score([(QUERY, LC_DOCS[0].page_content), (QUERY, "Green tea leaves.")])
    assert scores[0] > scores[1] and all(isinstance(s, float) for s in scores)
    lc_reranker = LCCrossEncoderReranker(model=RecallrankCrossEncoder(reranker), top_n=1)
    assert [d.id for d in lc_reranker.compress_documents(LC_DOCS, QUERY)] == ["apple-inc"]


def test_factories(tmp_path: Path, encoder: BiEncoder, store: EdgeStore) -> None:
    with pytest.raises(StoreError, match=r"no collection 'nope'.*from_texts"):
        BiEncoderRetriever.from_existing_collection("nope", path=tmp_path, encoder=encoder)
    texts = [text for _, text, _ in CORPUS]
    first = BiEncoderRetriever.from_texts(texts, path=tmp_path, collection_name="t", encoder=encoder)
    again = first.add_texts(texts)
    assert again.unchanged == len(texts) and again.added == 0  # re-ingest is a no-op
    first.store.close()
    reopened = BiEncoderRetriever.from_existing_collection("t", path=tmp_path, encoder=encoder, k=1)
    assert reopened.invoke("vector database")[0].page_content.startswith("Qdrant")
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:9"):
        BiEncoderRetriever.from_url("http://127.0.0.1:9", "docs", store_kwargs={"timeout": 2})


def test_constructor_does_no_io_and_rejects_a_non_store(tmp_path: Path) -> None:
    retriever = RecallrankRetriever(store=EdgeStore(tmp_path / "idx", "docs"))
    assert not (tmp_path / "idx").exists()
    assert retriever.pipeline.encoder._model is None  # models load on first use
    with pytest.raises(ValidationError, match="VectorStore"):
        BiEncoderRetriever(store="http://localhost:6333")


def test_without_langchain_core_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("langchain_core", "langchain_core.callbacks", "recallrank.langchain"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "langchain_core", None)  # makes `import langchain_core...` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'recallrank\[langchain\]'"):
        importlib.import_module("recallrank.langchain")
