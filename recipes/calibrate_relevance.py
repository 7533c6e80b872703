"""Fit the calibrations shipped in ``src/recallrank/rerank/relevance.json``, on *dev* splits only.

``python -m recipes.calibrate_relevance [--pipelines minilm-maxsim minilm-recall e5-recall]``: for each pipeline,
index each dev corpus, run the dev questions through the pipeline exactly as ``search`` does (top_k 100, top_n 10)
and judge its results; also ask each dev set's questions of another dev set's corpus (off-topic: every result
irrelevant), so that a question with no answer in the collection gets a low probability. Then fit the two logistic
heads (:mod:`recallrank.rerank.relevance`), each set weighing the same in all, except the one natural-language
question set (``faq-en/dev``; ``headings-zh/dev`` for e5), which weighs as much as the keyword-style sets together:
RAG users ask questions. Test splits and held-out domains (wordnet, debian-zh, gnome-help-zh) are never read.

It prints, per pipeline, the dev ECE, the share of answerable dev questions answered and of off-topic ones abstaining
at each threshold, and the threshold with the best mean of the two, answered counted on the natural-language
question set (``DEFAULT_MIN_PROBABILITY`` is the default pipeline's: 0.15).
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from recallrank import EdgeStore, TwoStageRetriever
from recallrank.datasets import load_dataset
from recallrank.documents import Document
from recallrank.evaluation.calibration import JudgedList, answered, calibration_report, fit, judged_lists, probabilities
from recallrank.models.registry import bi_encoder
from recallrank.rerank.relevance import SHIPPED_FILE, pipeline_key

#: pipeline -> (recall model, rerank?, on-topic dev sets with their weights, off-topic (questions, corpus) pairs)
PIPELINES: dict[str, tuple[str, bool, dict[str, float], list[tuple[str, str]]]] = {
    "minilm-maxsim": ("all-MiniLM-L6-v2", True, {"faq-en": 3.0, "debian-en": 1.0, "python-docs": 1.0, "foldoc": 1.0},
                      [("debian-en", "faq-en"), ("python-docs", "faq-en"), ("foldoc", "debian-en"),
                       ("faq-en", "python-docs")]),
    "minilm-recall": ("all-MiniLM-L6-v2", False, {"faq-en": 3.0, "debian-en": 1.0, "python-docs": 1.0, "foldoc": 1.0},
                      [("debian-en", "faq-en"), ("python-docs", "faq-en"), ("foldoc", "debian-en"),
                       ("faq-en", "python-docs")]),
    "e5-recall": ("multilingual-e5-small", False, {"headings-zh": 2.0, "keywords-zh": 1.0, "faq-en": 1.0},
                  [("faq-en", "headings-zh"), ("debian-en", "keywords-zh"), ("keywords-zh", "faq-en")]),
}
THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 11)]


_OPEN: dict[tuple[str, str], TwoStageRetriever] = {}


def retriever_for(model: str, corpus: str, index_dir: str) -> TwoStageRetriever:
    """One retriever per (model, corpus), with the default stages: an embedded store is opened once per
    process (recall alone is ``search(rerank=False)``)."""
    if (model, corpus) in _OPEN:
        return _OPEN[model, corpus]
    ds = load_dataset(corpus, "dev")
    store = EdgeStore(index_dir, f"{corpus}_dev_{model}".replace("-", "_"))
    encoder = bi_encoder(model)
    r = TwoStageRetriever(store, encoder)
    r.add_documents([Document(t, id=i) for i, t in ds.corpus.items()])
    _OPEN[model, corpus] = r
    return r


def collect(name: str, index_dir: str, cache: Path) -> tuple[str, dict[str, list[JudgedList]]]:
    path = cache / f"{name}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]
    model, rerank, on, off = PIPELINES[name]
    sets: dict[str, list[JudgedList]] = {}
    key = ""
    for corpus in on:
        ds = load_dataset(corpus, "dev")
        r = retriever_for(model, corpus, index_dir)
        sets[corpus] = judged_lists(r, {q: t for q, t in ds.queries.items() if q in ds.qrels}, ds.qrels,
                                    rerank=rerank)
        key = _key(r, rerank)
    for questions, corpus in off:
        qs = load_dataset(questions, "dev")
        r = retriever_for(model, corpus, index_dir)
        sets[f"{questions}->{corpus}"] = judged_lists(r, dict(list(qs.queries.items())[:200]), {}, rerank=rerank)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((key, sets)))
    return key, sets


def _key(r: TwoStageRetriever, rerank: bool) -> str:
    from recallrank.models.identity import registry_name, short_name
    from recallrank.retrieval.stages import st_config

    if not rerank or not r.stages:
        return pipeline_key(registry_name(r.encoder), "recall", None)
    st = r.stages[-1]
    return pipeline_key(registry_name(r.encoder), st.name, short_name(st_config(st.reranker).get("model")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=sorted(PIPELINES))
    p.add_argument("--index-dir", default=".recallrank/calibration-index")
    p.add_argument("--cache", type=Path, default=Path(".recallrank/calibration-lists"))
    p.add_argument("--out", type=Path, default=SHIPPED_FILE)
    args = p.parse_args(argv)
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {"calibrations": []}
    kept = {c["pipeline"]: c for c in existing["calibrations"]}
    for name in args.pipelines:
        key, sets = collect(name, args.index_dir, args.cache)
        weights: dict[str, Any] = {**PIPELINES[name][2]}
        calibration = fit(key, sets, weights)
        print(f"== {name}: {key}")
        for set_name, lists in sets.items():
            probs = probabilities(calibration, lists)
            report = calibration_report(probs, lists)
            print(f"  {set_name:28} " + " ".join(f"{k} {v:.3f}" for k, v in report.items() if k != "queries")
                  + f" (n={report['queries']})")
        questions = next(iter(PIPELINES[name][2]))  # the natural-language question set comes first
        on = probabilities(calibration, sets[questions])
        offs = [probabilities(calibration, lists) for s, lists in sets.items() if "->" in s]
        rows = [(t, answered(on, t), float(np.mean([1 - answered(off, t) for off in offs]))) for t in THRESHOLDS]
        print(f"  threshold: answered {questions} / abstained off-topic (mean over sets): "
              + ", ".join(f"{t}: {a:.3f}/{b:.3f}" for t, a, b in rows))
        best = max(rows, key=lambda row: row[1] + row[2])[0]
        print(f"  best mean of the two: {best}")
        kept[key] = {**calibration.as_dict(), "dev_threshold": best}
    args.out.write_text(json.dumps({"calibrations": list(kept.values())}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
