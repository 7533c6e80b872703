"""Stage names and cascades as text (the public path of :func:`parse_stages`); the code lives in
:mod:`recallrank.retrieval.cascade` and :mod:`recallrank.rerank.registry`."""

from recallrank.models.registry import bi_encoder, shipped_model
from recallrank.rerank.registry import MAXSIM_FUSE, STAGE_NAMES, cross_encoder, default_cross_encoder, make_stage
from recallrank.retrieval.cascade import default_stages, parse_stages

__all__ = ["MAXSIM_FUSE", "STAGE_NAMES", "bi_encoder", "cross_encoder", "default_cross_encoder", "default_stages",
           "make_stage", "parse_stages", "shipped_model"]
