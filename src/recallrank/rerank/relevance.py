"""Calibrated relevance: the probability that a result is relevant to its query, for the pipeline that ranked it.

A pipeline's ranking score means different things per stage (a cosine, a MaxSim sum, a cross-encoder logit), so no
threshold on it survives a change of model. A :class:`Calibration` turns a ranked list into probabilities with two
logistic heads fitted on judged *dev* queries (and off-topic queries, judged irrelevant throughout):

* ``top`` for the first result, from its stage score, its recall similarity, the gap to the second result, how far
  its recall similarity is below the best recalled one, and the recall stage's own gap between its first two;
* ``rest`` for the others, from the stage score, the recall similarity, the gap to the first result, the rank and
  the recall gap.

(How far the first candidate stands above the mean of all recalled was tried as a sixth feature: it changed no
dev abstention rate by more than 0.01, and it shifts with the size of a small collection, so it was left out.)

The stage score is the last stage's own score made comparable across queries (:func:`stage_scores`: MaxSim per
query token, a cross-encoder's logit, a cosine). The ranking is never changed. A calibration holds for one
pipeline: the recall model and the last stage's kind and model (:func:`pipeline_key`); the shipped ones are in
``relevance.json`` beside this module (rebuilt by ``python -m recipes.calibrate_relevance``), and
``recallrank tune`` stores one fitted on a collection's own labels with the collection.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SHIPPED_FILE = Path(__file__).with_name("relevance.json")
#: the features of each head, in the order of their weights
TOP_FEATURES = ("score", "recall", "margin", "recall_gap", "recall_margin")
REST_FEATURES = ("score", "recall", "gap", "log_rank", "recall_gap")
#: ``min_probability="auto"`` on a calibrated pipeline, unless its calibration names its own (``min_probability``:
#: tuned on a collection's labels; ``dev_threshold``: chosen on dev queries by ``recipes/calibrate_relevance.py``
#: as the best mean of answerable questions answered and off-topic ones abstaining). 0.15 is that of the default
#: pipeline (``benchmarks/results/relevance.md``).
DEFAULT_MIN_PROBABILITY = 0.15


@dataclass(frozen=True)
class Calibration:
    """Two logistic heads over a ranked list's features (see the module docstring).

    Example:
        >>> c = Calibration("demo", top=(4.0, 0.0, 0.0, 0.0, 0.0, -2.0), rest=(4.0, 0.0, 0.0, 0.0, 0.0, -3.0))
        >>> [round(p, 3) for p in c.probabilities(np.array([0.9, 0.5]), np.array([0.6, 0.5]))]
        [0.832, 0.731]
    """

    pipeline: str
    top: tuple[float, ...]
    rest: tuple[float, ...]
    source: str = "shipped"
    fitted_on: tuple[str, ...] = ()
    queries: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def probabilities(self, scores: np.ndarray, recall: np.ndarray, recalled: Sequence[float] = ()
                      ) -> list[float]:
        """P(relevant) of each result of one ranked list, best first: ``scores`` the stage scores
        (:func:`stage_scores`), ``recall`` their recall similarities, ``recalled`` what :func:`recall_summary`
        says of every recalled candidate (default: of ``recall``)."""
        top, rest = features(scores, recall, recalled)
        out = []
        if len(top):
            out.append(_sigmoid(float((top @ np.asarray(self.top[:-1]))[0] + self.top[-1])))
        if len(rest):
            out.extend(_sigmoid(float(z)) for z in rest @ np.asarray(self.rest[:-1]) + self.rest[-1])
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "top": dict(zip((*TOP_FEATURES, "bias"), self.top, strict=True)),
                "rest": dict(zip((*REST_FEATURES, "bias"), self.rest, strict=True)), "source": self.source,
                "fitted_on": list(self.fitted_on), "queries": self.queries, **dict(self.extra)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        extra = {k: v for k, v in data.items() if k not in ("pipeline", "top", "rest", "source", "fitted_on",
                                                            "queries")}
        return cls(str(data["pipeline"]), tuple(float(data["top"][k]) for k in (*TOP_FEATURES, "bias")),
                   tuple(float(data["rest"][k]) for k in (*REST_FEATURES, "bias")), str(data.get("source", "shipped")),
                   tuple(data.get("fitted_on", ())), int(data.get("queries", 0)), extra)

    def label(self) -> str:
        """What fitted it, for a response and the CLI: ``shipped (dev: faq-en, ...)`` or ``tuned (50 queries)``."""
        if self.source == "tuned":
            return f"tuned on this collection ({self.queries} labelled queries) for {self.pipeline}"
        return f"shipped for {self.pipeline}, fitted on {self.queries} dev queries ({', '.join(self.fitted_on)})"


def recall_summary(similarities: Sequence[float] | np.ndarray) -> list[float]:
    """The best and second-best recall similarity of all candidates recalled."""
    c = np.sort(np.asarray(similarities, dtype=np.float64))[::-1]
    if not len(c):
        return []
    return [float(c[0]), float(c[1] if len(c) > 1 else c[0])]


def calibration_problem(data: object) -> str | None:
    """Why ``data`` is not a calibration :meth:`Calibration.from_dict` can read, with finite weights and a
    threshold in [0, 1] (``None``: it is one)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("pipeline"), str):
        return f"{str(data)[:60]!r} is not a calibration object with a pipeline"
    for head, names in (("top", TOP_FEATURES), ("rest", REST_FEATURES)):
        weights = data.get(head)
        if not isinstance(weights, Mapping) or set(weights) != {*names, "bias"}:
            return f"its '{head}' head must hold the weights {', '.join((*names, 'bias'))}"
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                   for w in weights.values()):
            return f"its '{head}' head holds a weight that is not a finite number"
    threshold = data.get("min_probability")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        return f"its min_probability {threshold!r:.20} is not a probability"
    if not isinstance(data.get("queries", 0), int):
        return "its query count is not a number"
    return None


def auto_threshold(calibration: Calibration) -> float:
    """What ``min_probability="auto"`` stands for under ``calibration``: its tuned threshold, else the one chosen
    for it on dev queries, else :data:`DEFAULT_MIN_PROBABILITY`."""
    extra = calibration.extra
    for key in ("min_probability", "dev_threshold"):
        value = extra.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
            return float(value)
    return DEFAULT_MIN_PROBABILITY


def features(scores: np.ndarray, recall: np.ndarray, recalled: Sequence[float] = ()
             ) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` head's feature row (the first result) and the ``rest`` head's rows (the others)."""
    s = np.asarray(scores, dtype=np.float64)
    c = np.asarray(recall, dtype=np.float64)
    if not len(s):
        return np.zeros((0, len(TOP_FEATURES))), np.zeros((0, len(REST_FEATURES)))
    best, second = list(recalled)[:2] if len(recalled) >= 2 else recall_summary(c)
    margin = s[0] - s[1] if len(s) > 1 else 0.0
    top = np.array([[s[0], c[0], margin, best - c[0], best - second]])
    rank = np.arange(1, len(s))
    rest = np.column_stack([s[1:], c[1:], s[0] - s[1:], np.log1p(rank), best - c[1:]])
    return top, rest


def stage_scores(kind: str, relevance: np.ndarray, query_tokens: int = 1) -> np.ndarray:
    """A stage's own scores made comparable across queries: MaxSim (``maxsim``, ``colbert``) per query token, a
    cross-encoder's probability as its logit, anything else (a cosine) as it is."""
    r = np.asarray(relevance, dtype=np.float64)
    if kind in ("maxsim", "colbert"):
        return r / max(1, query_tokens)
    if kind == "cross":
        p = np.clip(r, 1e-7, 1 - 1e-7)
        return np.log(p / (1 - p))
    return r


def pipeline_key(recall_model: str | None, stage: str, stage_model: str | None) -> str:
    """``all-MiniLM-L6-v2 > maxsim(all-MiniLM-L6-v2)``: what a calibration holds for (``stage`` ``recall`` for
    recall alone)."""
    last = "recall" if stage == "recall" else f"{stage}({stage_model or '?'})"
    return f"{recall_model or '?'} > {last}"


@functools.cache
def shipped() -> dict[str, Calibration]:
    """The shipped calibrations by :func:`pipeline_key`."""
    if not SHIPPED_FILE.is_file():
        return {}
    data = json.loads(SHIPPED_FILE.read_text(encoding="utf-8"))
    return {c.pipeline: c for c in map(Calibration.from_dict, data.get("calibrations", []))}


def fit_head(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, l2: float = 1e-2,
             prior: np.ndarray | None = None) -> np.ndarray:
    """Weights (then bias) of a logistic regression by Newton's method, L2-pulled towards ``prior`` (zeros)."""
    xb = np.column_stack([x, np.ones(len(x))]).astype(np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    centre = np.zeros(xb.shape[1]) if prior is None else np.asarray(prior, dtype=np.float64)
    b = centre.copy()
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ b, -50, 50)))
        grad = xb.T @ ((p - y) * w) + l2 * (b - centre)
        hess = (xb * (p * (1 - p) * w)[:, None]).T @ xb + l2 * np.eye(len(b))
        step = np.linalg.solve(hess, grad)
        b -= step
        if np.abs(step).max() < 1e-9:
            break
    return b


def expected_calibration_error(probabilities: Sequence[float] | np.ndarray, labels: Sequence[float] | np.ndarray,
                               bins: int = 10) -> float:
    """ECE over ``bins`` equal-width bins: the mean gap between confidence and accuracy, weighted by bin size."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if not len(p):
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[which == b].mean() - y[which == b].mean()) * (which == b).sum()
                     for b in range(bins) if (which == b).any()) / len(p))


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))
