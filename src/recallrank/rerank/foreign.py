"""Rerank another framework's documents: the one routine behind LangChain's ``CrossEncoderCompressor``, Haystack's
``RecallrankRanker`` and LlamaIndex's ``RecallrankRerank``.

Documents arrive in the order some retriever gave them, often with its score, whose scale is unknown. The rule,
chosen by measurement on held-out question sets (``benchmarks/foreign_rerank.py``,
``benchmarks/results/foreign_rerank.md``): the bilingual cross-encoder (:data:`DEFAULT_MODEL`), fused with what the
documents arrived with, because the cross-encoder alone ranks some sets below the order it receives (English FAQ
questions: 0.68 against 0.79 nDCG@10), while each fusion below measured at or above it on every set:

* ``fusion="auto"`` (default): ``"score"`` when every document arrived with a score, else ``"order"``;
* ``"score"``: the cross-encoder's logit and the incoming score, each z-scored within the list, summed with weight
  :data:`SCORE_WEIGHT` on the incoming side: free of the incoming score's scale and offset, so any retriever's
  cosine, dot product or BM25 score works (higher must be better: pass a distance negated);
* ``"order"``: reciprocal-rank fusion of the cross-encoder's ranking with the arrival order
  (:data:`RRF_K`, :data:`RRF_WEIGHT`; needs nothing but the order);
* ``"none"``: the cross-encoder alone.

Ties go to the cross-encoder. ``score`` is what the order follows (list-relative under a fusion);
``relevance_score`` the cross-encoder's probability; ``retrieval_score`` the score the document arrived with.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recallrank.documents import Document, Result, check_text
from recallrank.errors import InvalidInputError
from recallrank.models.identity import short_name
from recallrank.rerank.registry import cross_encoder

#: the cross-encoder foreign documents are reranked with (a :func:`~recallrank.rerank.registry.cross_encoder` name)
DEFAULT_MODEL = "bilingual"
FUSIONS = ("auto", "score", "order", "none")
#: weight of the z-scored incoming score beside the z-scored cross-encoder logit (above 1: where the two disagree
#: on two documents, the retriever's order stands; any weight from 1.5 to 2 measured at or above the incoming order)
SCORE_WEIGHT = 1.5
#: the order rule: reciprocal-rank fusion ``RRF_WEIGHT / (RRF_K + cross-encoder rank) + (1 - RRF_WEIGHT) / (RRF_K +
#: arrival rank)``, ranks from 1 (the grid k 1-60 x weight 0.2-0.8 is in benchmarks/results/foreign_rerank.md)
RRF_K = 2
RRF_WEIGHT = 0.3


@dataclass(frozen=True)
class Incoming:
    """One document as it arrived: the framework's id (duplicates are scored once), its text, and the score it
    came with (``None`` when none); a list of them is in arrival order."""

    key: str
    text: str
    score: float | None = None


def default_reranker(precision: str = "auto") -> Any:
    """The cross-encoder foreign documents are reranked with by default (not loaded yet)."""
    return cross_encoder(DEFAULT_MODEL, precision)


def check_fusion(fusion: str) -> str:
    if fusion not in FUSIONS:
        raise InvalidInputError(f"fusion={fusion!r}: use one of {', '.join(FUSIONS)}")
    return fusion


def z_fusion(logits: np.ndarray, incoming: np.ndarray, weight: float) -> np.ndarray:
    """z-scored ``logits`` + ``weight`` x z-scored ``incoming`` (higher is better), within the list; ties are broken
    by the logits."""
    def z(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x - x.mean()) / (x.std() or 1.0)

    return z(logits) + weight * z(incoming) - 1e-9 * _ranks(np.asarray(logits, dtype=np.float64))


def rank_fusion(logits: np.ndarray, weight: float = RRF_WEIGHT, k: float = RRF_K) -> np.ndarray:
    """Weighted reciprocal-rank fusion of the ranking by ``logits`` with the arrival order (position i is rank
    i + 1); ties are broken by the logits."""
    mine = _ranks(np.asarray(logits, dtype=np.float64)) + 1
    arrival = np.arange(1, len(logits) + 1, dtype=np.float64)
    return weight / (k + mine) + (1 - weight) / (k + arrival) - 1e-9 * mine


def rerank_incoming(reranker: Any, query: str, incoming: Sequence[Incoming], *, top_n: int | None,
                    score_threshold: float | None = None, fusion: str = "auto") -> list[tuple[int, Result]]:
    """(position in ``incoming``, result) pairs, best first, at most ``top_n``, those whose ``score`` is under
    ``score_threshold`` dropped. ``reranker`` is a :class:`~recallrank.rerank.cross_encoder.CrossEncoderReranker`.
    Results say what produced ``score``: ``stage`` ``"cross+score"``, ``"cross+order"`` or ``"cross"`` (see the
    module), ``model`` the cross-encoder."""
    query = check_text(query, "query")
    check_fusion(fusion)
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InvalidInputError(f"top_n must be a positive int, got {top_n!r:.40}")
    if score_threshold is not None and (isinstance(score_threshold, bool)
                                        or not isinstance(score_threshold, numbers.Real)
                                        or not math.isfinite(score_threshold)):
        raise InvalidInputError(f"score_threshold must be a finite number or None, got {score_threshold!r:.40}")
    first: dict[str, int] = {}
    for i, item in enumerate(incoming):
        if not isinstance(item.text, str) or not item.text.strip():
            raise InvalidInputError(f"document {item.key!r} has no text content for the reranker to read; drop it "
                                    "before reranking or give it text")
        if item.score is not None and (isinstance(item.score, bool) or not isinstance(item.score, numbers.Real)
                                       or not math.isfinite(item.score)):
            raise InvalidInputError(f"document {item.key!r} arrived with score {item.score!r}; a score must be a "
                                    "finite number (or None: then the arrival order is fused instead)")
        first.setdefault(item.key, i)
    unique = [incoming[i] for i in first.values()]
    if not unique:
        return []
    scores = [u.score for u in unique]
    if fusion == "auto":
        fusion = "score" if all(s is not None for s in scores) else "order"
    if fusion == "score" and not all(s is not None for s in scores):
        raise InvalidInputError("fusion='score' needs a score on every document; use 'order' (or 'auto')")
    logits = np.asarray(reranker.logits([(query, u.text) for u in unique]), dtype=np.float64)
    relevance = reranker.relevance(logits)
    if fusion == "none":
        final = logits - 1e-9 * _ranks(logits)
    elif fusion == "score":
        final = z_fusion(logits, np.array(scores, dtype=np.float64), SCORE_WEIGHT)
    else:
        final = rank_fusion(logits)
    stage = "cross" if fusion == "none" else f"cross+{fusion}"
    model = short_name(reranker.config().get("model"))
    results = [Result(document=Document(u.text, {}, u.key), score=float(rel if fusion == "none" else f),
                      retrieval_score=u.score, relevance_score=float(rel), point_id=u.key, stage=stage, model=model)
               for u, rel, f in zip(unique, relevance, final, strict=True)]
    order = [i for i in np.argsort(-final, kind="stable")
             if score_threshold is None or results[i].score >= score_threshold]
    return [(first[unique[i].key], results[i]) for i in (order if top_n is None else order[:top_n])]


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return ranks
