import numpy as np
import pytest

from recallrank import Document, Hit
from recallrank.encoders.cross_encoder import CrossEncoderReranker
from recallrank.encoders.fusion import ScoreFusion


def test_fit_recovers_known_weights() -> None:
    rng = np.random.default_rng(0)
    logits, cos = rng.normal(size=20000), rng.uniform(0, 1, size=20000)
    z = 1.5 * logits + 4.0 * cos - 3.0
    labels = (rng.uniform(size=20000) < 1 / (1 + np.exp(-z))).astype(float)
    f = ScoreFusion.fit(logits, cos, labels)
    assert (f.w_rerank, f.w_recall, f.bias) == pytest.approx((1.5, 4.0, -3.0), abs=0.25)


def test_save_load_roundtrip(tmp_path) -> None:
    f = ScoreFusion(1.0, 2.0, -1.0)
    f.save(tmp_path)
    assert ScoreFusion.load(tmp_path) == f
    assert ScoreFusion.load(tmp_path / "nothing") is None


def test_reranker_uses_fusion_only_with_recall_scores(reranker: CrossEncoderReranker) -> None:
    heavy_recall = CrossEncoderReranker(reranker.model_name, fusion=ScoreFusion(0.0, 100.0, 0.0))
    hits = [Hit("00000000-0000-0000-0000-000000000001", 0.9, Document("Tea is a drink.")),
            Hit("00000000-0000-0000-0000-000000000002", 0.1, Document("Qdrant is a vector database."))]
    fused = heavy_recall.rerank("vector database", hits)
    assert fused[0].document.text == "Tea is a drink."  # the recall score dominates this fusion
    assert fused[0].relevance_score < fused[1].relevance_score  # the cross-encoder's own view is kept
    plain = heavy_recall.rerank("vector database", hits, fuse=False)
    assert plain[0].document.text.startswith("Qdrant")
    no_recall = heavy_recall.rerank("vector database", [h.document for h in hits])
    assert no_recall[0].document.text.startswith("Qdrant")
