"""``recallrank mine``: hard negatives for labelled queries from an index's own recall (the index is only read)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recallrank.cascade import cross_encoder
from recallrank.cli import pipeline
from recallrank.cli.common import require_collection, settings_store, where
from recallrank.cli.options import MINE, add_options, resolve
from recallrank.errors import InvalidInputError
from recallrank.retrieval.pipeline import TwoStageRetriever
from recallrank.training.inputs import read_pairs
from recallrank.training.mine import check_out, mine, write_jsonl


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("mine", parents=[common], help="hard negatives for labelled queries from an index",
                       description="For each labelled pair (JSONL: query, positive or positive_id, optional "
                       "negatives and score), recall the index's top --depth and keep up to --negatives "
                       "candidates that are not the positive and score at least --margin below it (likely "
                       "unlabelled relevant documents are skipped). Writes JSONL; the index is only read.")
    p.add_argument("pairs", help="JSONL file of labelled pairs")
    p.add_argument("--out", required=True, help="JSONL file to write (written whole or not at all)")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists (else refused)")
    p.add_argument("--negatives", type=int, default=5, help="negatives per query (default 5)")
    p.add_argument("--depth", type=int, default=30, help="candidates recalled per query (default 30)")
    p.add_argument("--margin", type=float, default=0.05,
                   help="skip candidates scoring within this of the positive (default 0.05)")
    p.add_argument("--ratio", type=float, default=None,
                   help="also skip candidates scoring above RATIO x the positive's score")
    p.add_argument("--teacher", default=None, metavar="RERANKER",
                   help="judge candidates with this cross-encoder ('shipped', 'bilingual', a folder or hub id) "
                   "instead of the bi-encoder")
    add_options(p, *MINE)


def run(args: argparse.Namespace) -> int:
    """Hard negatives for labelled pairs from the index's own recall, written as JSONL (the index is only read)."""
    resolve(args, MINE)
    s = args.settings
    pairs = read_pairs(args.pairs)  # every line checked before any model loads
    if Path(args.out).resolve() == Path(args.pairs).resolve():
        raise InvalidInputError(f"--out {args.out} is the pairs file itself; write the negatives elsewhere")
    check_out(args.out, args.overwrite)
    store = settings_store(s)
    retriever = TwoStageRetriever(store, pipeline.recall_encoder(s["bi_encoder"], s["precision"]), False)
    require_collection(store, s)
    teacher = cross_encoder(None if args.teacher == "shipped" else args.teacher, s["precision"]) \
        if args.teacher else None
    n = write_jsonl(mine(retriever, pairs, negatives=args.negatives, depth=args.depth, margin=args.margin,
                         ratio=args.ratio, reranker=teacher), args.out, overwrite=args.overwrite)
    print(f"{n} queries mined from {where(s)} -> {args.out}")
    return 0
