"""Index a folder of text files into recallrank's embedded Qdrant store and answer a question with Haystack 3.

    python integrations/haystack/examples/rag_pipeline.py [FOLDER] ["question"]

Runs offline: the models ship in PyPI packages, the store is embedded. The last step is an extractive stand-in
for an LLM (it returns the best context passage); put a real generator (e.g. OpenAIGenerator) in its place.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from haystack import Pipeline, component
from haystack.components.builders import PromptBuilder
from haystack.components.converters import TextFileToDocument
from haystack.components.preprocessors import DocumentSplitter
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.embedders.recallrank import RecallrankDocumentEmbedder
from haystack_integrations.components.retrievers.recallrank import RecallrankRetriever
from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore

SAMPLE = {
    "apple-inc.txt": "Apple Inc. is an American technology company; its market value passed three trillion dollars.",
    "apple-fruit.txt": "The apple is a sweet fruit; apple orchards have a high market value for farmers.",
    "qdrant.txt": "Qdrant is a vector database and similarity search engine written in Rust.",
}
TEMPLATE = "Answer from the context.\n{% for d in documents %}[{{ loop.index }}] {{ d.content }}\n{% endfor %}" \
           "Question: {{ query }}"


@component
class ExtractiveStandIn:
    """Not an LLM: replies with the first context passage of the prompt, so the example runs offline."""

    @component.output_types(replies=list[str])
    def run(self, prompt: str) -> dict[str, list[str]]:
        passages = [line for line in prompt.splitlines() if line.startswith("[")]
        return {"replies": [passages[0] if passages else "(no context)"]}


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    question = sys.argv[2] if len(sys.argv) > 2 else "Apple company market value"
    with tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            folder = Path(tmp) / "docs"
            folder.mkdir()
            for name, text in SAMPLE.items():
                (folder / name).write_text(text)
        store = RecallrankDocumentStore(path=str(Path(tmp) / "index"), embedding_dim=384)
        indexing = Pipeline()
        indexing.add_component("converter", TextFileToDocument())
        indexing.add_component("splitter", DocumentSplitter(split_by="word", split_length=150, split_overlap=20))
        indexing.add_component("embedder", RecallrankDocumentEmbedder())
        indexing.add_component("writer", DocumentWriter(store, policy=DuplicatePolicy.OVERWRITE))
        indexing.connect("converter", "splitter")
        indexing.connect("splitter", "embedder")
        indexing.connect("embedder", "writer")
        written = indexing.run({"converter": {"sources": sorted(folder.rglob("*.txt"))}})["writer"]
        print(f"indexed {written['documents_written']} chunks from {folder}")

        rag = Pipeline()
        rag.add_component("retriever", RecallrankRetriever(document_store=store, recall_k=100, top_k=3))
        rag.add_component("prompt", PromptBuilder(template=TEMPLATE, required_variables=["documents", "query"]))
        rag.add_component("llm", ExtractiveStandIn())
        rag.connect("retriever.documents", "prompt.documents")
        rag.connect("prompt.prompt", "llm.prompt")
        out = rag.run({"retriever": {"query": question}, "prompt": {"query": question}},
                      include_outputs_from={"retriever"})
        for d in out["retriever"]["documents"]:
            print(f"{d.score:.3f} (recall {d.meta['retrieval_score']:.3f}, {d.meta['score_stage']} "
                  f"{d.meta['relevance_score']:.3f})  {d.content[:90]}")
        print("answer:", out["llm"]["replies"][0])
        store.close()


if __name__ == "__main__":
    main()
