import math

import pytest

from recallrank.evaluation.metrics import average_precision, evaluate_run, mrr_at_k, ndcg_at_k, recall_at_k


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
