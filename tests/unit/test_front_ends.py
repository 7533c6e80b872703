"""One behaviour everywhere: one query through the core, the CLI (``--json``), LangChain, Haystack (component and
pipeline) and LlamaIndex returns the same ids, order and scores, with the same score fields; and the drop-in
rerankers of foreign documents (LangChain compressor, Haystack ranker, LlamaIndex postprocessor) give one answer
and get the design's example right."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from recallrank import Document, EdgeStore, TwoStageRetriever
from recallrank.documents import SCORE_FIELDS
from recallrank.testing import SAMPLE_CORPUS

COLLECTION = "front-ends"
QUERY = "Apple company market value"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("front-ends") / "index"
    store = EdgeStore(path, COLLECTION)
    TwoStageRetriever(store).add_documents([Document(t, m, i) for i, t, m in SAMPLE_CORPUS])
    store.close()
    return path


def _core(path: Path) -> list[dict[str, Any]]:
    store = EdgeStore(path, COLLECTION)
    try:
        results = TwoStageRetriever(store).search(QUERY).results
        return [{"id": r.document.id, **r.score_fields()} for r in results]
    finally:
        store.close()


def _cli(path: Path) -> list[dict[str, Any]]:
    from recallrank.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["search", QUERY, "--path", str(path), "--collection", COLLECTION, "--json"])
    assert code in (0, None)
    return [{"id": r["id"], **{k: r[k] for k in SCORE_FIELDS}} for r in json.loads(out.getvalue())["results"]]


def _langchain(path: Path) -> list[dict[str, Any]]:
    from recallrank.langchain import RecallrankRetriever

    retriever = RecallrankRetriever.from_existing_collection(COLLECTION, path=path)
    try:
        docs = retriever.invoke(QUERY)
        return [{"id": d.id, **{k: d.metadata[k] for k in SCORE_FIELDS}} for d in docs]
    finally:
        retriever.store.close()


def _haystack_store(path: Path) -> Any:
    from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore

    return RecallrankDocumentStore(path=str(path), collection=COLLECTION)


def _haystack_docs(docs: list[Any]) -> list[dict[str, Any]]:
    for d in docs:
        assert d.score == d.meta["score"]
    return [{"id": d.id, **{k: d.meta[k] for k in SCORE_FIELDS}} for d in docs]


def _haystack(path: Path) -> list[dict[str, Any]]:
    from haystack_integrations.components.retrievers.recallrank import RecallrankRetriever

    store = _haystack_store(path)
    try:
        return _haystack_docs(RecallrankRetriever(document_store=store).run(query=QUERY)["documents"])
    finally:
        store.close()


def _haystack_pipeline(path: Path) -> list[dict[str, Any]]:
    from haystack import Pipeline
    from haystack_integrations.components.retrievers.recallrank import RecallrankRetriever

    store = _haystack_store(path)
    try:
        pipeline = Pipeline()
        pipeline.add_component("retriever", RecallrankRetriever(document_store=store))
        return _haystack_docs(pipeline.run({"retriever": {"query": QUERY}})["retriever"]["documents"])
    finally:
        store.close()


def _llamaindex(path: Path) -> list[dict[str, Any]]:
    from llama_index.retrievers.recallrank import RecallrankRetriever

    store = EdgeStore(path, COLLECTION)
    try:
        nodes = RecallrankRetriever.from_store(store).retrieve(QUERY)
        for n in nodes:
            assert n.score == n.node.metadata["score"]
        return [{"id": n.node.node_id, **{k: n.node.metadata[k] for k in SCORE_FIELDS}} for n in nodes]
    finally:
        store.close()


FRONT_ENDS = {"cli": _cli, "langchain": _langchain, "haystack": _haystack, "haystack-pipeline": _haystack_pipeline,
              "llamaindex": _llamaindex}


@pytest.fixture(scope="module")
def reference(built: Path) -> list[dict[str, Any]]:
    rows = _core(built)
    assert [r["id"] for r in rows][:2] == ["apple-inc", "apple-fruit"], rows  # the design's example, by default
    assert {r["score_stage"] for r in rows} == {"maxsim"}  # the default rerank after all-MiniLM-L6-v2
    assert len(rows) == len(SAMPLE_CORPUS)
    # calibrated: the company is relevant, the fruit is not (every front end carries the same probability)
    assert rows[0]["probability"] > 0.5 > rows[1]["probability"]
    return rows


@pytest.mark.parametrize("front_end", sorted(FRONT_ENDS))
def test_one_query_same_ids_order_and_scores_through_every_front_end(built: Path, reference: list[dict[str, Any]],
                                                                      front_end: str) -> None:
    rows = FRONT_ENDS[front_end](built)
    assert [r["id"] for r in rows] == [r["id"] for r in reference]
    for got, want in zip(rows, reference, strict=True):
        for key in SCORE_FIELDS:
            if isinstance(want[key], float):
                assert got[key] == pytest.approx(want[key], abs=1e-6), (front_end, got["id"], key)
            else:
                assert got[key] == want[key], (front_end, got["id"], key)


# -- foreign documents: one routine, one answer -------------------------------------------------------------------
FOREIGN = [(i, t) for i, t, _ in SAMPLE_CORPUS]
#: what a plain all-MiniLM-L6-v2 vector store returns for QUERY (cosine, best first)
COSINE = {"apple-inc": 0.752, "apple-fruit": 0.564, "tea": 0.080, "qdrant": 0.031, "python": -0.026}
#: the design's trap: the fruit text arrives first, by a hair
CLOSE = {"apple-fruit": 0.71, "apple-inc": 0.69, "qdrant": 0.2, "python": 0.1, "tea": 0.05}
CASES = {"order-only": (list(COSINE), None), "cosine-scores": (list(COSINE), COSINE),
         "fruit-first-by-a-hair": (list(CLOSE), CLOSE)}


def _foreign_langchain(arrival: list[str], scores: dict[str, float] | None) -> list[tuple[str, float]]:
    from langchain_core.documents import Document as LCDocument

    from recallrank.langchain import CrossEncoderCompressor

    text = dict(FOREIGN)
    docs = [LCDocument(page_content=text[i], id=i, metadata={"retrieval_score": scores[i]} if scores else {})
            for i in arrival]
    out = CrossEncoderCompressor(top_n=3).compress_documents(docs, QUERY)
    return [(str(d.id), d.metadata["score"]) for d in out]


def _foreign_haystack(arrival: list[str], scores: dict[str, float] | None) -> list[tuple[str, float]]:
    from haystack import Document as HDocument
    from haystack_integrations.components.rankers.recallrank import RecallrankRanker

    text = dict(FOREIGN)
    docs = [HDocument(id=i, content=text[i], score=scores[i] if scores else None) for i in arrival]
    out = RecallrankRanker(top_k=3).run(QUERY, docs)["documents"]
    return [(d.id, d.score) for d in out]


def _foreign_llamaindex(arrival: list[str], scores: dict[str, float] | None) -> list[tuple[str, float]]:
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.recallrank_rerank import RecallrankRerank

    text = dict(FOREIGN)
    nodes = [NodeWithScore(node=TextNode(id_=i, text=text[i]), score=scores[i] if scores else None)
             for i in arrival]
    out = RecallrankRerank(top_n=3).postprocess_nodes(nodes, QueryBundle(QUERY))
    return [(n.node.node_id, float(n.score or 0.0)) for n in out]


@pytest.mark.parametrize("case", sorted(CASES))
def test_foreign_rerankers_agree_and_put_the_company_first(case: str) -> None:
    arrival, scores = CASES[case]
    answers = {name: fn(arrival, scores) for name, fn in [("langchain", _foreign_langchain),
                                                          ("haystack", _foreign_haystack),
                                                          ("llamaindex", _foreign_llamaindex)]}
    first = answers["langchain"]
    assert first[0][0] == "apple-inc", first
    for name, got in answers.items():
        assert [i for i, _ in got] == [i for i, _ in first], name
        assert [s for _, s in got] == pytest.approx([s for _, s in first], abs=1e-6), name


# -- an honest "nothing relevant": the same abstention through every front end ------------------------------------
OFF_TOPIC = "what is the boiling point of olive oil in a frying pan"


def test_an_off_topic_question_abstains_through_every_front_end(built: Path) -> None:
    from haystack_integrations.components.retrievers.recallrank import RecallrankRetriever as HaystackRetriever
    from llama_index.retrievers.recallrank import RecallrankRetriever as LlamaRetriever

    from recallrank.cli import main
    from recallrank.langchain import RecallrankRetriever as LangChainRetriever

    store = EdgeStore(built, COLLECTION)
    try:
        core = TwoStageRetriever(store).search(OFF_TOPIC)
        assert core.abstained and core.results == [] and core.best_probability is not None
        assert core.best_probability < core.min_probability == 0.15
        assert len(TwoStageRetriever(store).search(OFF_TOPIC, min_probability=0)) == len(SAMPLE_CORPUS)
        llama = LlamaRetriever.from_store(store)
        assert llama.retrieve(OFF_TOPIC) == [] and llama.last_abstained
        assert llama.last_best_probability == pytest.approx(core.best_probability, abs=1e-6)
    finally:
        store.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["search", OFF_TOPIC, "--path", str(built), "--collection", COLLECTION, "--json"])
    cli = json.loads(out.getvalue())
    assert cli["abstained"] is True and cli["results"] == []
    assert cli["best_probability"] == pytest.approx(core.best_probability, abs=1e-6)
    lc = LangChainRetriever.from_existing_collection(COLLECTION, path=built)
    try:
        assert lc.invoke(OFF_TOPIC) == []
        assert len(lc.invoke(OFF_TOPIC, min_probability=0)) == len(SAMPLE_CORPUS)
    finally:
        lc.store.close()
    hs_store = _haystack_store(built)
    try:
        out_hs = HaystackRetriever(document_store=hs_store).run(query=OFF_TOPIC)
        assert out_hs["documents"] == [] and out_hs["abstained"] is True
        assert out_hs["best_probability"] == pytest.approx(core.best_probability, abs=1e-6)
    finally:
        hs_store.close()
