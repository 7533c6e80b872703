"""``recallrank eval``: measure the pipeline ``search`` runs (the same options, built by the same function) on a
question set: the recall order and the order after each rerank stage, with the model each used and its latency."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from tqdm import tqdm

from recallrank.cli import pipeline
from recallrank.cli.common import cache_dir
from recallrank.cli.options import EVAL, add_options, resolve
from recallrank.datasets import RetrievalSet, load_dataset
from recallrank.errors import InvalidInputError
from recallrank.evaluation.harness import Evaluation, evaluate, plot_sweep
from recallrank.index.embedded import EdgeStore

COLUMNS = (("nDCG@10", "ndcg@10", 8), ("MRR@10", "mrr@10", 8), ("MAP", "map@100", 7), ("R@10", "recall@10", 7))


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    ev = sub.add_parser("eval", parents=[common], help="measure the search pipeline on a question set",
                        description="Index a question set's corpus (once, cached), run every question through the "
                        "pipeline `recallrank search` runs with the same options, and print nDCG@10, MRR@10, MAP, "
                        "Recall@10 and Recall@top_k of the recall order and of the order after each rerank stage, "
                        "with the model each stage used and its mean milliseconds per query.")
    add_options(ev, *EVAL)
    ev.add_argument("--json", action="store_true",
                    help='print one JSON object: {"pipeline": ..., "stages": [{"stage": "recall", "model": ..., '
                    '"ndcg@10": ..., "ms": ...}, ...], "final": {...}, "latency_ms": {...}}')
    ev.add_argument("--sweep", default=None, metavar="K,K,...",
                    help="also run the pipeline at these top_k values, e.g. 10,20,50,100,200 (quality and rerank "
                    "latency)")
    ev.add_argument("--plot", default=None, metavar="PNG", help="draw the sweep to this PNG file")
    ev.add_argument("--per-query", default=None, metavar="JSONL", help="write each query's metrics per stage here")
    ev.add_argument("--cross-only", type=int, default=0, metavar="N",
                    help="also rank the whole corpus with a cross-encoder alone (the pipeline's cross stage, else "
                    "the shipped one for the recall model) on the first N queries (slow)")
    ev.add_argument("--latency-queries", type=int, default=20, metavar="N",
                    help="queries on which the sweep's rerank latency is measured (its median)")


def run(args: argparse.Namespace) -> int:
    resolve(args, EVAL)
    s = args.settings
    sweep = parse_ints(args.sweep, "--sweep") if args.sweep else []
    if args.plot and not sweep:
        raise InvalidInputError("--plot draws the top_k sweep: pass --sweep too, e.g. --sweep 10,20,50,100,200")
    ds = load_dataset(s["dataset"], s["split"])
    if s["queries"] is not None:
        ds = ds.subset(s["queries"])
    store = EdgeStore(cache_dir("eval"), collection_name(ds, s))
    retriever = pipeline.build_retriever(store, s)
    try:
        with tqdm(total=len(ds.corpus), unit="doc", desc="indexing", disable=None if s["progress"] else True,
                  file=sys.stderr) as bar:
            res = evaluate(ds, retriever, sweep=sweep, latency_queries=args.latency_queries,
                           cross_only_queries=args.cross_only, progress=bar.update)
    finally:
        store.close()
    if args.per_query:
        res.write_per_query(args.per_query)
    if args.plot:
        plot_sweep(res, args.plot)
    if args.json:
        print(json.dumps(res.as_dict()))
    else:
        print_table(res)
    return 0


def collection_name(ds: RetrievalSet, s: dict[str, Any]) -> str:
    """The cached index of a question set's corpus: one per corpus, recall model and runtime settings."""
    digest = hashlib.sha1()
    for doc_id, text in ds.corpus.items():
        digest.update(f"{doc_id}\0{text}\0".encode("utf-8", "surrogatepass"))
    digest.update(json.dumps([s["bi_encoder"], s["precision"], os.environ.get("RECALLRANK_BACKEND")]).encode())
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in ds.name).strip(".") or "set"
    return f"{safe}-{digest.hexdigest()[:10]}"


def print_table(res: Evaluation) -> None:
    k = res.top_k
    p = res.pipeline
    stages = " -> ".join(row.stage for row in res.rows[1:]) or "no rerank"
    print(f"{res.dataset}: {res.queries} queries over {res.documents} documents; recall top_k={k} with "
          f"{p['bi_encoder']}, then {stages} (what `recallrank search` runs with these options)")
    models = [res.rows[0].model] + [_model(st) for st in p["stages"]]
    rows = [*zip(res.rows, models, strict=True)]
    if res.cross_only is not None:
        rows.append((res.cross_only, res.cross_only.model))
    stage_w = max(len("stage"), *(len(row.stage) for row, _ in rows))
    model_w = max(len("model"), *(len(m) for _, m in rows))
    head = "".join(f"{title:>{w}}" for title, _, w in COLUMNS)
    print(f"{'stage':{stage_w}}  {'model':{model_w}}{head}{'R@' + str(k):>8}{'ms/query':>10}")
    for row, model in rows:
        cells = "".join(f"{row.metrics.get(key, float('nan')):{w}.4f}" for _, key, w in COLUMNS)
        print(f"{row.stage:{stage_w}}  {model:{model_w}}{cells}{row.metrics.get(f'recall@{k}', float('nan')):8.3f}"
              f"{row.ms:10.1f}")
    t = res.latency_ms
    print(f"total {t.get('total', 0):.1f} ms/query (embed {t.get('embed', 0):.1f}, recall {t.get('recall', 0):.1f}, "
          f"rerank {t.get('rerank', 0):.1f}); `search` returns the top_n of the {res.final.stage} order")
    if res.cross_only is not None:
        print(f"cross_only ranks all {res.documents} documents on the first {res.cross_only_queries} queries only "
              "(--json compares every row on those queries)")
    if res.sweep:
        print(f"\n{'top_k':>6} {'R@top_k':>8} {'recall nDCG@10':>15} {'pipeline nDCG@10':>17} {'rerank ms':>10} "
              f"{'total ms':>9}")
        for r in res.sweep:
            print(f"{r['top_k']:6d} {r['recall@k']:8.3f} {r['bi_ndcg@10']:15.4f} {r['two_stage_ndcg@10']:17.4f} "
                  f"{r['rerank_ms']:10.1f} {r['total_ms']:9.1f}")


def _model(stage: dict[str, Any]) -> str:
    return stage["model"] + (", fused with recall" if stage.get("fusion") else "")


def parse_ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidInputError(f"{flag} {text!r}: write positive integers separated by commas, e.g. 10,50,100") \
            from exc
    if not values or min(values) < 1:
        raise InvalidInputError(f"{flag} {text!r}: write positive integers separated by commas, e.g. 10,50,100")
    return values
