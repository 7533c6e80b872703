"""Sparse and hybrid recall on Qdrant's own BM25, on the embedded engine and qdrant-client's local mode: exact
keywords that a dense vector misses, Chinese segmented by the multilingual tokenizer, the filter inside both legs
of the fused query, the clear error on a collection made before the BM25 field and the backfill that fixes it,
persistence, and one answer through the core and the CLI.

The dense leg uses :class:`tests.fakes.HashEncoder`, which knows no words: what it recalls is chance, which makes
"dense misses the identifier" deterministic without loading a model."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recallrank import Document, EdgeStore, QdrantServerStore, TwoStageRetriever
from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import DenseOnly
from recallrank.index.sparse import FIELD, SparseFieldMissingError
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE
from tests.fakes import HashEncoder

CORPUS = [
    ("err", "The proxy fails with ERR_CONN_REFUSED_QX when the upstream is down", {"lang": "en"}),
    ("retries", "Set the --max-retries option to retry failed requests", {"lang": "en"}),
    ("zh", "数据库连接超时错误的解决方法", {"lang": "zh"}),
    ("zh-en", "How to fix a database connection timeout", {"lang": "en"}),
    ("fruit", "Apples and pears are fruit", {"lang": "en"}),
    ("cat", "The cat sat on the mat", {"lang": "en"}),
]


def docs() -> list[Document]:
    return [Document(text, meta, doc_id) for doc_id, text, meta in CORPUS]


def ids(response: Any) -> list[str]:
    return [str(r.document.id) for r in response.results]


@pytest.fixture(params=["edge", "local"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A new collection on each backend (qdrant-client's local mode stands in for a server here; the same tests
    run against one in tests/integration/test_server_hybrid.py)."""
    made: list[Any] = []

    def make() -> Any:
        store: Any = EdgeStore(tmp_path / "index", "hy") if request.param == "edge" \
            else QdrantServerStore(location=":memory:", name="hy")
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def retriever(store: Any, recall: str, k: int = 3) -> TwoStageRetriever:
    return TwoStageRetriever(store, HashEncoder(), False, recall=recall, top_k=k, top_n=k)


def test_an_exact_identifier_dense_misses_is_found_by_sparse_and_hybrid(make_store: Callable[[], Any]) -> None:
    store = make_store()
    retriever(store, "dense").add_documents(docs())
    assert "err" not in ids(retriever(store, "dense", 1).search("ERR_CONN_REFUSED_QX"))
    sparse = retriever(store, "sparse", 1).search("ERR_CONN_REFUSED_QX").results
    assert [r.document.id for r in sparse] == ["err"]
    assert sparse[0].stage == "recall" and sparse[0].model == FIELD and sparse[0].retrieval_score > 0  # BM25
    assert "err" in ids(retriever(store, "hybrid", 2).search("ERR_CONN_REFUSED_QX"))
    assert ids(retriever(store, "sparse", 1).search("max-retries option")) == ["retries"]
    hybrid = retriever(store, "hybrid").search("max-retries").results
    assert all(0 < r.retrieval_score <= 1.0 for r in hybrid)  # RRF: 1 / (2 + rank) summed over two lists
    assert hybrid[0].model == "hash+bm25"


def test_chinese_is_segmented_and_matched_by_sparse_recall(make_store: Callable[[], Any]) -> None:
    store = make_store()
    retriever(store, "dense").add_documents(docs())
    assert ids(retriever(store, "sparse").search("连接超时")) == ["zh"]  # a word inside an unsegmented sentence
    assert ids(retriever(store, "hybrid", 1).search("连接超时")) == ["zh"]


def test_the_filter_applies_inside_both_legs(make_store: Callable[[], Any]) -> None:
    store = make_store()
    retriever(store, "dense").add_documents(docs())
    assert ids(retriever(store, "hybrid", 1).search("连接超时"))[0] == "zh"  # first on both legs unfiltered
    for k in (1, 3, 6):
        found = ids(retriever(store, "hybrid", k).search("连接超时 database connection", filter={"lang": "en"}))
        assert "zh" not in found and found
    assert ids(retriever(store, "sparse").search("连接超时", filter={"lang": "en"})) == []
    assert ids(retriever(store, "sparse").search("connection", filter={"lang": ["en"]})) == ["zh-en"]


def test_an_old_collection_raises_the_way_out_and_the_backfill_fixes_it(make_store: Callable[[], Any]) -> None:
    store = make_store()
    if isinstance(store, EdgeStore):  # a collection made before the field: drop it, and its record
        import qdrant_edge as qe

        retriever(store, "dense").add_documents(docs())
        store.shard().update(qe.UpdateOperation.delete_vector_name(FIELD))
        store.update_meta(sparse=None)
        store.close()
        store = EdgeStore(store.root, store.name)
    else:
        from qdrant_client import models

        store.client.create_collection(store.name, vectors_config=models.VectorParams(
            size=8, distance=models.Distance.COSINE))
        retriever(store, "dense").add_documents(docs())
    assert store.sparse_field() is None
    hybrid = retriever(store, "hybrid")
    with pytest.raises(SparseFieldMissingError, match="recallrank index --add-sparse") as caught:
        hybrid.search("ERR_CONN_REFUSED_QX")
    assert "add_sparse()" in str(caught.value) and isinstance(caught.value, StoreError)
    with pytest.raises(SparseFieldMissingError):
        retriever(store, "sparse").search("ERR_CONN_REFUSED_QX")
    assert hybrid.add_stage_vectors() == len(CORPUS)  # the backfill, from the stored texts
    assert hybrid.add_stage_vectors() == 0  # a no-op once filled
    assert ids(retriever(store, "sparse", 1).search("ERR_CONN_REFUSED_QX")) == ["err"]
    retriever(store, "dense").add_documents([Document("A new FROBNICATE_ZZ flag", {"lang": "en"}, "new")])
    assert ids(retriever(store, "sparse", 1).search("FROBNICATE_ZZ")) == ["new"]  # written at ingest from now on


def test_a_reopened_store_keeps_its_sparse_field(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, "hy")
    retriever(store, "dense").add_documents(docs())
    record = store.sparse_field()
    assert record is not None and record["tokenizer"] == "multilingual" and record["filled"]
    store.close()
    again = EdgeStore(tmp_path, "hy")
    try:
        assert again.sparse_field() == record
        assert ids(retriever(again, "sparse", 1).search("ERR_CONN_REFUSED_QX")) == ["err"]
        assert json.loads((tmp_path / "hy" / "edge_config.json").read_text())["sparse_vectors"][FIELD]
    finally:
        again.close()


def test_modes_are_checked_and_stores_without_sparse_say_what_to_do(tmp_path: Path) -> None:
    assert DEFAULT_RECALL_MODE == "auto"
    store = EdgeStore(tmp_path, "hy")
    with pytest.raises(InvalidInputError, match="'dense'"):
        TwoStageRetriever(store, HashEncoder(), False, recall="bm25")

    class Dense(DenseOnly):
        name = "dense"

    with pytest.raises(StoreError, match="recall='dense'"):
        TwoStageRetriever(Dense(), HashEncoder(), False, recall="hybrid")  # type: ignore[arg-type]
    retriever(store, "dense").add_documents(docs())
    assert retriever(store, "sparse").search("4411").results == []  # no BM25 word: matches nothing, as "the" does
    assert retriever(store, "hybrid").search("4411").results  # the dense leg still answers
    with pytest.raises(InvalidInputError, match="dbsf"):
        store.search_hybrid(HashEncoder().encode_queries(["x"])[0], "cat", 3, fusion="max")
    dbsf = store.search_hybrid(HashEncoder().encode_queries(["cat"])[0], "cat", 3, fusion="dbsf")
    assert "cat" in [h.document.id for h in dbsf]
    assert retriever(store, "hybrid").config()["recall"] == "hybrid"
    store.close()


async def test_async_search_gives_the_same_ids(make_store: Callable[[], Any]) -> None:
    store = make_store()
    retriever(store, "dense").add_documents(docs())
    for mode in ("sparse", "hybrid"):
        r = retriever(store, mode)
        assert ids(await r.asearch("database connection")) == ids(r.search("database connection"))


def test_core_and_cli_json_give_the_same_ids_with_recall_hybrid(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from recallrank.cli import main

    # about the recall leg, not the runtime: torch fp32 spares an ONNX export and int8 calibration (~30 s)
    monkeypatch.setenv("RECALLRANK_BACKEND", "torch")
    monkeypatch.setenv("RECALLRANK_PRECISION", "fp32")
    store = EdgeStore(tmp_path, "hy")
    core = TwoStageRetriever(store, None, False, recall="hybrid", top_k=4, top_n=4)
    core.add_documents(docs())
    expected = ids(core.search("ERR_CONN_REFUSED_QX proxy"))
    store.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["search", "ERR_CONN_REFUSED_QX proxy", "--path", str(tmp_path), "--collection", "hy", "--json",
                     "--recall", "hybrid", "--no-rerank", "--top-k", "4", "--top-n", "4"])
    assert code in (0, None)
    assert [r["id"] for r in json.loads(out.getvalue())["results"]] == expected and expected[0] == "err"


@pytest.mark.parametrize("query,shaped", [
    ("rsync --partial-dir", True), ("-v", True), ("GIT_SSH", True), ("help.format", True), ("E404 on upload", True),
    ("AcceptEnv", True), ("read.table() is slow", True), ("PAGER", True), ("cat /etc/hosts/", True),
    ("How do I resume an interrupted copy?", False), ("What is the current version of R?", False),
    ("default icon theme of GNOME desktop environment", False), ("如何更改工作目录？", False), ("diff -t", True),
    ("What does the DNS server do when it is down?", False)])
def test_keyword_shaped_queries_are_told_from_questions(query: str, shaped: bool) -> None:
    from recallrank.retrieval.recall import keyword_shaped

    assert keyword_shaped(query) is shaped


def test_auto_recalls_keyword_queries_hybrid_and_questions_dense(make_store: Callable[[], Any]) -> None:
    store = make_store()
    auto = retriever(store, "auto", 2)
    auto.add_documents(docs())
    hit = auto.search("ERR_CONN_REFUSED_QX").results
    assert "err" in [r.document.id for r in hit] and hit[0].model == "hash+bm25"  # keyword-shaped: hybrid
    question = auto.search("why does the proxy fail").results
    assert question[0].model == "hash" and ids(auto.search("why does the proxy fail")) == ids(
        retriever(store, "dense", 2).search("why does the proxy fail"))  # a question: dense, same answer


def test_auto_on_a_collection_without_the_bm25_field_recalls_densely_and_says_how_to_add_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import qdrant_edge as qe

    store = EdgeStore(tmp_path / "old", "hy")
    retriever(store, "dense").add_documents(docs())
    store.shard().update(qe.UpdateOperation.delete_vector_name(FIELD))  # as a collection made before the field
    store.update_meta(sparse=None)
    store.close()
    store = EdgeStore(tmp_path / "old", "hy")
    with caplog.at_level(logging.WARNING):
        found = retriever(store, "auto", 2).search("ERR_CONN_REFUSED_QX").results
    assert found and found[0].model == "hash" and "--add-sparse" in caplog.text
    store.close()


def test_after_hybrid_recall_the_stages_see_the_dense_similarity_not_rrf(make_store: Callable[[], Any]) -> None:
    """A stage that fuses with the recall score (the default MaxSim) reads the scale it was calibrated on."""
    import numpy as np

    from recallrank.rerank.base import candidates_of, ranked

    class Recording:
        name = "recording"

        def rerank(self, query: str, candidates: Any, top_n: int | None = None, score_threshold: float | None = None,
                   **_: Any) -> list[Any]:
            docs, recall, ids = candidates_of(candidates)
            self.seen = dict(zip([d.id for d in docs], recall, strict=True))
            return ranked(docs, recall, ids, np.asarray(recall, dtype=np.float32), top_n, score_threshold)

        def config(self) -> dict[str, Any]:
            return {"kind": "recording"}

    store = make_store()
    stage = Recording()
    r = TwoStageRetriever(store, HashEncoder(), stage, recall="hybrid", top_k=6, top_n=6)
    r.add_documents(docs())
    r.search("ERR_CONN_REFUSED_QX")
    dense = {h.document.id: h.score for h in store.search(HashEncoder().encode_queries(["ERR_CONN_REFUSED_QX"])[0], 6)}
    assert set(stage.seen) == {d for d, _, _ in CORPUS}
    for doc_id, score in stage.seen.items():
        assert score == pytest.approx(dense[doc_id], abs=1e-5)  # the cosine, not 1 / (2 + rank)
