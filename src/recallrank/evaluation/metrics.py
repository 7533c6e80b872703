"""Ranking metrics over qrels with graded relevance (grade > 0 is relevant), as in BEIR / pytrec_eval."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]  # query id -> ranked document ids, best first


def ndcg_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with gain = grade (linear, as trec_eval's ndcg_cut)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in rels.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def average_precision(ranked: Sequence[str], rels: Mapping[str, int], k: int | None = None) -> float:
    relevant = {d for d, g in rels.items() if g > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked[:k] if k else ranked):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant)


def query_metrics(ranked: Sequence[str], rels: Mapping[str, int], ks: Sequence[int] = (10, 100),
                  at: Sequence[int] = (10,)) -> dict[str, float]:
    """One query's ``ndcg@a``, ``mrr@a`` (for each a in ``at``), ``map@100`` and ``recall@k`` (each k in ``ks``)."""
    out: dict[str, float] = {}
    for a in at:
        out[f"ndcg@{a}"] = ndcg_at_k(ranked, rels, a)
        out[f"mrr@{a}"] = mrr_at_k(ranked, rels, a)
    out["map@100"] = average_precision(ranked, rels, 100)
    for k in ks:
        out[f"recall@{k}"] = recall_at_k(ranked, rels, k)
    return out


def per_query(run: Run, qrels: Qrels, ks: Sequence[int] = (10, 100), at: Sequence[int] = (10,),
              ) -> dict[str, dict[str, float]]:
    """:func:`query_metrics` of every query in ``qrels`` that has a relevant document (a missing run scores 0)."""
    return {q: query_metrics(list(run.get(q, ())), rels, ks, at)
            for q, rels in qrels.items() if any(g > 0 for g in rels.values())}


def evaluate_run(run: Run, qrels: Qrels, ks: Sequence[int] = (10, 100), at: Sequence[int] = (10,)) -> dict[str, float]:
    """Mean metrics over the queries of ``qrels`` that have a relevant document (missing runs score 0).

    Keys: ``ndcg@a`` and ``mrr@a`` for each a in ``at``, ``map@100``, and ``recall@k`` for each k in ``ks``.
    """
    rows = per_query(run, qrels, ks, at)
    if not rows:
        raise ValueError("no query in qrels has a relevant document")
    return mean_metrics(rows.values())


def mean_metrics(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    rows = list(rows)
    return {name: sum(r[name] for r in rows) / len(rows) for name in rows[0]} if rows else {}


def write_per_query(path: str | Path, per_query: dict[str, dict[str, dict[str, float]]],
                    runs: dict[str, dict[str, list[str]]]) -> Path:
    """One JSON line per (stage, query): its metrics and the top-10 document ids of ``runs``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for stage, rows in per_query.items():
            for qid, metrics in rows.items():
                fh.write(json.dumps({"stage": stage, "query_id": qid, **metrics,
                                     "top10": runs[stage].get(qid, [])[:10]}) + "\n")
    return path
