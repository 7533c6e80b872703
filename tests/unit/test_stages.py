"""Rerank cascades: bi-encoder top_k -> MaxSim (token vectors stored in Qdrant) -> ... -> top_n."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from recallrank import CollectionSettings, Document, EdgeStore, InvalidInputError, QdrantServerStore, TwoStageRetriever
from recallrank.index.base import Hit
from recallrank.models.late_interaction import maxsim
from recallrank.models.poly_encoder import PolyEncoder
from recallrank.rerank.maxsim import MaxSimReranker
from recallrank.rerank.poly import PolyReranker
from recallrank.retrieval.pipeline import Stage
from tests.fakes import HashEncoder, HashTokenEncoder

DOCS = [Document(f"word{i} word{i % 7} shared text number {i}", {"i": i}, id=f"d{i}") for i in range(120)]


class FirstWordReranker:
    """A final stage that needs no model: orders by the number in the first word."""

    def rerank(self, query, candidates, top_n=None, score_threshold=None):  # type: ignore[no-untyped-def]
        from recallrank.rerank.base import candidates_of as _candidates
        from recallrank.rerank.base import ranked

        docs, recall, ids = _candidates(candidates)
        scores = np.array([float(d.text.split()[0][4:]) for d in docs])
        return ranked(docs, recall, ids, scores, top_n, score_threshold)


@pytest.fixture(params=["edge", "server"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The embedded engine and qdrant-client's local mode (the server API): the same contract on both."""
    # fp16 token vectors: the expected orders below are computed with exact MaxSim (the default, turbo4, is
    # approximate; tests/unit/test_edge_multivector.py checks it)
    exact = CollectionSettings(token_storage="float16")

    def make(name: str = "c"):  # type: ignore[no-untyped-def]
        return EdgeStore(tmp_path, name, settings=exact) if request.param == "edge" else QdrantServerStore(
            location=":memory:", name=name, settings=exact)
    return make


def cascade(store: EdgeStore, tokens: HashTokenEncoder, **kwargs: object) -> TwoStageRetriever:
    stages = [(MaxSimReranker(tokens, field="colbert"), 20), FirstWordReranker()]  # type: ignore[arg-type]
    return TwoStageRetriever(store, HashEncoder(16), stages=stages, top_k=60, top_n=5, recall="dense",  # the expected
                             **kwargs)  # type: ignore[arg-type]  # order below is computed from dense recall


def test_ingest_writes_token_vectors_and_the_stage_scores_them_inside_qdrant(new_store) -> None:  # type: ignore[no-untyped-def]
    tokens = HashTokenEncoder()
    store = new_store()
    r = cascade(store, tokens)
    assert r.add_documents(DOCS).added == 120
    assert store.multivector_fields() == {"colbert": 8}
    assert list(store.without_multivector("colbert")) == []
    encoded = tokens.documents_encoded
    res = r.search("word3 shared")
    assert tokens.documents_encoded == encoded  # candidates were scored from stored vectors, not re-encoded
    assert len(res) == 5 and {"stage 1 (colbert)", "stage 2 (FirstWordReranker)"} <= set(res.timings)
    # the MaxSim stage kept the 20 best of the recalled 60; the last stage ordered those by its own score
    recalled = store.search(HashEncoder(16).encode_queries(["word3 shared"])[0], 60, exact=True)
    q = tokens.encode_queries(["word3 shared"])[0]
    best20 = sorted(recalled, key=lambda h: -maxsim(q, tokens.encode_documents([h.document.text])[0]))[:20]
    expected = sorted(best20, key=lambda h: -int(h.document.text.split()[0][4:]))[:5]
    assert [x.document.id for x in res] == [h.document.id for h in expected]
    assert all(x.retrieval_score is not None for x in res)  # the recall score travels down the cascade


def test_reingest_is_a_no_op(tmp_path: Path) -> None:
    tokens = HashTokenEncoder()
    store = EdgeStore(tmp_path, "c")
    cascade(store, tokens).add_documents(DOCS)
    meta = (tmp_path / "c" / "recallrank.json").read_bytes()
    encoded = tokens.documents_encoded
    report = cascade(store, tokens).add_documents(DOCS)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 120)
    assert tokens.documents_encoded == encoded and (tmp_path / "c" / "recallrank.json").read_bytes() == meta


def test_an_old_index_keeps_working_says_how_to_add_the_field_and_add_stage_vectors_fills_it(
        new_store, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    store = new_store()
    TwoStageRetriever(store, HashEncoder(16), False).add_documents(DOCS)  # type: ignore[arg-type]
    tokens = HashTokenEncoder()
    r = cascade(store, tokens)
    with caplog.at_level(logging.WARNING):
        before = [x.document.id for x in r.search("word3 shared")]
    assert "add_stage_vectors()" in caplog.text and store.multivector_fields() == {}
    assert r.add_stage_vectors() == 120
    assert r.add_stage_vectors() == 0
    encoded = tokens.documents_encoded
    assert [x.document.id for x in r.search("word3 shared")] == before  # same ranking, now from stored vectors
    assert tokens.documents_encoded == encoded


def test_points_missing_token_vectors_are_scored_on_the_fly(new_store) -> None:  # type: ignore[no-untyped-def]
    tokens = HashTokenEncoder()
    store = new_store()
    r = cascade(store, tokens)
    r.add_documents(DOCS[:60])
    TwoStageRetriever(store, HashEncoder(16), False).add_documents(DOCS[60:])  # type: ignore[arg-type]
    assert len(list(store.without_multivector("colbert"))) == 60
    hits = store.search(HashEncoder(16).encode_queries(["word70 shared"])[0], 60, exact=True)
    q = tokens.encode_queries(["word70 shared"])[0]
    got = MaxSimReranker(tokens, field="colbert").rerank("word70 shared", hits, store=store)  # type: ignore[arg-type]
    assert [x.score for x in got] == pytest.approx(sorted(
        (maxsim(q, tokens.encode_documents([h.document.text])[0]) for h in hits), reverse=True), rel=1e-3)


class HashPoly(PolyEncoder):
    """Poly-encoder stand-in whose m query vectors are all the bi-encoder's query vector: scores = cosine."""

    def __init__(self) -> None:
        super().__init__("unused")

    def encode_queries(self, texts):  # type: ignore[no-untyped-def]
        return np.stack([np.repeat(v[None], 4, axis=0) for v in HashEncoder(16).encode_queries(texts)])


def test_the_poly_stage_reads_the_vectors_the_store_holds(new_store) -> None:  # type: ignore[no-untyped-def]
    store = new_store()
    r = TwoStageRetriever(store, HashEncoder(16), stages=[PolyReranker(HashPoly())], top_k=30, top_n=30,  # type: ignore[arg-type]
                          recall="dense")  # what the expected candidates below come from
    r.add_documents(DOCS)
    store.ensure_multivector("tok", 8)  # token vectors beside the dense one are not what the Poly-encoder reads
    store.write_multivectors("tok", {pid: np.ones((3, 8)) for pid, _ in store.without_multivector("tok")})
    res = r.search("word5 shared")
    recall = r.recall("word5 shared", top_k=30)
    assert [x.document.id for x in res] == [x.document.id for x in recall]  # equal codes: exactly the cosine
    assert [x.score for x in res] == pytest.approx([x.score for x in recall], abs=1e-5)
    with pytest.raises(InvalidInputError, match="store"):
        PolyReranker(HashPoly()).rerank("q", store.search(HashEncoder(16).encode_queries(["q"])[0], 3))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stages": [(FirstWordReranker(), 5), (FirstWordReranker(), 10)]}, "must not grow"),
    ({"stages": ["cross"]}, "no rerank"),
    ({"stages": []}, "empty"),
    ({"stages": [(FirstWordReranker(), 0)]}, "keep must be"),
    ({"stages": [FirstWordReranker()], "reranker": FirstWordReranker()}, "not both"),
])
def test_bad_stages_are_refused_before_anything_runs(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        TwoStageRetriever(EdgeStore(tmp_path, "c"), HashEncoder(16), **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "c").exists()


def test_stage_accepts_stage_objects_and_reports_its_config(tmp_path: Path) -> None:
    r = TwoStageRetriever(EdgeStore(tmp_path, "c"), HashEncoder(16),  # type: ignore[arg-type]
                          stages=[Stage(MaxSimReranker(HashTokenEncoder(), field="colbert"), 30),  # type: ignore[arg-type]
                                  FirstWordReranker()])
    assert [s["keep"] for s in r.config()["stages"]] == [30, None]
    assert r.config()["stages"][0]["kind"] == "maxsim" and r.config()["stages"][0]["field"] == "colbert"


def test_fusion_orders_by_maxsim_per_query_token_plus_the_weighted_recall_score() -> None:
    tokens = HashTokenEncoder()
    hits = [Hit(id=f"p{i}", score=s, document=Document(t, id=f"d{i}"))
            for i, (t, s) in enumerate([("alpha beta", 0.9), ("gamma delta", 0.1), ("alpha gamma", 0.5)])]
    q = tokens.encode_queries(["alpha gamma"])[0]
    raw = {h.id: maxsim(q, tokens.encode_documents([h.document.text])[0]) for h in hits}
    got = MaxSimReranker(tokens, fuse=0.5).rerank("alpha gamma", hits)  # type: ignore[arg-type]
    want = {h.id: raw[h.id] / 2 + 0.5 * h.score for h in hits}
    assert [r.point_id for r in got] == sorted(want, key=want.__getitem__, reverse=True)
    assert [r.score for r in got] == pytest.approx([want[r.point_id] for r in got], rel=1e-5)
    assert [r.relevance_score for r in got] == pytest.approx([raw[r.point_id] for r in got], rel=1e-5)
    texts = MaxSimReranker(tokens, fuse=0.5).rerank("alpha gamma", [h.document.text for h in hits])  # type: ignore[arg-type]
    assert [r.score for r in texts] == pytest.approx(sorted(raw.values(), reverse=True), rel=1e-5)  # no recall score
    for bad in (-1, True, "0.5"):
        with pytest.raises(InvalidInputError, match="fuse"):
            MaxSimReranker(tokens, fuse=bad)  # type: ignore[arg-type]
