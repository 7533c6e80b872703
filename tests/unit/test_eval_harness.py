"""The evaluation harness measures the TwoStageRetriever it is given, as ``search`` runs it: one row for recall and
one per stage of the cascade, each with its model and latency (stand-in models, no model loads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recallrank import EdgeStore, TwoStageRetriever
from recallrank.datasets import RetrievalSet
from recallrank.evaluation.harness import evaluate, pipeline_summary
from recallrank.evaluation.metrics import evaluate_run
from recallrank.rerank.maxsim import MaxSimReranker
from tests.fakes import HashEncoder, HashTokenEncoder

WORDS = ["apple", "tea", "qdrant", "vector", "fruit", "company", "market", "leaf", "green", "search", "index", "rust",
         "python", "store", "query"]


def _set() -> RetrievalSet:
    corpus = {f"d{i}": " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 5)) for i in range(40)}
    queries = {f"q{i}": " ".join(WORDS[(i * 3 + j) % len(WORDS)] for j in range(3)) for i in range(6)}
    qrels = {f"q{i}": {f"d{(i * 5 + j) % 40}": 1 + j % 2 for j in range(3)} for i in range(6)}
    return RetrievalSet(corpus=corpus, queries=queries, qrels=qrels, name="words")


def _cascade(tmp_path: Path) -> TwoStageRetriever:
    stages = [(MaxSimReranker(HashTokenEncoder()), 8), MaxSimReranker(HashTokenEncoder(), fuse=0.5)]
    return TwoStageRetriever(EdgeStore(tmp_path, "words"), HashEncoder(), stages=stages, top_k=20)  # type: ignore[arg-type]


def test_each_stage_of_the_cascade_is_a_row_and_the_last_is_what_search_returns(tmp_path: Path) -> None:
    ds = _set()
    retriever = _cascade(tmp_path)
    ev = evaluate(ds, retriever, sweep=(5, 20), latency_queries=2)
    assert [row.stage for row in ev.rows] == ["recall", "maxsim:8", "maxsim"]
    assert [row.model for row in ev.rows] == ["hash", "hash-tokens", "hash-tokens"]
    assert all(len(ids) <= 8 for ids in ev.runs["maxsim:8"].values())  # the cascade's cut after stage 1
    # what `search` returns (top_n=10) scores as the last row does
    searched = {q: [str(r.document.id) for r in retriever.search(text)] for q, text in ds.queries.items()}
    assert evaluate_run(searched, ds.qrels, (10, 20))["ndcg@10"] == pytest.approx(ev.final.metrics["ndcg@10"])
    assert ev.rows[0].metrics == pytest.approx(evaluate_run(
        {q: [str(r.document.id) for r in retriever.recall(text)] for q, text in ds.queries.items()}, ds.qrels,
        (10, 20)))
    assert {"embed", "recall", "rerank", "total", "stage 1 (maxsim)", "stage 2 (maxsim)"} <= set(ev.latency_ms)
    assert ev.rows[1].ms == ev.latency_ms["stage 1 (maxsim)"] and ev.rows[2].ms == ev.latency_ms["stage 2 (maxsim)"]
    data = json.loads(json.dumps(ev.as_dict()))
    assert data["final"]["stage"] == "maxsim" and data["final"]["ndcg@10"] == ev.final.metrics["ndcg@10"]
    assert [st["keep"] for st in data["pipeline"]["stages"]] == [8, None]
    assert data["pipeline"]["stages"][1]["fusion"] == "MaxSim per query token + 0.5 x recall"
    assert [row["top_k"] for row in data["sweep"]] == [5, 20]
    retriever.store.close()


def test_recall_alone_is_one_row_and_a_cached_store_is_reused(tmp_path: Path) -> None:
    ds = _set()
    store = EdgeStore(tmp_path, "words")
    first = evaluate(ds, TwoStageRetriever(store, HashEncoder(), False, top_k=20))  # type: ignore[arg-type]
    assert [row.stage for row in first.rows] == ["recall"] and first.pipeline["stages"] == []
    again = evaluate(ds, TwoStageRetriever(store, HashEncoder(), False, top_k=20))  # type: ignore[arg-type]
    assert again.final.metrics == first.final.metrics and store.count() == len(ds.corpus)
    store.close()


def test_the_summary_names_each_stage_model_without_loading_it(tmp_path: Path) -> None:
    retriever = _cascade(tmp_path)
    summary = pipeline_summary(retriever)
    assert summary == {"bi_encoder": "hash", "top_k": 20, "top_n": 10, "stages": [
        {"stage": "maxsim", "keep": 8, "model": "hash-tokens", "fusion": None},
        {"stage": "maxsim", "keep": None, "model": "hash-tokens", "fusion": "MaxSim per query token + 0.5 x recall"}]}


def test_the_table_names_each_stage_its_model_metrics_and_latency(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from recallrank.cli.eval import print_table

    print_table(evaluate(_set(), _cascade(tmp_path)))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("words: 6 queries over 40 documents; recall top_k=20 with hash, then maxsim:8 -> maxsim")
    assert lines[1].split() == ["stage", "model", "nDCG@10", "MRR@10", "MAP", "R@10", "R@20", "ms/query"]
    assert [line.split()[:2] for line in lines[2:5]] == [["recall", "hash"], ["maxsim:8", "hash-tokens"],
                                                          ["maxsim", "hash-tokens,"]]
    assert lines[4].split()[2:5] == ["fused", "with", "recall"] and len(lines[4].split()) == 11
    assert lines[5].startswith("total ") and "returns the top_n of the maxsim order" in lines[5]
