"""Fitting and judging calibrated relevance (:mod:`recallrank.rerank.relevance`) on judged queries, through the
pipeline a user runs: the ranked lists a :class:`~recallrank.TwoStageRetriever` returns, their probabilities'
expected calibration error (first result and top 10), the share of questions answered at a threshold, and a
reliability diagram.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.rerank.relevance import Calibration, expected_calibration_error, features, fit_head


@dataclass
class JudgedList:
    """One query's ranked list: the calibration inputs (stage scores, recall similarities, recall summary),
    each result's judgement (1 relevant, 0 not), the probabilities the pipeline gave and its seconds."""

    query: str
    scores: np.ndarray
    recall: np.ndarray
    recalled: list[float]
    labels: np.ndarray
    probabilities: list[float | None]
    seconds: float
    ids: list[str]
    judged: int = 0


def judged_lists(retriever: Any, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]],
                 progress: Callable[[int], object] | None = None,
                 judge: Callable[[Any, Mapping[str, int]], bool] | None = None, **search: Any) -> list[JudgedList]:
    """Run each query through ``retriever`` (``min_probability=0``: every result kept) and judge its results by
    ``qrels`` (a query without qrels is off-topic: every result irrelevant): by document id, or by ``judge(result,
    rels)``."""
    keep = retriever.keep_relevance_inputs
    retriever.keep_relevance_inputs = True
    out = []
    try:
        for qid, query in queries.items():
            response = retriever.search(query, min_probability=0, **search)
            found = response.relevance_inputs
            if found is None or not response.results:
                continue
            rels = qrels.get(qid, {})
            ids = [str(r.document.id) for r in response.results]
            labels = [judge(r, rels) if judge is not None else rels.get(i, 0) > 0
                      for r, i in zip(response.results, ids, strict=True)]
            out.append(JudgedList(query, np.asarray(found[0]), np.asarray(found[1]), list(found[2]),
                                  np.array(labels, dtype=np.float64), [r.probability for r in response.results],
                                  response.timings.get("total", 0.0), ids, sum(v > 0 for v in rels.values())))
            if progress is not None:
                progress(1)
    finally:
        retriever.keep_relevance_inputs = keep
    return out


def fit(pipeline: str, sets: Mapping[str, Sequence[JudgedList]], weights: Mapping[str, float] | None = None,
        source: str = "shipped", prior: Calibration | None = None, l2: float = 1e-2) -> Calibration:
    """A :class:`Calibration` for ``pipeline`` from judged lists by set; each set weighs ``weights[set]`` (default
    1) in all, however many queries it has. ``prior``: pull the weights towards that calibration's (a small
    labelled set refines the shipped one instead of starting from nothing)."""
    heads: dict[str, list[list[np.ndarray]]] = {"top": [[], [], []], "rest": [[], [], []]}
    for name, lists in sets.items():
        if not lists:
            continue
        w = (weights or {}).get(name, 1.0) / len(lists)
        for item in lists:
            top, rest = features(item.scores, item.recall, item.recalled)
            for head, x, y in (("top", top, item.labels[:1]), ("rest", rest, item.labels[1:])):
                heads[head][0].append(x)
                heads[head][1].append(y)
                heads[head][2].append(np.full(len(y), w))
    fitted = {}
    for head, (xs, ys, ws) in heads.items():
        weights_of_rows = np.concatenate(ws)
        centre = np.asarray(getattr(prior, head)) if prior is not None else None
        fitted[head] = tuple(float(v) for v in fit_head(np.concatenate(xs), np.concatenate(ys),
                                                        weights_of_rows * len(weights_of_rows)
                                                        / weights_of_rows.sum(), l2, centre))
    queries = sum(len(v) for v in sets.values())
    return Calibration(pipeline, fitted["top"], fitted["rest"], source, tuple(sets), queries)


def probabilities(calibration: Calibration, lists: Sequence[JudgedList]) -> list[list[float]]:
    return [calibration.probabilities(x.scores, x.recall, x.recalled) for x in lists]


def calibration_report(probs: Sequence[Sequence[float]], lists: Sequence[JudgedList]) -> dict[str, float]:
    """ECE of the first result and of the top 10, the first result's accuracy and mean probability, and Brier
    score of the first result."""
    top_p = np.array([p[0] for p in probs])
    top_y = np.array([x.labels[0] for x in lists])
    all_p = np.concatenate([np.asarray(p[:10]) for p in probs]) if probs else np.zeros(0)
    all_y = np.concatenate([x.labels[:10] for x in lists]) if lists else np.zeros(0)
    return {"queries": len(lists), "ece@1": expected_calibration_error(top_p, top_y),
            "ece@10": expected_calibration_error(all_p, all_y), "accuracy@1": float(top_y.mean()),
            "mean_p@1": float(top_p.mean()), "brier@1": float(np.mean((top_p - top_y) ** 2))}


def answered(probs: Sequence[Sequence[float]], threshold: float) -> float:
    """The share of queries whose best result reaches ``threshold`` (the rest abstain)."""
    return float(np.mean([max(p) >= threshold for p in probs])) if probs else 0.0


def reliability_png(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
                    bins: int = 10) -> Path:
    """A reliability diagram (accuracy per confidence bin against the diagonal), one line per named
    (probabilities, labels) pair, written as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    for name, (p, y) in curves.items():
        p_arr, y_arr = np.asarray(p), np.asarray(y)
        which = np.minimum((p_arr * bins).astype(int), bins - 1)
        xs = [p_arr[which == b].mean() for b in range(bins) if (which == b).sum() >= 3]
        ys = [y_arr[which == b].mean() for b in range(bins) if (which == b).sum() >= 3]
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {expected_calibration_error(p_arr, y_arr):.3f})")
    ax.set_xlabel("probability")
    ax.set_ylabel("fraction relevant")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
