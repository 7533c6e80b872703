"""The ``recallrank`` command line (this release: ``train reranker`` and ``eval``; more come in the next)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from recallrank.errors import RecallrankError


def _eval(args: argparse.Namespace) -> int:
    from recallrank import BiEncoder, CrossEncoderReranker, load_dataset
    from recallrank.evaluation.harness import compare

    ds = load_dataset(args.dataset, args.split)
    reranker = CrossEncoderReranker(args.reranker, precision=args.precision)
    res = compare(ds, BiEncoder(args.bi_encoder), reranker, top_k=args.top_k, n_queries=args.queries)
    if args.json:
        print(json.dumps({**res.metrics, "queries": res.queries, "documents": res.documents, "top_k": res.top_k,
                          "latency_s": res.latency}))
        return 0
    k = args.top_k
    print(f"{ds.name}: {res.queries} queries over {res.documents} documents, top_k={k}")
    print(f"{'stage':10} {'nDCG@10':>8} {'MRR@10':>8} {'R@10':>7} {'R@' + str(k):>7}")
    for stage, m in res.metrics.items():
        print(f"{stage:10} {m['ndcg@10']:8.4f} {m['mrr@10']:8.4f} {m['recall@10']:7.3f} {m[f'recall@{k}']:7.3f}")
    print("mean seconds per query: " + ", ".join(f"{s} {v:.4f}" for s, v in res.latency.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recallrank", description="Two-stage retrieval: recall from Qdrant, "
                                     "rerank with a cross-encoder.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    train.add_parser("reranker", help="train the default cross-encoder reranker", add_help=False)
    ev = sub.add_parser("eval", help="bi-encoder alone vs two-stage on a dataset")
    ev.add_argument("--dataset", default="debian-en", help="debian-en, debian-zh, python-docs, foldoc, wordnet or a "
                    "BEIR folder")
    ev.add_argument("--split", default="test")
    ev.add_argument("--queries", type=int, default=None)
    ev.add_argument("--top-k", type=int, default=100)
    ev.add_argument("--bi-encoder", default=None)
    ev.add_argument("--reranker", default=None)
    ev.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if argv[:2] == ["train", "reranker"]:
        from recallrank.training.reranker import main as train_main

        return train_main(argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return _eval(args)
    except RecallrankError as exc:
        if args.debug:
            raise
        print(f"recallrank: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
