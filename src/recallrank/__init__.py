"""recallrank: two-stage retrieval for RAG. A bi-encoder recalls top_k candidates from Qdrant, a rerank stage orders
them into the top_n that feed generation. A new collection's first documents choose the recall model: English text
all-MiniLM-L6-v2, reranked by default with zero-shot MaxSim over its own token vectors fused with the recall cosine;
Chinese and other non-Latin text :class:`E5Encoder` (multilingual-e5-small), recall alone by default. A
cross-encoder (``reranker=True``), a cascade (``stages=``), BM25 or hybrid recall (``recall=``) on request.

Example:
    >>> from recallrank import EdgeStore, TwoStageRetriever
    >>> retriever = TwoStageRetriever(EdgeStore("./index"), top_k=100, top_n=10)   # doctest: +SKIP
    >>> retriever.add_texts(["Qdrant is a vector database.", "Apples are fruit."])  # doctest: +SKIP
    >>> for r in retriever.search("vector search engine"):                           # doctest: +SKIP
    ...     print(r.score, r.relevance_score, r.retrieval_score, r.text)
"""

from __future__ import annotations

from recallrank.datasets import RetrievalSet, load_beir, load_dataset
from recallrank.documents import Document, Evidence, Passage, Result
from recallrank.errors import (
    CollectionMismatchError,
    DatasetError,
    InvalidInputError,
    MissingDependencyError,
    ModelLoadError,
    RecallrankError,
    StoreCorruptedError,
    StoreError,
    StoreUnavailableError,
)
from recallrank.evaluation.metrics import evaluate_run
from recallrank.index.base import Hit, VectorStore, point_id
from recallrank.index.embedded.store import EdgeStore
from recallrank.index.server.store import QdrantServerStore
from recallrank.index.settings import CollectionSettings
from recallrank.loaders.fitting import chunk
from recallrank.models.bi_encoder import BiEncoder
from recallrank.models.e5 import E5Encoder
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.retrieval.pipeline import IngestReport, SearchResponse, TwoStageRetriever

__version__ = "0.1.0"

__all__ = [
    "BiEncoder",
    "CollectionMismatchError",
    "CollectionSettings",
    "CrossEncoderReranker",
    "DatasetError",
    "Document",
    "E5Encoder",
    "EdgeStore",
    "Evidence",
    "Hit",
    "IngestReport",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelLoadError",
    "Passage",
    "QdrantServerStore",
    "RecallrankError",
    "Result",
    "RetrievalSet",
    "SearchResponse",
    "StoreCorruptedError",
    "StoreError",
    "StoreUnavailableError",
    "TwoStageRetriever",
    "VectorStore",
    "__version__",
    "chunk",
    "evaluate_run",
    "load_beir",
    "load_dataset",
    "point_id",
]
