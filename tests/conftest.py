from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No backend or precision is pinned here: the suite runs on what a user gets ("auto": OpenVINO on a CPU, int8 where
# the CPU has VNNI/AMX, bf16 where it has only bf16 instructions, else fp32; see recallrank/models/_runtime.py).
# RECALLRANK_BACKEND / RECALLRANK_PRECISION in the environment still choose another runtime for a whole run.
# Tests about something else than the runtime (tiny models built for training, numeric equivalence between
# backends) pin torch fp32 themselves, saying why; regression tests keep reference scores per resolved runtime.

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
    # torch: only the weights are wanted here, so no ONNX export or int8 calibration of the full model
    model = BiEncoder(backend="torch", precision="fp32").warm_up()
    model[0].auto_model.encoder.layer = model[0].auto_model.encoder.layer[:1]
    model[0].auto_model.config.num_hidden_layers = 1
    out = tmp_path_factory.mktemp("tiny-bi")
    model.save_pretrained(str(out))
    return str(out)


@pytest.fixture(scope="session")
def tiny_cross(tmp_path_factory: pytest.TempPathFactory) -> str:
    from recallrank.models._loading import default_bi_encoder_path
    from recipes.reranker_minilm import new_cross_encoder

    model: Any = new_cross_encoder(default_bi_encoder_path(), 64, layers=1)
    out = tmp_path_factory.mktemp("tiny-cross")
    model.save_pretrained(str(out))
    return str(out)


@pytest.fixture
def trained_models_run_on_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests about training: the tiny models they train run on torch fp32, so that none pays an ONNX export
    and, on a VNNI/AMX CPU, an int8 calibration (about 30 s each). Every other test runs the defaults."""
    monkeypatch.setenv("RECALLRANK_BACKEND", "torch")
    monkeypatch.setenv("RECALLRANK_PRECISION", "fp32")
