"""The LangChain retrievers and the CLI against a real Qdrant server (async search through AsyncQdrantClient)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document as LCDocument

from recallrank import BiEncoder, CrossEncoderReranker, QdrantServerStore
from recallrank.langchain import RecallrankRetriever
from tests.conftest import CORPUS
from tests.langchain_suite import QUERY, RetrieverSuite
from tests.unit.test_cli import run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_retriever(qdrant_url: str, encoder: BiEncoder,
                     reranker: CrossEncoderReranker) -> Iterator[RecallrankRetriever]:
    docs = [LCDocument(page_content=t, metadata=m, id=i) for i, t, m in CORPUS]
    retriever = RecallrankRetriever.from_documents(docs, url=qdrant_url, api_key=os.environ.get("QDRANT_API_KEY"),
                                                   collection_name=f"lc-{uuid.uuid4().hex[:8]}", encoder=encoder,
                                                   reranker=reranker, top_k=5, k=3)
    yield retriever
    retriever.store.client.delete_collection(retriever.store.name)


class TestServerRetrieverStandard(RetrieverSuite):
    constructor = RecallrankRetriever

    @pytest.fixture(autouse=True)
    def _params(self, server_retriever: RecallrankRetriever) -> None:
        r = server_retriever
        self._constructor_params = {"store": r.store, "encoder": r.encoder, "reranker": r.reranker, "top_k": 5}


async def test_ainvoke_uses_the_async_client(server_retriever: RecallrankRetriever) -> None:
    docs = await server_retriever.ainvoke(QUERY, filter={"topic": "business"})
    assert [d.id for d in docs] == ["apple-inc"]
    store = server_retriever.store
    assert isinstance(store, QdrantServerStore) and store._aclient is not None


def test_cli_index_and_search_on_the_server(qdrant_url: str, tmp_path: Any) -> None:
    (tmp_path / "tea.txt").write_text(CORPUS[4][1])
    name = f"cli-{uuid.uuid4().hex[:8]}"
    env = {"RECALLRANK_URL": qdrant_url, "RECALLRANK_COLLECTION": name}
    if os.environ.get("QDRANT_API_KEY"):
        env["RECALLRANK_API_KEY"] = os.environ["QDRANT_API_KEY"]
    first = run("index", str(tmp_path), "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(run("index", str(tmp_path), "--json", env=env).stdout)["unchanged"] == 1
    found = json.loads(run("search", "green tea", "--json", env=env).stdout)
    assert found["results"][0]["text"].startswith("Green tea")
    QdrantServerStore(qdrant_url, name, api_key=os.environ.get("QDRANT_API_KEY")).client.delete_collection(name)
