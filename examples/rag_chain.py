"""RAG with recallrank in an LCEL chain: two-stage retriever -> prompt -> chat model -> answer with citations.

The retriever recalls 100 Debian package descriptions from an embedded Qdrant index with the bi-encoder
(all-MiniLM-L6-v2), recallrank's default rerank stage (zero-shot MaxSim over the bi-encoder's token vectors, fused
with the recall cosine) keeps the best 4, and those numbered passages are the only context the chat model sees. The
answer cites passages as [n]; the script prints the cited chunks with the rerank and recall scores.

Offline (the default) the chat model is ``ExtractiveStandIn``: a deterministic stand-in, not a language model,
that answers with the context sentence sharing the most words with the question. Any LangChain chat model can be
used instead:

    python examples/rag_chain.py "Which program reads email on the GNOME desktop?"
    python examples/rag_chain.py --llm ollama:llama3.2 "..."          # pip install langchain-ollama
    python examples/rag_chain.py --llm openai:gpt-4o-mini "..."       # pip install langchain-openai; OPENAI_API_KEY
    python examples/rag_chain.py --llm openai:qwen2.5 --base-url http://localhost:8000/v1 "..."  # any compatible server

The first run indexes 5,000 descriptions, dense and token vectors (a few minutes on 2 CPU cores: the selection
table, benchmarks/results/selection.md, measured 25 documents/s); later runs reuse the index.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableParallel, RunnablePassthrough

from recallrank.langchain import RecallrankRetriever

PROMPT = ChatPromptTemplate.from_messages([
    ("system", "Answer the question using only the numbered context passages. Cite every passage you use as [n]. "
               "If the passages do not contain the answer, say that you do not know."),
    ("human", "Context:\n{context}\n\nQuestion: {question}"),
])
_WORD = re.compile(r"\w+")
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "of", "on", "or", "that", "the", "this", "to", "what", "when", "where", "which", "who", "why", "with", "you",
    "your",
})


def format_context(docs: list[Document]) -> str:
    """Numbered passages, as the prompt asks the model to cite them."""
    return "\n\n".join(f"[{i}] {' '.join(d.page_content.split())}" for i, d in enumerate(docs, 1))


def build_chain(retriever: BaseRetriever, llm: BaseChatModel) -> Runnable[str, dict[str, Any]]:
    """question -> {"question", "docs", "answer"}: the documents used travel with the answer for citations."""
    answer = (
        RunnablePassthrough.assign(context=lambda x: format_context(x["docs"]))
        | PROMPT
        | llm
        | StrOutputParser()
    )
    return RunnableParallel(docs=retriever, question=RunnablePassthrough()).assign(answer=answer)


def cited(result: dict[str, Any]) -> list[tuple[int, Document]]:
    """The passages the answer cites, as (number, document)."""
    numbers = sorted({int(n) for n in re.findall(r"\[(\d+)\]", result["answer"])})
    return [(n, result["docs"][n - 1]) for n in numbers if 1 <= n <= len(result["docs"])]


class ExtractiveStandIn(BaseChatModel):
    """A deterministic offline stand-in for a chat model (it does not generate language).

    It reads the numbered passages and the question from the prompt and answers with the passage sentence that
    shares the most content words with the question, cited as [n]; ties go to the earlier (better-ranked) passage.
    """

    @property
    def _llm_type(self) -> str:
        return "extractive-stand-in"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        context, _, question = prompt.rpartition("\n\nQuestion: ")
        wanted = _words(question)
        best: tuple[int, int, str] | None = None  # (overlap, -passage number, sentence)
        for number, passage in re.findall(r"^\[(\d+)\] (.*)$", context, re.M):
            for sentence in re.split(r"(?<=[.!?])\s+", passage):
                candidate = (len(wanted & _words(sentence)), -int(number), sentence)
                if candidate[0] and (best is None or candidate[:2] > best[:2]):
                    best = candidate
        text = f"{best[2]} [{-best[1]}]" if best else "I do not know: the passages do not answer that."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def make_chat_model(spec: str | None, base_url: str | None = None) -> BaseChatModel:
    """``None``: the offline stand-in; ``ollama:MODEL`` or ``openai:MODEL`` (optionally at ``base_url``)."""
    if spec is None:
        return ExtractiveStandIn()
    provider, _, model = spec.partition(":")
    if not model or provider not in ("ollama", "openai"):
        raise SystemExit(f"--llm {spec!r}: write ollama:MODEL or openai:MODEL")
    try:
        if provider == "ollama":
            from langchain_ollama import ChatOllama

            return ChatOllama(model=model, base_url=base_url, temperature=0)  # type: ignore[no-any-return]
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=model, base_url=base_url, temperature=0)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise SystemExit(f"--llm {spec}: pip install langchain-{provider} first ({exc})") from exc


def debian_retriever(path: str, k: int) -> RecallrankRetriever:
    """Two-stage retriever over 5,000 English Debian package descriptions (indexed on first use)."""
    from recallrank import load_dataset

    ds = load_dataset("debian-en", "test")
    ids = list(ds.corpus)
    metadatas = [{"package": i.split(":", 1)[-1]} for i in ids]
    print(f"index: {path} (embedding only what is not stored yet)", file=sys.stderr)
    return RecallrankRetriever.from_texts([ds.corpus[i] for i in ids], metadatas, ids, path=path,
                                          collection_name="debian-en", top_k=100, k=k)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default="Which program reads email on the GNOME desktop?")
    parser.add_argument("--llm", default=None, help="ollama:MODEL or openai:MODEL (default: the offline stand-in)")
    parser.add_argument("--base-url", default=None, help="the chat model's endpoint, if not the default")
    parser.add_argument("--path", default=".recallrank/rag-example", help="index folder")
    parser.add_argument("-k", type=int, default=4, help="passages given to the model")
    args = parser.parse_args(argv)

    chain = build_chain(debian_retriever(args.path, args.k), make_chat_model(args.llm, args.base_url))
    result = chain.invoke(args.question)
    print(f"Q: {args.question}\nA: {result['answer']}\n")
    for n, doc in cited(result) or list(enumerate(result["docs"], 1)):
        m = doc.metadata
        print(f"[{n}] {m['package']}  (rerank {m['relevance_score']:.3f}, recall {m['retrieval_score']:.3f})")
        print(f"    {' '.join(doc.page_content.split())[:200]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
