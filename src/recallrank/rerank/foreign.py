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
  cosine, dot product or BM25 score works;
* ``"order"``: the same with the arrival position in place of a score (needs nothing but the order);
* ``"none"``: the cross-encoder alone.

Ties go to the cross-encoder. ``score`` is what the order follows (list-relative under a fusion);
``relevance_score`` the cross-encoder's probability; ``retrieval_score`` the score the document arrived with.
"""

from __future__ import annotations

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
#: weight of the z-scored incoming score (or arrival position) beside the z-scored cross-encoder logit
SCORE_WEIGHT = 1.0
ORDER_WEIGHT = 1.0


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


def rerank_incoming(reranker: Any, query: str, incoming: Sequence[Incoming], *, top_n: int | None,
                    score_threshold: float | None = None, fusion: str = "auto") -> list[tuple[int, Result]]:
    """(position in ``incoming``, result) pairs, best first, at most ``top_n``, those whose ``score`` is under
    ``score_threshold`` dropped. ``reranker`` is a :class:`~recallrank.rerank.cross_encoder.CrossEncoderReranker`.
    Results say what produced ``score``: ``stage`` ``"cross+score"``, ``"cross+order"`` or ``"cross"`` (see the
    module), ``model`` the cross-encoder."""
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
        final = z_fusion(logits, -np.arange(len(unique), dtype=np.float64), ORDER_WEIGHT)
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
