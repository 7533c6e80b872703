"""Calibrated relevance: ``probability`` per result, ``min_probability`` and abstention, tuned settings stored with
the collection, and the latency budget of a cascade."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recallrank import Document, EdgeStore, InvalidInputError, TwoStageRetriever
from recallrank.evaluation.calibration import JudgedList, calibration_report, fit
from recallrank.rerank.relevance import (
    DEFAULT_MIN_PROBABILITY,
    Calibration,
    expected_calibration_error,
    features,
    fit_head,
    pipeline_key,
    recall_summary,
    shipped,
    stage_scores,
)
from recallrank.training.inputs import LabelledPair
from recallrank.training.tune import MIN_QUERIES, store, tune
from tests.fakes import HashEncoder

DOCS = [Document(f"word{i} shared text number {i}", {"i": i}, id=f"d{i}") for i in range(40)]
#: P(relevant) rises with the stage score: a recall-only pipeline over HashEncoder scores cosines in [-1, 1]
STEEP = {"top": {"score": 8.0, "recall": 0.0, "margin": 0.0, "recall_gap": 0.0, "recall_margin": 0.0,
                 "bias": -2.0},
         "rest": {"score": 8.0, "recall": 0.0, "gap": 0.0, "log_rank": 0.0, "recall_gap": 0.0, "bias": -3.0}}


def recall_only(tmp_path: Path, **kwargs: Any) -> TwoStageRetriever:
    r = TwoStageRetriever(EdgeStore(tmp_path, "c"), HashEncoder(16), False, top_n=5, recall="dense", **kwargs)
    r.add_documents(DOCS)
    return r


def record(r: TwoStageRetriever, **tuning: Any) -> TwoStageRetriever:
    """Store tuned settings with the collection and open a new retriever over it, as a front end would."""
    r.store.record_models(tuning, key="tuning")
    return r


def test_features_and_probabilities_follow_the_ranked_list() -> None:
    top, rest = features(np.array([0.9, 0.7, 0.2]), np.array([0.5, 0.6, 0.1]), [0.6, 0.5])
    assert top.tolist() == [[0.9, 0.5, pytest.approx(0.2), pytest.approx(0.1), pytest.approx(0.1)]]
    assert rest[:, 2].tolist() == [pytest.approx(0.2), pytest.approx(0.7)]  # gap to the first
    assert recall_summary([0.1, 0.5, 0.3]) == [0.5, 0.3]
    c = Calibration.from_dict({"pipeline": "x", **STEEP})
    p = c.probabilities(np.array([0.9, 0.7, 0.2]), np.array([0.5, 0.6, 0.1]), [0.6, 0.5])
    assert p[0] == pytest.approx(1 / (1 + np.exp(-(8 * 0.9 - 2))))
    assert p[1] > p[2]
    assert Calibration.from_dict(c.as_dict()) == c


def test_stage_scores_make_stages_comparable() -> None:
    assert stage_scores("maxsim", np.array([6.0]), 4).tolist() == [1.5]
    assert stage_scores("cross", np.array([0.5])).tolist() == [pytest.approx(0.0)]
    assert stage_scores("recall", np.array([0.3])).tolist() == [0.3]
    assert pipeline_key("all-MiniLM-L6-v2", "recall", None) == "all-MiniLM-L6-v2 > recall"


def test_fit_head_recovers_a_known_logistic_model() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 1))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0)))).astype(float)
    w = fit_head(x, y, l2=1e-6)
    assert w == pytest.approx([2.0, -1.0], abs=0.15)


def test_expected_calibration_error() -> None:
    assert expected_calibration_error([0.9, 0.9, 0.1, 0.1], [1, 1, 0, 0]) == pytest.approx(0.1)
    assert expected_calibration_error([0.5] * 4, [1, 0, 1, 0]) == 0.0


def test_the_shipped_default_pipeline_is_calibrated() -> None:
    calibrations = shipped()
    assert "all-MiniLM-L6-v2 > maxsim(zero-shot:all-MiniLM-L6-v2)" in calibrations
    assert "all-MiniLM-L6-v2 > recall" in calibrations
    for c in calibrations.values():
        assert c.source == "shipped" and c.queries > 0 and c.fitted_on
        assert len(c.top) == 6 and len(c.rest) == 6


def test_a_pipeline_without_calibration_says_so(tmp_path: Path) -> None:
    r = recall_only(tmp_path)
    response = r.search("word3 shared")
    assert response.calibration is None and not response.abstained
    assert [x.probability for x in response.results] == [None] * 5
    assert response.results[0].score_fields()["probability"] is None
    with pytest.raises(InvalidInputError, match=r"no fitted calibration.*recallrank tune"):
        r.search("word3 shared", min_probability=0.5)
    assert len(r.search("word3 shared", min_probability=0)) == 5  # 0 keeps everything, calibrated or not
    with pytest.raises(InvalidInputError, match="min_probability must be a probability"):
        TwoStageRetriever(EdgeStore(tmp_path, "d"), HashEncoder(16), False, min_probability=1.5)


def test_tuned_calibration_gives_probabilities_and_abstains(tmp_path: Path) -> None:
    r = recall_only(tmp_path)
    key = r.calibration_key()
    assert key == "hash > recall"
    record(r, calibration={"pipeline": key, **STEEP, "source": "tuned", "queries": 50, "min_probability": 0.999})
    r2 = TwoStageRetriever(r.store, HashEncoder(16), False, top_n=5, recall="dense")
    everything = r2.search("word3 shared", min_probability=0)
    probs = [x.probability for x in everything.results]
    assert all(p is not None and 0 < p < 1 for p in probs)
    assert everything.calibration == "tuned on this collection (50 labelled queries) for hash > recall"
    assert [x.score for x in everything.results] == sorted((x.score for x in everything.results), reverse=True)
    # the tuned threshold (0.999) is what "auto" means for this collection: nothing reaches it
    none = r2.search("word3 shared")
    assert none.abstained and none.results == [] and none.best_probability == pytest.approx(max(probs))
    assert none.min_probability == 0.999
    # a threshold that the best result reaches: every result is returned, with its probability
    kept = r2.search("word3 shared", min_probability=max(probs))
    assert not kept.abstained and [x.probability for x in kept.results] == probs


def test_tuned_top_k_applies_unless_given(tmp_path: Path) -> None:
    r = recall_only(tmp_path)
    record(r, top_k=7)
    assert TwoStageRetriever(r.store, HashEncoder(16), False).top_k == 7
    assert TwoStageRetriever(r.store, HashEncoder(16), False, top_k=30).top_k == 30
    assert TwoStageRetriever(EdgeStore(tmp_path, "fresh"), HashEncoder(16), False).top_k == 100


class SlowStage:
    """A rerank stage that takes ``seconds`` per call and reverses the order."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, 0

    def rerank(self, query: str, candidates: Any, top_n: int | None = None, score_threshold: Any = None) -> Any:
        from recallrank.rerank.base import candidates_of, ranked

        self.calls += 1
        time.sleep(self.seconds)
        docs, recall, ids = candidates_of(candidates)
        return ranked(docs, recall, ids, -np.arange(len(docs), dtype=float)[::-1], top_n, score_threshold)

    def config(self) -> dict[str, Any]:
        return {"kind": "slow"}


def test_latency_budget_cuts_the_cascade_at_the_last_stage_that_fits(tmp_path: Path) -> None:
    fast, slow = SlowStage(0.0), SlowStage(0.3)
    r = TwoStageRetriever(EdgeStore(tmp_path, "c"), HashEncoder(16), stages=[(fast, 20), slow], top_n=5,
                          recall="dense")
    r.add_documents(DOCS)
    first = r.search("word3 shared")  # no measurement yet: every stage runs, and is timed
    assert first.skipped == () and slow.calls == 1
    cut = r.search("word3 shared", latency_budget=0.1)
    assert cut.skipped == ("slow",) and slow.calls == 1 and fast.calls == 2
    assert len(cut.results) == 5  # the first stage's order, cut to top_n
    # a budget below even the first stage's forecast gives the recall order
    fast.seconds = 0.2
    r.search("word3 shared")
    recall_only_now = r.search("word3 shared", latency_budget=0.05)
    assert recall_only_now.skipped == ("slow", "slow") and recall_only_now.results[0].stage == "recall"
    fast.seconds = 0.0
    again = r.search("word3 shared", latency_budget=5.0)
    assert again.skipped == () and slow.calls == 3
    with pytest.raises(InvalidInputError, match="latency_budget must be a positive number"):
        r.search("x", latency_budget=0)


def pairs_for(n: int) -> list[LabelledPair]:
    return [LabelledPair(f"word{i} shared", positive_id=f"d{i}") for i in range(n)]


def test_tune_refuses_too_few_labels_with_the_number_needed(tmp_path: Path) -> None:
    r = recall_only(tmp_path)
    with pytest.raises(InvalidInputError, match=f"give at least {MIN_QUERIES} \\({MIN_QUERIES - 10} more"):
        tune(r, pairs_for(10))


def test_tune_stores_only_what_does_not_make_the_held_out_part_worse(tmp_path: Path) -> None:
    docs = [Document(f"word{i} shared text number {i}", id=f"d{i}") for i in range(60)]
    r = TwoStageRetriever(EdgeStore(tmp_path, "c"), HashEncoder(16), False, top_n=10, recall="dense")
    r.add_documents(docs)
    # labels naming ids the collection does not store: refused, nothing written
    with pytest.raises(InvalidInputError, match=r"only 0 of .* labelled queries find one of their labelled"):
        tune(r, [LabelledPair(d.text, positive_id=f"x{d.id}") for d in docs])
    assert r.store.recorded_models()["tuning"] is None
    # a hash "model" finds a text by itself: each query is its document's own text
    report = tune(r, [LabelledPair(d.text, positive_id=d.id) for d in docs])
    assert report.fit_queries + report.held_queries == 60 and report.held_queries >= 18
    if "ranking" in report.kept:
        assert report.after.ndcg10 >= report.before.ndcg10
    # no shipped calibration for this pipeline: the refit is kept, and its held-out figures are reported
    assert "calibration" in report.kept
    assert report.settings["calibration"]["pipeline"] == "hash > recall"
    assert report.settings["held_out"]["queries"] == report.held_queries
    assert report.settings["held_out"]["before"]["ece@1"] is None  # nothing to measure before: no calibration
    assert store(r, report) and r.store.recorded_models()["tuning"]["calibration"]["pipeline"] == "hash > recall"


def test_a_malformed_tuning_record_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = recall_only(tmp_path)
    for bad in ({"calibration": "oops"}, {"calibration": {"pipeline": "hash > recall", "top": {}, "rest": {}}},
                {"calibration": {"pipeline": "hash > recall", **STEEP, "min_probability": 7}},
                {"top_k": 10**9}, {"top_k": "50"}, {"maxsim_fuse": -1}):
        r.store.record_models(bad, key="tuning")
        with caplog.at_level("WARNING"):
            fresh = TwoStageRetriever(r.store, HashEncoder(16), False, recall="dense")
            response = fresh.search("word3 shared")
        assert response.results and response.calibration is None and fresh.top_k == 100
        assert "malformed tuned" in caplog.text
        caplog.clear()


def test_calibration_report_on_judged_lists() -> None:
    lists = [JudgedList("q", np.array([0.9, 0.1]), np.array([0.9, 0.1]), [0.9, 0.1], np.array([1.0, 0.0]),
                        [None, None], 0.01, ["a", "b"], 1) for _ in range(20)]
    c = fit("p", {"s": lists})
    report = calibration_report([c.probabilities(x.scores, x.recall, x.recalled) for x in lists], lists)
    assert report["accuracy@1"] == 1.0 and report["mean_p@1"] > 0.5
    assert json.loads(json.dumps(c.as_dict()))["pipeline"] == "p"
    assert pytest.approx(0.15) == DEFAULT_MIN_PROBABILITY


def test_probability_does_not_depend_on_top_n_and_none_means_not_given(tmp_path: Path) -> None:
    r = recall_only(tmp_path)
    record(r, calibration={"pipeline": "hash > recall", **STEEP, "source": "tuned", "queries": 50,
                           "min_probability": 0.999})
    def ranked(top_n: int) -> Any:
        return TwoStageRetriever(r.store, HashEncoder(16), False, top_n=top_n, recall="dense").search(
            "word3", min_probability=0)

    one, five = ranked(1), ranked(5)
    assert len(one) == 1 and one.results[0].probability == pytest.approx(five.results[0].probability)
    # None is "not given" (auto: here the tuned 0.999, so it abstains); 0 and "none" never abstain
    def build(**kwargs: Any) -> TwoStageRetriever:
        return TwoStageRetriever(r.store, HashEncoder(16), False, recall="dense", **kwargs)

    assert build(min_probability=None).search("word3").abstained
    for never in (0, "none", "NONE"):
        kept = build(min_probability=never).search("word3")
        assert not kept.abstained and kept.results
    # a keyword-shaped query recalled by hybrid RRF alone: its order and RRF scores stay, and the recall
    # calibration reads its results' dense similarities (the same probabilities dense recall gives them)
    hybrid = TwoStageRetriever(r.store, HashEncoder(16), False, min_probability=0).search("word3")
    assert hybrid.calibration is not None and all(x.probability is not None for x in hybrid.results)
    rrf = TwoStageRetriever(r.store, HashEncoder(16), False).recall("word3", top_k=10)
    assert [x.retrieval_score for x in hybrid.results] == [x.retrieval_score for x in rrf.results]  # RRF kept
    auto = build(min_probability=0)
    assert auto.search("word3", min_probability=None).results  # per call, None keeps the retriever's setting
    assert auto.search("word3", min_probability="auto").abstained


def test_a_filter_matching_nothing_returns_nothing_without_error(tmp_path: Path) -> None:
    r = recall_only(tmp_path)
    record(r, calibration={"pipeline": "hash > recall", **STEEP, "source": "tuned", "queries": 50})
    fresh = TwoStageRetriever(r.store, HashEncoder(16), False, recall="dense")
    empty = fresh.search("word3 shared", filter={"i": 999})
    assert empty.results == [] and not empty.abstained and empty.skipped == ()
    assert fresh.search("word3 shared", filter={"i": 999}, min_probability=0.5).results == []
    with pytest.raises(InvalidInputError, match="min_probability"):
        fresh.search("word3 shared", filter={"i": 999}, min_probability=7)
