"""A pipeline described as plain data: its recall model, each rerank stage with the model it runs, ``top_k`` and
``top_n`` (what ``recallrank config`` and ``recallrank eval`` print)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recallrank.errors import RecallrankError
from recallrank.models._loading import default_bi_encoder_path, looks_like_path
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.retrieval.pipeline import TwoStageRetriever
from recallrank.retrieval.stages import st_config


def model_label(name: Any) -> str:
    """A short name for a model id or folder: ``all-MiniLM-L6-v2`` for the bundled bi-encoder, the package's name
    for a model shipped in one (``recallrank-reranker-minilm``), else the folder's or hub id's name; a zero-shot
    late-interaction model (``zero-shot:<bi-encoder>``) is named by the bi-encoder whose token vectors it uses."""
    name = str(name) if name is not None else "?"
    if name.startswith("zero-shot:"):  # a bi-encoder's own token vectors, untrained for MaxSim
        return f"{model_label(name.removeprefix('zero-shot:'))} token vectors (zero-shot)"
    try:
        if name == default_bi_encoder_path():
            return "all-MiniLM-L6-v2"
    except (ImportError, RecallrankError):
        pass
    if not looks_like_path(name):
        return name
    path = Path(name)
    if (path.parent / "__init__.py").is_file():  # a model folder inside a Python package that ships it
        package = path.parent.name.replace("_", "-")
        return package if path.name == "model" else f"{package}/{path.name}"
    return path.name


def pipeline_summary(retriever: TwoStageRetriever, loaded: bool = False) -> dict[str, Any]:
    """``{"bi_encoder", "top_k", "top_n", "stages": [{"stage", "keep", "model", "fusion"}]}``, and with ``loaded``
    the ``calibration`` behind each result's ``probability`` (``None``: none).

    ``fusion`` says how a stage's score is combined with the recall score: MaxSim's weight, or for a cross-encoder
    whether it applies a calibrated fusion (known once its model is ``loaded``; before that, whether the recall
    model is one a shipped fusion may be calibrated for).
    """
    stages = []
    for st in retriever.stages:
        config = st_config(st.reranker)
        stages.append({"stage": st.name, "keep": st.keep, "model": model_label(config.get("model", config.get("kind"))),
                       "fusion": _fusion(retriever, st.reranker, config, loaded)})
    # before the store is opened (``loaded``), top_k is what the settings say: the collection's tuning is not read
    top_k = retriever.top_k if loaded else retriever.config()["top_k"]
    out = {"bi_encoder": model_label(retriever.encoder.config().get("model")), "top_k": top_k,
           "top_n": retriever.top_n, "stages": stages}
    if loaded:
        calibration = retriever.calibration_for(retriever.calibration_key())
        out["calibration"] = calibration.label() if calibration is not None else None
    return out


def _fusion(retriever: TwoStageRetriever, reranker: Any, config: dict[str, Any], loaded: bool) -> str | None:
    if config.get("kind") == "maxsim":
        fuse = config.get("fuse")
        return f"MaxSim per query token + {fuse} x recall" if fuse else None
    if isinstance(reranker, CrossEncoderReranker):
        if not retriever.fuse:
            return None
        if loaded:
            return "calibrated" if reranker.fusion_for(retriever.recall_model) is not None else None
        return "calibrated, where the model ships one for this recall model"
    return None
