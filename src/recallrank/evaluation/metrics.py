"""Ranking metrics over qrels with graded relevance (grade > 0 is relevant), as in BEIR / pytrec_eval."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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


def evaluate_run(run: Run, qrels: Qrels, ks: Sequence[int] = (10, 100)) -> dict[str, float]:
    """Mean metrics over the queries of ``qrels`` that have a relevant document (missing runs score 0).

    Keys: ``ndcg@10``, ``mrr@10``, ``map@100`` and ``recall@k`` for each k in ``ks``.
    """
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    if not judged:
        raise ValueError("no query in qrels has a relevant document")
    sums: dict[str, float] = {"ndcg@10": 0.0, "mrr@10": 0.0, "map@100": 0.0, **{f"recall@{k}": 0.0 for k in ks}}
    for q in judged:
        ranked, rels = list(run.get(q, ())), qrels[q]
        sums["ndcg@10"] += ndcg_at_k(ranked, rels, 10)
        sums["mrr@10"] += mrr_at_k(ranked, rels, 10)
        sums["map@100"] += average_precision(ranked, rels, 100)
        for k in ks:
            sums[f"recall@{k}"] += recall_at_k(ranked, rels, k)
    return {name: value / len(judged) for name, value in sums.items()}


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    out = {}
    for q, rels in qrels.items():
        ranked = list(run.get(q, ()))
        out[q] = {"ndcg@10": ndcg_at_k(ranked, rels, 10), "mrr@10": mrr_at_k(ranked, rels, 10)}
    return out
