import math

import pytest

from recallrank.evaluation.metrics import (
    average_precision,
    evaluate_run,
    mean_metrics,
    mrr_at_k,
    ndcg_at_k,
    per_query,
    query_metrics,
    recall_at_k,
)


def test_single_relevant_at_rank_two() -> None:
    rels = {"d2": 1}
    ranked = ["d1", "d2", "d3"]
    assert ndcg_at_k(ranked, rels, 10) == pytest.approx(1 / math.log2(3))
    assert mrr_at_k(ranked, rels, 10) == 0.5
    assert recall_at_k(ranked, rels, 1) == 0.0
    assert recall_at_k(ranked, rels, 2) == 1.0
    assert average_precision(ranked, rels) == 0.5


def test_graded_ndcg_prefers_higher_grade_first() -> None:
    rels = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b"], rels, 10) == pytest.approx(1.0)
    worse = ndcg_at_k(["b", "a"], rels, 10)
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert worse == pytest.approx(expected)


def test_cutoff_and_missing_queries() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d9": 1}, "q3": {"x": 0}}
    run = {"q1": ["d1"]}  # q2 has no run: scores 0; q3 has no relevant document: not counted
    m = evaluate_run(run, qrels, ks=(10,))
    assert m["ndcg@10"] == 0.5 and m["mrr@10"] == 0.5 and m["recall@10"] == 0.5
    deep = {"q1": [f"n{i}" for i in range(10)] + ["d1"]}
    assert evaluate_run(deep, {"q1": {"d1": 1}}, ks=(10, 100))["recall@10"] == 0.0


def test_no_judged_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="no query"):
        evaluate_run({}, {"q": {"d": 0}})


def test_per_query_rows_average_to_the_run_metrics_and_cutoffs_are_settable() -> None:
    qrels = {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}, "q3": {"d4": 0}}
    run = {"q1": ["d2", "x", "d1"], "q2": ["x", "y", "z", "w", "v", "d3"]}
    rows = per_query(run, qrels, ks=(5,), at=(3, 10))
    assert set(rows) == {"q1", "q2"}  # q3 has no relevant document
    assert rows["q1"]["mrr@3"] == 1.0 and rows["q2"]["mrr@3"] == 0.0 and rows["q2"]["mrr@10"] == pytest.approx(1 / 6)
    assert rows["q1"]["map@100"] == pytest.approx((1 + 2 / 3) / 2)
    assert rows["q2"]["recall@5"] == 0.0
    assert evaluate_run(run, qrels, ks=(5,), at=(3, 10)) == pytest.approx(mean_metrics(rows.values()))
    assert query_metrics(["d1", "d2"], qrels["q1"], ks=(1,), at=(1,))["ndcg@1"] == 1.0
