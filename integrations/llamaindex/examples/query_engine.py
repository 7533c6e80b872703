"""Two-stage retrieval feeding a LlamaIndex query engine, offline.

    python integrations/llamaindex/examples/query_engine.py ["question"]

Indexes three texts into recallrank's embedded Qdrant store and retrieves with ``TwoStageRetriever``'s default
pipeline (all-MiniLM-L6-v2 recall, then zero-shot MaxSim over its token vectors fused with the recall cosine); the
engine's LLM is llama-index-core's MockLLM (it echoes), so swap in a real one via ``Settings.llm``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.retrievers.recallrank import RecallrankRetriever

from recallrank import Document, EdgeStore, TwoStageRetriever

TEXTS = [
    "Apple Inc. is an American technology company; its market value passed three trillion dollars.",
    "The apple is a sweet fruit; apple orchards have a high market value for farmers.",
    "Qdrant is a vector database and similarity search engine written in Rust.",
]


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "Apple company market value"
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(Path(tmp) / "index", "notes")
        pipeline = TwoStageRetriever(store)
        pipeline.add_documents([Document(t) for t in TEXTS])
        engine = RetrieverQueryEngine.from_args(RecallrankRetriever(pipeline, similarity_top_k=2),
                                                llm=MockLLM(max_tokens=16))
        response = engine.query(question)
        for n in response.source_nodes:
            meta = n.node.metadata
            print(f"{n.score:.3f} (recall {meta['retrieval_score']:.3f}, {meta['score_stage']} "
                  f"{meta['relevance_score']:.3f})  {n.node.get_content()[:90]}")
        store.close()


if __name__ == "__main__":
    main()
