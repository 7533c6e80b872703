from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from recallrank import BiEncoder, CrossEncoderReranker
from recallrank.testing import SAMPLE_CORPUS

CORPUS = SAMPLE_CORPUS  # (id, text, metadata) rows: two "apple" texts that share words, three others


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
