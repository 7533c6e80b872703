from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# "auto" (the encoders' default) means OpenVINO int8 on this CPU: calibration on first use of every model the
# tests build. The suite pins torch fp32, whose scores its regression tests hold; tests/unit/test_backends.py
# runs the defaults themselves (monkeypatching these away), and CI may set other values here.
os.environ.setdefault("RECALLRANK_BACKEND", "torch")
os.environ.setdefault("RECALLRANK_PRECISION", "fp32")

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


@pytest.fixture(scope="session")
def tiny_bi(tmp_path_factory: pytest.TempPathFactory) -> str:
    """all-MiniLM-L6-v2 cut to its first layer: a real tokenizer and architecture at a sixth of the cost."""
    model = BiEncoder().warm_up()
    model[0].auto_model.encoder.layer = model[0].auto_model.encoder.layer[:1]
    model[0].auto_model.config.num_hidden_layers = 1
    out = tmp_path_factory.mktemp("tiny-bi")
    model.save_pretrained(str(out))
    return str(out)


@pytest.fixture(scope="session")
def tiny_cross(tmp_path_factory: pytest.TempPathFactory) -> str:
    from recallrank.models._loading import default_bi_encoder_path
    from recallrank.training.reranker import new_cross_encoder

    model: Any = new_cross_encoder(default_bi_encoder_path(), 64, layers=1)
    out = tmp_path_factory.mktemp("tiny-cross")
    model.save_pretrained(str(out))
    return str(out)
