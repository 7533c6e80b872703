"""Bi-encoder recall alone vs two-stage (recall top_k, rerank) on every held-out domain.

    python benchmarks/reranker_quality.py [--queries 200] [--top-k 100] [--model PATH] [--json OUT]

Prints one table row per domain and stage (nDCG@10, MRR@10, Recall@10, Recall@k, ms/query for rerank);
the embedded indexes are cached in .recallrank/eval-index so later runs only pay for reranking.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from recallrank import BiEncoder, CrossEncoderReranker, load_dataset
from recallrank.evaluation.harness import compare

DOMAINS = [("debian-en", "trained (test split)"), ("python-docs", "trained (test split)"),
           ("foldoc", "trained (test split)"), ("wordnet", "held out entirely"), ("debian-zh", "held out entirely")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=200, help="queries per domain (test splits have 500)")
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--split", default="test")
    p.add_argument("--domains", nargs="+", default=[d for d, _ in DOMAINS])
    p.add_argument("--model", default=None, help="reranker path or hub id (default: the shipped one)")
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--bi-only", action="store_true", help="only build the indexes and score the bi-encoder")
    p.add_argument("--index-dir", default=".recallrank/eval-index")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    encoder = BiEncoder(batch_size=64)
    reranker = False if args.bi_only else CrossEncoderReranker(args.model, precision=args.precision)
    role = dict(DOMAINS)
    rows = []
    k = args.top_k
    print(f"{'domain':12} {'role':22} {'stage':17} {'nDCG@10':>8} {'MRR@10':>8} {'R@10':>6} {'R@' + str(k):>6}"
          f" {'rerank ms/q':>11}")
    for name in args.domains:
        t = time.perf_counter()
        res = compare(load_dataset(name, args.split), encoder, reranker, top_k=k, n_queries=args.queries,
                      index_dir=args.index_dir)
        for stage, m in res.metrics.items():
            ms = res.latency["rerank"] * 1000 if stage != "bi" else 0.0
            print(f"{name:12} {role.get(name, 'BEIR'):22} {stage:17} {m['ndcg@10']:8.4f} {m['mrr@10']:8.4f}"
                  f" {m['recall@10']:6.3f} {m[f'recall@{k}']:6.3f} {ms:11.1f}", flush=True)
        if "two_stage" in res.metrics:
            delta = 100 * (res.metrics["two_stage"]["ndcg@10"] - res.metrics["bi"]["ndcg@10"])
            print(f"{'':12} {'':22} {'delta':17} {delta:+8.2f} points nDCG@10, two_stage - bi ({res.queries} queries,"
                  f" {res.documents} docs, {time.perf_counter() - t:.0f}s)", flush=True)
        rows.append({**res.as_dict(), "role": role.get(name, "BEIR")})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": args.model or "shipped", "precision": args.precision,
                                         "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
