"""Bi-encoder pooling and similarity choices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recallrank import BiEncoder, Document, EdgeStore, TwoStageRetriever

TEXTS = ["Qdrant is a vector database.", "A cat sat on the mat, purring loudly."]


@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "weighted-mean"])
def test_each_pooling_gives_distinct_unit_vectors(pooling: str) -> None:
    enc = BiEncoder(pooling=pooling)  # type: ignore[arg-type]
    v = enc.encode_documents(TEXTS)
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.linalg.norm(v, axis=1) == pytest.approx([1.0, 1.0], abs=1e-4)
    default = BiEncoder().encode_documents(TEXTS)
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
