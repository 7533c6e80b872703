"""``recallrank tune LABELS``: fit recall depth, the MaxSim recall weight, the calibration and a threshold on ~50
labelled queries of a collection; print before/after on a held-out part; store what does not make it worse."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from recallrank.cli import pipeline
from recallrank.cli.common import require_collection
from recallrank.cli.options import TUNE, add_options, resolve
from recallrank.training.tune import MIN_QUERIES, TuneReport, read_labels, store, tune


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tune", parents=[common], help="fit the pipeline's open settings on labelled queries",
                       description="From labelled queries of the collection (JSONL lines {query, positive | "
                       "positive_id}, as train and mine read them, or a BEIR folder), fit the recall depth (top_k), "
                       "the default MaxSim stage's recall weight, the calibration of `probability` and, with "
                       "--target-precision, the min_probability that reaches it. About 40 % of the queries are held "
                       "out: the before/after table is measured on them, and a setting is stored with the collection "
                       f"only if it does not make them worse (at least {MIN_QUERIES} queries). The pipeline options "
                       "say which pipeline is tuned, as `search` takes them.")
    p.add_argument("labels", metavar="LABELS", help="JSONL file of labelled pairs, or a BEIR folder")
    p.add_argument("--split", default="test", help="the BEIR folder's qrels split (default test)")
    p.add_argument("--target-precision", type=float, default=None, metavar="P",
                   help="choose min_probability so that, on the fit part, the first result of every query answered "
                   "(not abstained) is relevant this often (default: keep the default threshold, 0.15)")
    p.add_argument("--dry-run", action="store_true", help="print the table, store nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_options(p, *TUNE)


def run(args: argparse.Namespace) -> int:
    resolve(args, TUNE)
    s = args.settings
    labels = read_labels(args.labels, split=args.split)  # every line checked before any model loads
    retriever = pipeline.open_retriever(s)
    require_collection(retriever.store, s)
    retriever.store.open()
    pipeline.warm_up(retriever)
    report = tune(retriever, labels, target_precision=args.target_precision)
    written = False if args.dry_run else store(retriever, report)
    if args.json:
        print(json.dumps({**report.as_dict(), "pipeline": retriever.calibration_key(), "written": written},
                         ensure_ascii=False))
    else:
        print_report(report, retriever.calibration_key(), written, args.dry_run)
    return 0


def print_report(report: TuneReport, key: str | None, written: bool, dry_run: bool) -> None:
    print(f"{report.queries} labelled queries: {report.fit_queries} to fit, {report.held_queries} held out; "
          f"pipeline {key}")
    print(f"{'held out':10} {'nDCG@10':>8} {'ECE@1':>7} {'Brier@1':>8} {'Brier@10':>9} {'abstain':>8} {'p50 ms':>7}")
    for name, part in (("before", report.before), ("after", report.after)):
        print(f"{name:10} {part.ndcg10:8.4f} {_num(part.ece1):>7} {_num(part.brier1):>8} {_num(part.brier10):>9} "
              f"{part.abstain:8.1%} "
              f"{part.p50_ms:7.1f}")
    for note in report.notes:
        print(f"  {note}")
    chosen = {k: v for k, v in report.settings.items() if k in ("top_k", "maxsim_fuse")}
    if "calibration" in report.settings:
        chosen["min_probability"] = report.settings["calibration"]["min_probability"]
    if not report.kept:
        print("nothing stored: no setting improved the held-out part (the collection is unchanged)")
    elif dry_run:
        print(f"--dry-run: would store {', '.join(report.kept)} {chosen}")
    elif written:
        print(f"stored with the collection: {', '.join(report.kept)} {chosen}; every front end now uses it")


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.4f}"



