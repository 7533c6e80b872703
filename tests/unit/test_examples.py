"""examples/rag_chain.py: the LCEL chain retriever -> prompt -> chat model -> cited answer, offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from langchain_core.documents import Document as LCDocument

from recallrank import BiEncoder, CrossEncoderReranker
from recallrank.langchain import RecallrankRetriever
from tests.conftest import CORPUS


def _load() -> ModuleType:
    path = Path(__file__).parents[2] / "examples" / "rag_chain.py"
    spec = importlib.util.spec_from_file_location("rag_chain", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rag() -> ModuleType:
    return _load()


@pytest.fixture
def retriever(tmp_path: Path, encoder: BiEncoder, reranker: CrossEncoderReranker) -> RecallrankRetriever:
    docs = [LCDocument(page_content=text, metadata={**meta, "package": doc_id}, id=doc_id)
            for doc_id, text, meta in CORPUS]
    return RecallrankRetriever.from_documents(docs, path=tmp_path, encoder=encoder, reranker=reranker, top_k=5, k=3)


async def test_chain_answers_from_the_reranked_context_with_citations(rag: ModuleType,
                                                                      retriever: RecallrankRetriever) -> None:
    chain = rag.build_chain(retriever, rag.ExtractiveStandIn())
    result = chain.invoke("What language is the Qdrant vector database written in?")
    assert result["answer"].startswith("Qdrant is a vector database") and result["answer"].endswith("[1]")
    [(n, doc)] = rag.cited(result)
    assert n == 1 and doc.id == "qdrant" and doc.metadata["relevance_score"] is not None
    assert len(result["docs"]) == 3  # only the reranked top k reach the prompt
    again = await chain.ainvoke("What language is the Qdrant vector database written in?")
    assert again["answer"] == result["answer"]


def test_stand_in_says_when_the_context_has_no_answer(rag: ModuleType) -> None:
    prompt = rag.PROMPT.invoke({"context": "[1] Green tea is made from leaves.", "question": "Who wrote Hamlet?"})
    assert "do not know" in rag.ExtractiveStandIn().invoke(prompt).content


def test_llm_flag_errors_name_the_fix(rag: ModuleType) -> None:
    with pytest.raises(SystemExit, match="ollama:MODEL or openai:MODEL"):
        rag.make_chat_model("llama3")
