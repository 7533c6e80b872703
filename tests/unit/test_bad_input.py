"""Bad input: a clear error (or a defined result) and nothing already stored is lost."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from recallrank import (
    BiEncoder,
    CollectionMismatchError,
    CrossEncoderReranker,
    Document,
    EdgeStore,
    InvalidInputError,
    ModelLoadError,
    QdrantServerStore,
    TwoStageRetriever,
)
from recallrank.index.base import StoredPoint, point_id, to_payload


@pytest.fixture
def bi_only(tmp_path: Path, encoder: BiEncoder) -> TwoStageRetriever:
    r = TwoStageRetriever(EdgeStore(tmp_path, "bad"), encoder, False)
    r.add_texts(["first stored text", "second stored text"])
    return r


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query(bi_only: TwoStageRetriever, query: str) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        bi_only.search(query)


@pytest.mark.parametrize("query", [None, 42, b"bytes"])
def test_non_string_query(bi_only: TwoStageRetriever, query: object) -> None:
    with pytest.raises(InvalidInputError, match="must be a str"):
        bi_only.search(query)  # type: ignore[arg-type]


def test_empty_document_list_is_a_noop(bi_only: TwoStageRetriever) -> None:
    report = bi_only.add_documents([])
    assert (report.added, report.updated, report.unchanged) == (0, 0, 0)
    assert bi_only.store.count() == 2


@pytest.mark.parametrize("text", [None, 3.5, "", "  "])
def test_bad_document_text_stores_nothing(bi_only: TwoStageRetriever, text: object) -> None:
    with pytest.raises(InvalidInputError, match="document 1 text"):
        bi_only.add_documents([Document("fine text"), Document(text)])  # type: ignore[arg-type]
    assert bi_only.store.count() == 2  # the valid first document was not written either


@pytest.mark.parametrize(("meta", "message"), [
    ({"when": datetime(2024, 1, 1)}, r"document 0: metadata\.when is a datetime .* not JSON-serialisable"),
    ({"x": math.nan}, r"document 0: metadata\.x = nan: NaN and infinity"),
    ({"s": {1, 2}}, r"document 0: metadata\.s is a set"),
])
def test_non_json_metadata_names_the_key(bi_only: TwoStageRetriever, meta: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        bi_only.add_documents([Document("text with bad metadata", metadata=meta)])
    assert bi_only.store.count() == 2


def test_single_document_instead_of_list(bi_only: TwoStageRetriever) -> None:
    with pytest.raises(InvalidInputError, match="list of documents"):
        bi_only.add_documents(Document("one"))  # type: ignore[arg-type]


def test_mismatched_lengths(bi_only: TwoStageRetriever) -> None:
    with pytest.raises(InvalidInputError, match="2 texts but 1 metadatas"):
        bi_only.add_texts(["a", "b"], metadatas=[{}])


def test_very_long_document_is_stored_whole_and_truncation_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bi_only = TwoStageRetriever(EdgeStore(tmp_path, "long"), BiEncoder(), False)
    long_text = "recall and rerank " * 3000
    with caplog.at_level(logging.WARNING):
        report = bi_only.add_texts([long_text])
    assert report.added == 1
    assert "1 of 1 documents are longer than 256 tokens" in caplog.text
    assert bi_only.encoder.truncated >= 1
    hit = bi_only.search("recall and rerank", top_n=1).results[0]
    assert hit.text == long_text


def test_reranker_reports_truncated_pairs_once(caplog: pytest.LogCaptureFixture) -> None:
    rr = CrossEncoderReranker()
    with caplog.at_level(logging.WARNING):
        rr.rerank("query", ["short text", "long text " * 2000])
        rr.rerank("query", ["long text " * 2000, "another long text " * 2000])
    assert caplog.text.count("query-document pairs are longer than") == 1  # said once, not per call
    assert "1 of 2 query-document pairs are longer than" in caplog.text
    assert (rr.last_truncated, rr.truncated) == (2, 3)


@pytest.mark.parametrize("top_k,top_n", [(0, 10), (10, 0), (-1, 5)])
def test_bad_k(bi_only: TwoStageRetriever, top_k: int, top_n: int) -> None:
    with pytest.raises(InvalidInputError, match="must be a positive int"):
        bi_only.search("query", top_k=top_k, top_n=top_n)


def test_dimension_mismatch_with_another_model(tmp_path: Path, encoder: BiEncoder) -> None:
    store = EdgeStore(tmp_path, "dim")
    store.ensure_collection(8, "cosine")
    store.upsert([StoredPoint("00000000-0000-0000-0000-000000000001", np.ones(8), {"text": "old"})])
    r = TwoStageRetriever(store, encoder, False)
    with pytest.raises(CollectionMismatchError, match=r"8-d cosine vectors but the model makes 384-d cosine"):
        r.add_texts(["new text"])
    assert store.count() == 1


def test_unknown_model_path_fails_on_first_use_not_in_constructor(tmp_path: Path) -> None:
    enc = BiEncoder(str(tmp_path / "no-such-model"))  # no I/O here
    rr = CrossEncoderReranker(str(tmp_path / "no-such-reranker"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        enc.encode_queries(["x"])
    with pytest.raises(ModelLoadError, match="does not exist"):
        rr.score("q", ["d"])


def test_unknown_hub_id_offline_says_so() -> None:
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE=1"):
        BiEncoder("no-such-org/no-such-model").warm_up()


def test_bad_constructor_values() -> None:
    with pytest.raises(ValueError, match="pooling"):
        BiEncoder(pooling="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="similarity"):
        BiEncoder(similarity="hamming")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="activation"):
        CrossEncoderReranker(activation="softmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="url"):
        QdrantServerStore()


def test_bad_filter(bi_only: TwoStageRetriever) -> None:
    with pytest.raises(InvalidInputError, match="filter must be a dict"):
        bi_only.search("query", filter=["topic"])  # type: ignore[arg-type]


@pytest.fixture
def with_maxsim(tmp_path: Path, tiny_bi: str) -> TwoStageRetriever:
    """The real MiniLM tokenizer (one layer), with the default kind of stage: zero-shot MaxSim kept in the store."""
    from recallrank.models.late_interaction import LateInteractionEncoder
    from recallrank.rerank.maxsim import MaxSimReranker

    stage = MaxSimReranker(LateInteractionEncoder.zero_shot(tiny_bi), field="maxsim")
    return TwoStageRetriever(EdgeStore(tmp_path, "words"), BiEncoder(tiny_bi), stages=[stage])


@pytest.mark.parametrize("text", ["\u200b\u200b", "\x01\x02\x03", "\u0301\u0301", "[SEP]"])
def test_a_text_without_model_tokens_is_refused_before_anything_is_written(
        with_maxsim: TwoStageRetriever, text: str) -> None:
    """Issue 21 case 6: zero-width spaces (or control characters) passed validation, then failed mid-ingest."""
    docs = ["first fine text", text, "third fine text"]
    with pytest.raises(InvalidInputError, match=r"document 1 has no words the model can read .*nothing was written"):
        with_maxsim.add_texts(docs)
    with pytest.raises(InvalidInputError, match=r"document 1 has no words the model can read"):
        with_maxsim.add_documents(Document(t) for t in docs)  # streamed: refused with its batch
    assert not with_maxsim.store.exists()
    report = with_maxsim.add_texts(["first fine text", "🍎", "---"])  # [UNK] and punctuation are words to it
    assert report.added == 3 and list(with_maxsim.store.without_multivector("maxsim")) == []  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match=r"^the query has no words the model can read"):
        with_maxsim.search(text)
    assert with_maxsim.search("fine text", top_n=1).results[0].text == "first fine text"


def test_points_stored_without_words_do_not_fail_every_later_ingest(
        with_maxsim: TwoStageRetriever, caplog: pytest.LogCaptureFixture) -> None:
    """A store written before ingest refused such texts: filling the missing token vectors skips them, says so."""
    store = with_maxsim.store
    store.ensure_collection(with_maxsim.encoder.dimension, "cosine")
    docs = [Document("a text with words"), Document("\u200b\u200b"), Document("more words")]
    vectors = with_maxsim.encoder.encode_documents([d.text for d in docs])
    store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(docs, vectors, strict=True)])
    with caplog.at_level(logging.WARNING):
        assert with_maxsim.add_stage_vectors() == 2
    assert f"1 stored point(s) have no words the 'maxsim' stage can read, so they get no token vectors: " \
           f"{point_id(docs[1])}" in caplog.text
    assert [pid for pid, _ in store.without_multivector("maxsim")] == [point_id(docs[1])]  # type: ignore[attr-defined]
