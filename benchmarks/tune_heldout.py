"""``recallrank tune`` on 50 labelled queries of a held-out domain, checked on that domain's other queries.

    python benchmarks/tune_heldout.py [--sets wordnet,faq-en] [--subsets 3]

For each held-out test split and each of ``--subsets`` disjoint sets of 50 labelled queries: index the corpus
fresh, measure the default pipeline on the *other* queries of the split (nDCG@10 with every result kept, ECE of
the first result's probability, abstain rate at the default threshold), run :func:`recallrank.training.tune.tune`
on the 50 (it fits on 30 and checks on 20 of them), store what it keeps, reopen the collection as a front end would
and measure the other queries again. Writes ``benchmarks/results/tune_heldout.md``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from _common import RESULTS, machine

from recallrank import EdgeStore, TwoStageRetriever
from recallrank.datasets import load_dataset
from recallrank.documents import Document
from recallrank.evaluation.calibration import calibration_report, judged_lists
from recallrank.evaluation.metrics import ndcg_at_k
from recallrank.training.inputs import LabelledPair
from recallrank.training.tune import store, tune

INDEX = Path(".recallrank/bench-tune")


def measure(r: TwoStageRetriever, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    lists = judged_lists(r, queries, qrels)
    probs = [[float(p) if p is not None else float("nan") for p in x.probabilities] for x in lists]
    nd = float(np.mean([ndcg_at_k(x.ids, qrels[q], 10) for x, q in zip(lists, queries, strict=True)]))
    out = {"ndcg@10": nd}
    if probs and not np.isnan(probs[0][0]):
        rep = calibration_report(probs, lists)
        threshold = r.min_probability_for()
        out.update({"ece@1": rep["ece@1"], "abstain": float(np.mean([max(p) < threshold for p in probs]))})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", default="wordnet,faq-en")
    p.add_argument("--subsets", type=int, default=3)
    args = p.parse_args(argv)
    lines = ["# `recallrank tune` on 50 labelled queries of a held-out domain", "",
             f"`python benchmarks/tune_heldout.py {' '.join(sys.argv[1:])}`; {machine()}.", "",
             "Each row: tune on 50 labelled queries (30 fit, 20 checked by tune itself), then the default pipeline "
             "before and after on the split's *other* queries (never seen by tune).", "",
             "| set | labels | kept | other queries | nDCG@10 before | after | ECE@1 before | after | abstain before |"
             " after |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in args.sets.split(","):
        ds = load_dataset(name, "test")
        judged = [q for q in ds.queries if q in ds.qrels]
        for k in range(args.subsets):
            labels = judged[k * 50:(k + 1) * 50]
            others = {q: ds.queries[q] for q in judged if q not in labels}
            folder = INDEX / f"{name}-{k}"
            shutil.rmtree(folder, ignore_errors=True)
            r = TwoStageRetriever(EdgeStore(folder, "c"))
            r.add_documents([Document(t, id=i) for i, t in ds.corpus.items()])
            before = measure(r, others, ds.qrels)
            pairs = [LabelledPair(ds.queries[q], positive_id=d) for q in labels for d, g in ds.qrels[q].items()
                     if g > 0]
            report = tune(r, pairs)
            store(r, report)
            after_r = TwoStageRetriever(r.store)  # a front end opening the tuned collection
            after = measure(after_r, others, ds.qrels)
            r.store.close()
            kept = ", ".join(report.kept) or "nothing"
            lines.append(f"| {name} | {k * 50}-{(k + 1) * 50 - 1} | {kept} | {len(others)} | {before['ndcg@10']:.4f} | "
                         f"{after['ndcg@10']:.4f} | {before.get('ece@1', float('nan')):.3f} | "
                         f"{after.get('ece@1', float('nan')):.3f} | {before.get('abstain', 0):.3f} | "
                         f"{after.get('abstain', 0):.3f} |")
            print(lines[-1], report.settings.get("top_k"), report.settings.get("maxsim_fuse"), report.notes,
                  flush=True)
    (RESULTS / "tune_heldout.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
