"""Haystack's own DocumentStore test suites (haystack.testing.document_store), unmodified, on the embedded engine
(and on qdrant-client's local mode), plus what they leave out: serialisation without secrets, embedding retrieval."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from haystack import Document, Pipeline
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from haystack.errors import FilterError
from haystack.testing.document_store import (
    CountDocumentsByFilterTest,
    CountUniqueMetadataByFilterTest,
    DocumentStoreBaseExtendedTests,
    GetMetadataFieldMinMaxTest,
    GetMetadataFieldsInfoTest,
    GetMetadataFieldUniqueValuesTest,
)
from haystack.testing.document_store_async import (
    CountDocumentsAsyncTest,
    CountDocumentsByFilterAsyncTest,
    CountUniqueMetadataByFilterAsyncTest,
    DeleteAllAsyncTest,
    DeleteByFilterAsyncTest,
    DeleteDocumentsAsyncTest,
    FilterDocumentsAsyncTest,
    GetMetadataFieldMinMaxAsyncTest,
    GetMetadataFieldsInfoAsyncTest,
    GetMetadataFieldUniqueValuesAsyncTest,
    UpdateByFilterAsyncTest,
    WriteDocumentsAsyncTest,
)
from haystack.utils import Secret
from haystack_integrations.components.retrievers.recallrank import RecallrankEmbeddingRetriever
from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore


def embedded(tmp_path: Path) -> RecallrankDocumentStore:
    return RecallrankDocumentStore(path=str(tmp_path / "index"), embedding_dim=768, return_embedding=True,
                                   exact_embeddings=True)


class HaystackSuites(DocumentStoreBaseExtendedTests, CountDocumentsByFilterTest, CountUniqueMetadataByFilterTest,
                     GetMetadataFieldsInfoTest, GetMetadataFieldMinMaxTest, GetMetadataFieldUniqueValuesTest,
                     CountDocumentsAsyncTest, CountDocumentsByFilterAsyncTest, CountUniqueMetadataByFilterAsyncTest,
                     DeleteAllAsyncTest, DeleteByFilterAsyncTest, DeleteDocumentsAsyncTest, FilterDocumentsAsyncTest,
                     GetMetadataFieldsInfoAsyncTest, GetMetadataFieldMinMaxAsyncTest,
                     GetMetadataFieldUniqueValuesAsyncTest, UpdateByFilterAsyncTest, WriteDocumentsAsyncTest):
    """Every sync and async suite class in haystack.testing.document_store(_async); the two write tests Haystack
    asks each store to define (its default write policy) are below."""

    def test_write_documents(self, document_store: RecallrankDocumentStore) -> None:
        doc = Document(content="test doc")
        assert document_store.write_documents([doc]) == 1
        with pytest.raises(DuplicateDocumentError):  # the default policy (NONE) fails on duplicates
            document_store.write_documents([doc])
        self.assert_documents_are_equal(document_store.filter_documents(), [doc])

    async def test_write_documents_async(self, document_store: RecallrankDocumentStore) -> None:
        doc = Document(content="test doc")
        assert await document_store.write_documents_async([doc]) == 1
        with pytest.raises(DuplicateDocumentError):
            await document_store.write_documents_async([doc])
        self.assert_documents_are_equal(await document_store.filter_documents_async(), [doc])


class TestEmbedded(HaystackSuites):
    @pytest.fixture
    def document_store(self, tmp_path: Path) -> Iterator[RecallrankDocumentStore]:
        store = embedded(tmp_path)
        yield store
        store.close()


class TestClientLocalMode(HaystackSuites):
    @pytest.fixture
    def document_store(self) -> Iterator[RecallrankDocumentStore]:
        store = RecallrankDocumentStore(location=":memory:", embedding_dim=768, return_embedding=True,
                                        exact_embeddings=True)
        yield store
        store.close()


@pytest.mark.integration
class TestServer(HaystackSuites):
    """The same suites against a real Qdrant server (QDRANT_URL, else testcontainers, else skipped)."""

    @pytest.fixture
    def document_store(self, qdrant_url: str, request: pytest.FixtureRequest) -> Iterator[RecallrankDocumentStore]:
        name = "hs_" + uuid.uuid4().hex[:12]
        store = RecallrankDocumentStore(url=qdrant_url, collection=name, embedding_dim=768, return_embedding=True,
                                        exact_embeddings=True)
        yield store
        if store.store.exists():
            store.store.client.delete_collection(name)  # type: ignore[attr-defined]
        store.close()


def test_to_dict_round_trip_never_writes_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RecallrankDocumentStore(url="http://localhost:6333", api_key=Secret.from_env_var("MY_KEY"))
    data = store.to_dict()
    assert data["init_parameters"]["api_key"] == {"type": "env_var", "env_vars": ["MY_KEY"], "strict": True}
    back = RecallrankDocumentStore.from_dict(data)
    assert back.to_dict() == data
    with pytest.raises(ValueError, match="Cannot serialize token-based secret"):
        RecallrankDocumentStore(url="http://localhost:6333", api_key=Secret.from_token("s3cret")).to_dict()
    os.environ.pop("MY_KEY", None)


@pytest.mark.parametrize("url", ["http://user:secret@h:6333", "http://user:pa/secret@h:6333",
                                 "http://h:6333/?api_key=secret", "user:secret@h:6333"])
def test_a_url_holding_credentials_is_never_serialised(url: str) -> None:
    """Issue 21.4: ``Pipeline.dumps()`` wrote ``url: http://user:secret@h:6333`` into the YAML."""
    store = RecallrankDocumentStore(url=url)
    with pytest.raises(ValueError, match=r"holds credentials.*Secret\.from_env_var\('QDRANT_URL'\)") as raised:
        store.to_dict()
    assert "secret" not in str(raised.value)
    pipeline = Pipeline()
    pipeline.add_component("retriever", RecallrankEmbeddingRetriever(document_store=store))
    with pytest.raises(ValueError, match="holds credentials") as raised:
        pipeline.dumps()
    assert "secret" not in str(raised.value)


def test_a_url_from_an_environment_variable_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_QDRANT_URL", "http://user:secret@h:6333")
    store = RecallrankDocumentStore(url=Secret.from_env_var("MY_QDRANT_URL"), collection="c")
    pipeline = Pipeline()
    pipeline.add_component("retriever", RecallrankEmbeddingRetriever(document_store=store))
    yaml = pipeline.dumps()
    assert "secret" not in yaml and "MY_QDRANT_URL" in yaml
    back = Pipeline.loads(yaml).get_component("retriever").document_store
    assert back.to_dict() == store.to_dict()
    assert back.store.url == "http://user:secret@h:6333"  # resolved when the store is first used (no I/O yet)
    monkeypatch.delenv("MY_QDRANT_URL")
    with pytest.raises(ValueError, match="resolved to nothing"):
        _ = RecallrankDocumentStore(url=Secret.from_env_var("MY_QDRANT_URL", strict=False)).store


def test_constructor_does_no_io(tmp_path: Path) -> None:
    RecallrankDocumentStore(path=str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_embedding_retrieval_filters_inside_qdrant_and_skips_documents_without_embeddings(tmp_path: Path) -> None:
    store = RecallrankDocumentStore(path=str(tmp_path / "i"), embedding_dim=3)
    docs = [Document(content=f"d{i}", meta={"n": i}, embedding=[1.0, i / 10, 0.0]) for i in range(20)]
    store.write_documents([*docs, Document(content="no embedding", meta={"n": 100})])
    got = store.embedding_retrieval([1.0, 0.0, 0.0], top_k=5, filters={"field": "meta.n", "operator": ">=",
                                                                      "value": 10})
    assert [d.content for d in got] == ["d10", "d11", "d12", "d13", "d14"]  # never short of top_k
    assert all(d.score is not None and d.embedding is None for d in got)
    assert len(store.embedding_retrieval([1.0, 0.0, 0.0], top_k=50)) == 20
    assert store.embedding_retrieval([1.0, 0.0, 0.0], top_k=5, score_threshold=0.0)  # 0.0 is honoured, not "unset"
    with pytest.raises(ValueError, match="query embedding is 2-d but the store holds 3-d"):
        store.embedding_retrieval([1.0, 0.0])
    with pytest.raises(ValueError, match=r"'.*' has a 2-d embedding but the store holds 3-d"):
        store.write_documents([Document(content="bad", embedding=[1.0, 2.0])])
    with pytest.raises(FilterError, match=r"'meta.n' with operator 'like'.*unsupported"):
        store.filter_documents({"field": "meta.n", "operator": "like", "value": 1})
    store.close()


def test_nothing_is_written_when_one_document_is_bad(tmp_path: Path) -> None:
    store = RecallrankDocumentStore(path=str(tmp_path / "i"), embedding_dim=3)
    store.write_documents([Document(content="kept", embedding=[1.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="NaN or infinity"):
        store.write_documents([Document(content="fine", embedding=[0.0, 1.0, 0.0]),
                               Document(content="bad", embedding=[float("nan"), 0.0, 0.0])],
                              policy=DuplicatePolicy.OVERWRITE)
    assert [d.content for d in store.filter_documents()] == ["kept"]
    store.close()
