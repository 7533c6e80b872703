"""Fit the rerank + recall fusion shipped with a reranker, on the *dev* splits of the training domains.

``python -m recallrank.training.calibrate MODEL_DIR`` recalls top_k with the default bi-encoder for each dev
query, scores the candidates with the cross-encoder, then

1. picks the recall weight ``lam`` (score = logit + lam * cosine) that maximises mean dev nDCG@10 over the
   training domains (a grid, so the choice is about ranking, not only likelihood), and
2. fits scale and bias of ``sigmoid(a * (logit + lam * cosine) + b)`` by logistic regression, so the fused
   score is a calibrated probability.

The result is written to ``MODEL_DIR/recallrank_fusion.json``. Test splits and held-out domains are never read.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from recallrank.datasets import load_dataset
from recallrank.datasets.build import TRAIN_DOMAINS
from recallrank.encoders.bi_encoder import BiEncoder
from recallrank.encoders.cross_encoder import CrossEncoderReranker
from recallrank.encoders.fusion import ScoreFusion
from recallrank.evaluation.harness import compare
from recallrank.evaluation.metrics import ndcg_at_k

LAMBDAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0)


def collect_dev(model: str, queries: int, top_k: int, index_dir: str) -> dict[str, list[Any]]:
    rr = CrossEncoderReranker(model, precision="bf16", fusion=None)
    out: dict[str, list[Any]] = {}
    for domain in TRAIN_DOMAINS:
        ds = load_dataset(domain, "dev")
        rows: list[Any] = []
        compare(ds, BiEncoder(batch_size=64), rr, top_k=top_k, n_queries=queries, index_dir=index_dir, collect=rows)
        out[domain] = [(ids, logits, cos, ds.qrels[qid]) for qid, ids, logits, cos in rows]
    return out


def choose(data: dict[str, list[Any]]) -> tuple[ScoreFusion, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, float]] = {}
    for lam in LAMBDAS:
        table[str(lam)] = {
            domain: float(np.mean([ndcg_at_k([ids[i] for i in np.argsort(-(lg + lam * cs), kind="stable")],
                                             rels, 10) for ids, lg, cs, rels in rows]))
            for domain, rows in data.items()}
    best = max(LAMBDAS, key=lambda lam: np.mean(list(table[str(lam)].values())))
    feats = np.concatenate([lg + best * cs for rows in data.values() for _, lg, cs, _ in rows])
    labels = np.concatenate([[float(rels.get(i, 0) > 0) for i in ids] for rows in data.values()
                             for ids, _, _, rels in rows])
    scale = ScoreFusion.fit(feats, np.zeros_like(feats), labels)
    return ScoreFusion(w_rerank=scale.w_rerank, w_recall=scale.w_rerank * best, bias=scale.bias), table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="reranker folder; the fusion file is written into it")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--index-dir", default=".recallrank/eval-index")
    args = p.parse_args(argv)
    data = collect_dev(args.model, args.queries, args.top_k, args.index_dir)
    fusion, table = choose(data)
    print(f"{'lambda':>7} " + " ".join(f"{d:>12}" for d in TRAIN_DOMAINS) + f" {'mean':>8}")
    for lam, row in table.items():
        mean = np.mean(list(row.values()))
        print(f"{lam:>7} " + " ".join(f"{row[d]:12.4f}" for d in TRAIN_DOMAINS) + f" {mean:8.4f}")
    fusion.save(args.model)
    print(json.dumps(fusion.__dict__))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
