from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from recallrank import BiEncoder, CrossEncoderReranker

CORPUS = [
    ("apple-inc", "Apple Inc. is an American technology company; its market value passed three trillion dollars.",
     {"topic": "business", "year": 2023}),
    ("apple-fruit", "The apple is a sweet fruit; apple orchards have a high market value for farmers.",
     {"topic": "food", "year": 2021}),
    ("qdrant", "Qdrant is a vector database and similarity search engine written in Rust.",
     {"topic": "software", "year": 2023}),
    ("python", "Python is a programming language that lets you work quickly and integrate systems.",
     {"topic": "software", "year": 2020}),
    ("tea", "Green tea is made from leaves of Camellia sinensis that have not been withered or oxidised.",
     {"topic": "food", "year": 2019}),
]


@pytest.fixture(scope="session")
def encoder() -> BiEncoder:
    enc = BiEncoder()
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def reranker() -> CrossEncoderReranker:
    rr = CrossEncoderReranker()
    rr.warm_up()
    return rr
