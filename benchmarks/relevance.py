"""Calibrated relevance on held-out sets, through the public API (``TwoStageRetriever.search``).

    python benchmarks/relevance.py [--sets faq-en,debian-en,python-docs,foldoc,wordnet] [--budget]

For each pipeline (the default, MiniLM + zero-shot MaxSim; and MiniLM recall alone) and each held-out *test* split
(never read by the calibration recipe, which fits on dev splits; ``wordnet`` is a whole domain kept out of
training): expected calibration error of the first result's ``probability`` and of the top 10 (10 equal-width
bins), its accuracy and mean probability, and the ECE a perfectly calibrated model would still show on that many
queries (sampling noise). Then the off-topic trade-off: other sets' test questions asked of the FAQ corpus, the
share that abstain and the share of answerable FAQ questions answered, at the default threshold and around it; and
nDCG@10 with the default threshold against none (default quality). ``--budget`` adds quality against p50/p95 for
the cascade ``maxsim:30,cross`` under latency budgets and ``confident_recall``. Writes
``benchmarks/results/relevance.md`` and the reliability diagram ``relevance_reliability.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, machine, p50, percentile

from recallrank import EdgeStore, TwoStageRetriever
from recallrank.datasets import load_dataset
from recallrank.documents import Document
from recallrank.evaluation.calibration import JudgedList, answered, calibration_report, judged_lists, reliability_png
from recallrank.evaluation.metrics import ndcg_at_k
from recallrank.rerank.relevance import DEFAULT_MIN_PROBABILITY, auto_threshold, expected_calibration_error, shipped

INDEX = Path(".recallrank/bench-relevance")
OFF_TOPIC = ("wordnet", "foldoc", "python-docs", "debian-en")
THRESHOLDS = (0.1, DEFAULT_MIN_PROBABILITY, 0.2, 0.25, 0.3, 0.35)
_OPEN: dict[str, TwoStageRetriever] = {}


def retriever(corpus: str, **kwargs: Any) -> TwoStageRetriever:
    if corpus not in _OPEN:
        ds = load_dataset(corpus, "test")
        r = TwoStageRetriever(EdgeStore(INDEX, corpus.replace("-", "_")))
        r.add_documents([Document(t, id=i) for i, t in ds.corpus.items()])
        _OPEN[corpus] = r
    r = _OPEN[corpus]
    for key, value in kwargs.items():
        setattr(r, key, value)
    return r


def noise_floor(probs: np.ndarray, runs: int = 300) -> float:
    rng = np.random.default_rng(0)
    return float(np.mean([expected_calibration_error(probs, (rng.random(len(probs)) < probs).astype(float))
                          for _ in range(runs)]))


def judged(corpus: str, questions: str | None = None, n: int | None = None, **search: Any) -> list[JudgedList]:
    qs = load_dataset(questions or corpus, "test")
    queries = {q: t for q, t in qs.queries.items() if questions is not None or q in qs.qrels}
    queries = dict(list(queries.items())[:n]) if n else queries
    return judged_lists(retriever(corpus), queries, qs.qrels if questions is None else {}, **search)


def ndcg_answered(lists: list[JudgedList], threshold: float) -> float:
    """nDCG@10 of the lists as returned: a list whose best probability is under ``threshold`` is empty."""
    return float(np.mean([ndcg([x], None) if max(x.probabilities) >= threshold else 0.0 for x in lists]))


def ndcg(lists: list[JudgedList], cut: float | None) -> float:
    scores = []
    for x in lists:
        keep = [i for i, p in enumerate(x.probabilities) if cut is None or (p is not None and p >= cut)]
        run = [str(i) for i in keep]
        scores.append(ndcg_at_k(run, {str(i): 1 for i, y in enumerate(x.labels) if y > 0}
                                | {f"m{i}": 1 for i in range(max(0, x.judged - int(x.labels.sum())))}, 10))
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", default="faq-en,debian-en,python-docs,foldoc,wordnet")
    p.add_argument("--budget", action="store_true")
    p.add_argument("--budget-only", action="store_true", help="only the budget table (appended to relevance.md)")
    p.add_argument("--queries", type=int, default=None, help="at most this many questions per set")
    args = p.parse_args(argv)
    if args.budget_only:
        rows = [f"`python benchmarks/relevance.py --budget-only`; {machine()}, nothing else running.", "",
                *budget_table(args.queries)]
        with (RESULTS / "relevance.md").open("a") as fh:
            fh.write("\n".join(rows) + "\n")
        print("\n".join(rows))
        return 0
    lines = ["# Calibrated relevance on held-out test splits", "",
             f"`python benchmarks/relevance.py {' '.join(sys.argv[1:])}`; {machine()}.", "",
             "Each result's `probability` as `TwoStageRetriever.search` gives it (shipped calibrations, fitted on dev "
             "splits by `recipes/calibrate_relevance.py`). ECE: 10 equal-width bins; *noise* is the ECE a perfectly "
             "calibrated model would show on that many queries with these probabilities.", ""]
    curves: dict[str, tuple[list[float], list[float]]] = {}
    pipelines = ((True, "default: MiniLM + zero-shot MaxSim", "all-MiniLM-L6-v2 > maxsim(zero-shot:all-MiniLM-L6-v2)"),
                 (False, "MiniLM recall alone", "all-MiniLM-L6-v2 > recall"))
    for rerank, label, key in pipelines:
        auto = auto_threshold(shipped()[key])
        lines += [f"## {label}", "", f"`min_probability=\"auto\"` is {auto} for this pipeline (chosen on dev).", "",
                  "| set | queries | ECE@1 | noise@1 | ECE@10 | accuracy@1 | mean p@1 | Brier@1 |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in args.sets.split(","):
            lists = judged(name, n=args.queries, rerank=rerank)
            row, top = calibration_row(name, lists)
            lines.append(row + " |")
            if rerank and name in ("faq-en", "wordnet", "debian-en"):
                curves[f"{name} top-1"] = (list(top), [float(x.labels[0]) for x in lists])
            print(lines[-1], flush=True)
        lines.append("")
        faq = judged("faq-en", n=args.queries, rerank=rerank)
        faq_probs = [[float(v) for v in x.probabilities] for x in faq]
        lines += [f"Off-topic questions asked of the FAQ corpus ({label}): share abstaining at each threshold "
                  "(answerable FAQ questions: share answered).", "",
                  "| questions | " + " | ".join(f"{t:.2f}" for t in THRESHOLDS) + " |",
                  "|---|" + "---|" * len(THRESHOLDS)]
        lines.append("| faq-en (answerable), answered | " + " | ".join(f"{answered(faq_probs, t):.3f}"
                                                                      for t in THRESHOLDS) + " |")
        for other in OFF_TOPIC:
            off = judged("faq-en", other, n=args.queries or 254, rerank=rerank)
            off_probs = [[float(v) for v in x.probabilities] for x in off]
            lines.append(f"| {other} -> faq-en ({len(off)}), abstained | "
                         + " | ".join(f"{1 - answered(off_probs, t):.3f}" for t in THRESHOLDS) + " |")
            print(lines[-1], flush=True)
        lines += ["", f"nDCG@10 on faq-en: the ranking {ndcg(faq, None):.4f} (unchanged: calibration reorders "
                  f"nothing); as returned at the auto threshold, abstentions counted as empty lists, "
                  f"{ndcg_answered(faq, auto):.4f}", ""]
    lines += chinese(args.queries)
    png = reliability_png(curves, RESULTS / "relevance_reliability.png")
    lines += [f"Reliability diagram (default pipeline, first result): `{png.relative_to(RESULTS.parent.parent)}`", ""]
    if args.budget:
        lines += budget_table(args.queries)
    (RESULTS / "relevance.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def calibration_row(name: str, lists: list[JudgedList]) -> tuple[str, np.ndarray]:
    """A table row (without its closing bar) of one set's calibration figures, and the first results'
    probabilities."""
    probs = [[float(v) for v in x.probabilities] for x in lists]
    rep = calibration_report(probs, lists)
    top = np.array([q[0] for q in probs])
    return (f"| {name} | {rep['queries']} | {rep['ece@1']:.3f} | {noise_floor(top):.3f} | {rep['ece@10']:.3f} | "
            f"{rep['accuracy@1']:.3f} | {rep['mean_p@1']:.3f} | {rep['brier@1']:.3f}"), top


def chinese(n: int | None) -> list[str]:
    """The default for Chinese collections (multilingual-e5-small recall alone) on held-out Chinese sets."""
    key = "multilingual-e5-small > recall"
    auto = auto_threshold(shipped()[key])
    rows = ["## Chinese: multilingual-e5-small recall alone (the default for a Chinese collection)", "",
            f"`min_probability=\"auto\"` is {auto} for this pipeline (chosen on dev).", "",
            "| set | queries | ECE@1 | noise@1 | ECE@10 | accuracy@1 | mean p@1 | Brier@1 | answered at auto |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in ("debian-zh", "gnome-help-zh"):
        lists = judged(name, n=n)
        row, _ = calibration_row(name, lists)
        rows.append(f"{row} | {answered([[float(v) for v in x.probabilities] for x in lists], auto):.3f} |")
        print(rows[-1], flush=True)
    for questions, corpus in (("wordnet", "debian-zh"), ("faq-en", "gnome-help-zh")):
        off = judged(corpus, questions, n=n or 254)
        probs = [[float(v) for v in x.probabilities] for x in off]
        abstained = 1 - answered(probs, auto)
        rows.append(f"| {questions} -> {corpus} (off-topic) | {len(off)} | | | | | | | abstained {abstained:.3f} |")
        print(rows[-1], flush=True)
    return [*rows, ""]


def budget_table(n: int | None) -> list[str]:
    from recallrank.retrieval.cascade import parse_stages

    ds = load_dataset("faq-en", "test")
    base = retriever("faq-en")
    cascade = TwoStageRetriever(base.store, base.encoder, stages=parse_stages("maxsim:30,cross"))
    queries = {q: t for q, t in ds.queries.items() if q in ds.qrels}
    queries = dict(list(queries.items())[:n]) if n else queries
    cascade.search(next(iter(queries.values())))  # load the cross-encoder and measure each stage once
    rows = ["## Budgeted rerank: `maxsim:30,cross` on faq-en test", "",
            "| setting | nDCG@10 | p50 ms | p95 ms | queries cut |", "|---|---|---|---|---|"]
    settings: list[tuple[str, TwoStageRetriever, dict[str, float]]] = [
        ("no budget", cascade, {}), ("budget 300 ms", cascade, {"latency_budget": 0.3}),
        ("budget 100 ms", cascade, {"latency_budget": 0.1}), ("budget 30 ms", cascade, {"latency_budget": 0.03})]
    settings += [(f"confident_recall {t}", TwoStageRetriever(base.store, base.encoder, confident_recall=t,
                                                             stages=cascade.stages), {})  # the same loaded models
                 for t in (0.9, 0.8)]
    for label, pipeline, kwargs in settings:
        ms, nd, cut = [], [], 0
        for qid, text in queries.items():
            r = pipeline.search(text, min_probability=0, **kwargs)
            ms.append(r.timings["total"] * 1000)
            cut += bool(r.skipped)
            nd.append(ndcg_at_k([str(x.document.id) for x in r.results], ds.qrels[qid], 10))
        rows.append(f"| {label} | {np.mean(nd):.4f} | {p50(ms):.0f} | {percentile(ms, 95):.0f} | {cut} |")
        print(rows[-1], flush=True)
    return [*rows, ""]


if __name__ == "__main__":
    raise SystemExit(main())
