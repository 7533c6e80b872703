"""The components end to end, offline: an indexing pipeline (converter -> splitter -> embedder -> writer) and query
pipelines (embedder -> retriever -> ranker -> PromptBuilder -> a deterministic stand-in generator), their YAML
round trip, the async pipeline, and the contracts Haystack users rely on."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from haystack import Document, Pipeline, component
from haystack.components.builders import PromptBuilder
from haystack.components.converters import TextFileToDocument
from haystack.components.preprocessors import DocumentSplitter
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.embedders.recallrank import RecallrankDocumentEmbedder, RecallrankTextEmbedder
from haystack_integrations.components.rankers.recallrank import RecallrankRanker
from haystack_integrations.components.retrievers.recallrank import RecallrankEmbeddingRetriever, RecallrankRetriever
from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore

from recallrank.testing import SAMPLE_CORPUS

TEXTS = {f"{i}.txt": text for i, text, _ in SAMPLE_CORPUS}
PROMPT = "Context:\n{% for d in documents %}- {{ d.content }}\n{% endfor %}Question: {{ query }}"


@component
class EchoGenerator:
    """A deterministic stand-in for an LLM: replies with the first context line of its prompt."""

    @component.output_types(replies=list[str])
    def run(self, prompt: str) -> dict[str, list[str]]:
        return {"replies": [prompt.splitlines()[1]]}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecallrankDocumentStore, Path]]:
    root = tmp_path_factory.mktemp("docs")
    for name, text in TEXTS.items():
        (root / name).write_text(text)
    store = RecallrankDocumentStore(path=str(root / "index"), embedding_dim=384)
    indexing = Pipeline()
    indexing.add_component("converter", TextFileToDocument())
    indexing.add_component("splitter", DocumentSplitter(split_by="word", split_length=200))
    indexing.add_component("embedder", RecallrankDocumentEmbedder())
    indexing.add_component("writer", DocumentWriter(store, policy=DuplicatePolicy.OVERWRITE))
    indexing.connect("converter", "splitter")
    indexing.connect("splitter", "embedder")
    indexing.connect("embedder", "writer")
    out = indexing.run({"converter": {"sources": sorted(root.glob("*.txt"))}})
    assert out["writer"]["documents_written"] == len(TEXTS)
    yield store, root
    store.close()


def query_pipeline(store: RecallrankDocumentStore) -> Pipeline:
    p = Pipeline()
    p.add_component("embedder", RecallrankTextEmbedder())
    p.add_component("retriever", RecallrankEmbeddingRetriever(document_store=store, top_k=5))
    p.add_component("ranker", RecallrankRanker(top_k=2))
    p.add_component("prompt", PromptBuilder(template=PROMPT, required_variables=["documents", "query"]))
    p.add_component("llm", EchoGenerator())
    p.connect("embedder.embedding", "retriever.query_embedding")
    p.connect("retriever.documents", "ranker.documents")
    p.connect("ranker.documents", "prompt.documents")
    p.connect("prompt.prompt", "llm.prompt")
    return p


def ask(p: Any, query: str) -> dict[str, Any]:
    return p.run({"embedder": {"text": query}, "ranker": {"query": query}, "prompt": {"query": query}},
                 include_outputs_from={"ranker"})


def test_query_pipeline_end_to_end_and_yaml_round_trip(indexed: tuple[RecallrankDocumentStore, Path]) -> None:
    store, _ = indexed
    p = query_pipeline(store)
    out = ask(p, "Apple company market value")
    ranked = out["ranker"]["documents"]
    assert ranked[0].content == TEXTS["apple-inc.txt"]
    assert out["llm"]["replies"] == [f"- {TEXTS['apple-inc.txt']}"]
    assert all(d.meta["retrieval_score"] is not None and d.meta["relevance_score"] is not None for d in ranked)
    yaml = p.dumps()
    assert "QDRANT_API_KEY" in yaml and "api_key: null" not in yaml  # the env var's name, never a value
    store.close()  # one process may hold the embedded store: the loaded pipeline opens it again
    again = Pipeline.loads(yaml, allowed_modules=[__name__])  # the stand-in generator lives here
    out2 = ask(again, "Apple company market value")
    assert [(d.id, d.score) for d in out2["ranker"]["documents"]] == [(d.id, d.score) for d in ranked]
    again.get_component("retriever").document_store.close()


def test_two_stage_retriever_component_and_async_pipeline(indexed: tuple[RecallrankDocumentStore, Path]) -> None:
    store, _ = indexed
    retriever = RecallrankRetriever(document_store=store, top_k=3, recall_k=50)
    docs = retriever.run(query="which database is written in Rust")["documents"]
    assert docs[0].content == TEXTS["qdrant.txt"] and len(docs) == 3
    assert all({"retrieval_score", "relevance_score"} <= set(d.meta) for d in docs)
    p = Pipeline()
    p.add_component("retriever", retriever)
    out = asyncio.run(p.run_async({"retriever": {"query": "which database is written in Rust", "top_k": 1}}))
    assert [d.id for d in out["retriever"]["documents"]] == [docs[0].id]
    sync = RecallrankRetriever.from_dict(retriever.to_dict())
    assert sync.to_dict() == retriever.to_dict()


def test_filters_run_inside_qdrant_with_filter_policy(indexed: tuple[RecallrankDocumentStore, Path]) -> None:
    store, _ = indexed
    fruit = {"field": "meta.file_path", "operator": "==", "value": "apple-fruit.txt"}
    by_name = [d for d in store.filter_documents() if d.meta.get("file_path", "").endswith("apple-fruit.txt")]
    assert by_name, "TextFileToDocument records the file path"
    fruit["value"] = by_name[0].meta["file_path"]
    retriever = RecallrankRetriever(document_store=store, top_k=3, filters=fruit)
    # the one fruit text is no answer about a technology company: the retriever abstains, unless told never to
    assert retriever.run(query="technology company")["abstained"] is True
    kept = retriever.run(query="technology company", min_probability=0)["documents"]
    assert [d.content for d in kept] == [TEXTS["apple-fruit.txt"]]
    merged = RecallrankRetriever(document_store=store, top_k=3, filters=fruit, filter_policy="merge")
    none = merged.run(query="apple", filters={"field": "meta.file_path", "operator": "==", "value": "nope"})
    assert none["documents"] == []
    replaced = retriever.run(query="apple", filters={"field": "meta.file_path", "operator": "!=", "value": "x"})
    assert len(replaced["documents"]) == 3


def test_ranker_contract() -> None:
    ranker = RecallrankRanker(top_k=5)
    docs = [Document(content=t, score=0.5, meta={"k": i}) for i, t in enumerate(TEXTS.values())]
    before = [(d.id, d.score, dict(d.meta)) for d in docs]
    out = ranker.run(query="Apple company market value", documents=docs)["documents"]
    assert [(d.id, d.score, dict(d.meta)) for d in docs] == before  # inputs never mutated
    assert out[0].content == TEXTS["apple-inc.txt"] and out[0].meta["retrieval_score"] == 0.5
    assert out[0].meta["k"] == 0 and out[0].score == out[0].meta["score"]
    assert 0.0 < out[0].meta["relevance_score"] < 1.0 and out[0].meta["score_model"] == "recallrank-reranker-e5"
    low = min(d.score for d in out)
    # the threshold applies to the final score (the z-scored fusion here: the list's mean is 0)
    kept = ranker.run(query="Apple company market value", documents=docs, score_threshold=0.0)["documents"]
    assert [d.id for d in kept] == [d.id for d in out if d.score >= 0.0] and 0 < len(kept) < 5
    assert len(ranker.run(query="Apple company market value", documents=docs, score_threshold=low,
                          top_k=5)["documents"]) == 5
    assert ranker.run(query="q", documents=[])["documents"] == []
    with pytest.raises(ValueError, match="no text content"):
        ranker.run(query="q", documents=[Document(content=None, meta={})])
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        ranker.run(query="q", documents=docs, top_k=0)
    assert RecallrankRanker.from_dict(ranker.to_dict()).to_dict() == ranker.to_dict()


def test_constructors_do_no_io_and_bad_settings_fail_early(tmp_path: Path) -> None:
    store = RecallrankDocumentStore(path=str(tmp_path / "never"))
    RecallrankRetriever(document_store=store)
    RecallrankRanker()
    assert not (tmp_path / "never").exists()
    with pytest.raises(Exception, match="unsupported"):
        RecallrankEmbeddingRetriever(document_store=store, filters={"field": "meta.a", "operator": "~", "value": 1})
    with pytest.raises(ValueError, match="RecallrankDocumentStore"):
        RecallrankRetriever(document_store=object())  # type: ignore[arg-type]
