"""Calibrated interpolation of rerank and recall scores.

A pure cross-encoder can hurt on text unlike its training data; the recall stage's similarity carries
independent evidence. ``ScoreFusion`` is a logistic model fitted on held-out dev judgements:

    P(relevant) = sigmoid(w_rerank * cross_encoder_logit + w_recall * retrieval_score + bias)

so the fused score is still a probability (a ``score_threshold`` keeps its meaning) and its ranking
interpolates both stages with weights learnt from data rather than hand-tuned. The weights hold for the
recall model they were fitted with (recorded in ``bi_encoder``): a model folder's ``recallrank_fusion.json``
holds one fusion per recall model it was calibrated for (:func:`load_all`, :func:`save_all`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from recallrank.rerank.relevance import fit_head

FILE_NAME = "recallrank_fusion.json"
DEFAULT_RECALL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ScoreFusion:
    """Weights of the calibrated interpolation (see module docstring).

    Example:
        >>> f = ScoreFusion(w_rerank=1.0, w_recall=10.0, bias=-8.0)
        >>> [round(x, 3) for x in f.apply(np.array([2.0, -1.0]), np.array([0.6, 0.7]))]
        [0.5, 0.119]
    """

    w_rerank: float
    w_recall: float
    bias: float
    bi_encoder: str = DEFAULT_RECALL

    def apply(self, logits: np.ndarray, retrieval: np.ndarray) -> np.ndarray:
        z = self.w_rerank * np.asarray(logits, dtype=np.float64) + self.w_recall * np.asarray(retrieval, np.float64) \
            + self.bias
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def save(self, folder: str | Path) -> Path:
        return save_all([self], folder)

    @classmethod
    def load(cls, folder: str | Path) -> ScoreFusion | None:
        """The folder's fusion for the default bi-encoder (else its first one), or ``None``."""
        return default_fusion(load_all(folder))

    @classmethod
    def fit(cls, logits: np.ndarray, retrieval: np.ndarray, labels: np.ndarray, l2: float = 1e-3,
            bi_encoder: str = DEFAULT_RECALL) -> ScoreFusion:
        """Maximum-likelihood logistic regression (Newton's method) on the two scores."""
        w = fit_head(np.column_stack([logits, retrieval]), np.asarray(labels, dtype=np.float64), l2=l2)
        return cls(float(w[0]), float(w[1]), float(w[2]), bi_encoder)


def load_all(folder: str | Path) -> dict[str, ScoreFusion]:
    """Recall model name -> fusion, from ``folder/recallrank_fusion.json`` (one object, or ``{"fusions": [...]}``)."""
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    items = data.get("fusions", [data])
    return {f.bi_encoder: f for f in (ScoreFusion(**item) for item in items)}


def default_fusion(fusions: dict[str, ScoreFusion]) -> ScoreFusion | None:
    """The default bi-encoder's fusion among ``fusions`` (else the first one), or ``None``."""
    return fusions.get(DEFAULT_RECALL, next(iter(fusions.values()), None))


def save_all(fusions: list[ScoreFusion], folder: str | Path) -> Path:
    path = Path(folder) / FILE_NAME
    path.write_text(json.dumps({"fusions": [asdict(f) for f in fusions]}, indent=1) + "\n")
    return path
