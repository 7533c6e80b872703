"""Late interaction: MaxSim, the zero-shot encoder over a bi-encoder's token vectors, and the MaxSim rerank stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recallrank import Document, InvalidInputError, ModelLoadError
from recallrank.index.base import Hit
from recallrank.models.late_interaction import LateInteractionEncoder, maxsim
from recallrank.rerank.maxsim import MaxSimReranker
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def encoder() -> LateInteractionEncoder:
    enc = LateInteractionEncoder()
    enc.warm_up()
    return enc


def test_maxsim_is_the_sum_of_each_query_tokens_best_match() -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    d = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, -1.0]])
    assert maxsim(q, d) == pytest.approx(1.0 + 0.8)
    assert maxsim(q, np.zeros((0, 2))) == 0.0


def test_constructor_loads_nothing() -> None:
    enc = LateInteractionEncoder("/no/such/colbert")
    assert enc._model is None
    with pytest.raises(ModelLoadError, match="does not exist"):
        enc.encode_queries(["x"])


def test_zero_shot_token_vectors_are_normalised_and_match_sentence_transformers(
        encoder: LateInteractionEncoder) -> None:
    [q] = encoder.encode_queries(["Apple company market value"])
    docs = encoder.encode_documents([CORPUS[0][1], CORPUS[1][1]])
    assert q.dtype == np.float32 and q.shape[1] == 384 and docs[0].shape[0] > q.shape[0]
    assert np.allclose(np.linalg.norm(docs[0], axis=1), 1.0, atol=1e-4)
    ours = [maxsim(q, d) for d in docs]
    theirs = encoder.model.similarity([q], docs)[0].tolist()
    assert ours == pytest.approx(theirs, rel=1e-4)


def test_maxsim_reranker_reads_the_ambiguous_example(encoder: LateInteractionEncoder) -> None:
    hits = [Hit(id=f"p{i}", score=0.5 - i / 10, document=Document(text, meta, id=doc_id))
            for i, (doc_id, text, meta) in enumerate(reversed(CORPUS))]
    before = [h.document for h in hits]
    results = MaxSimReranker(encoder).rerank("Apple company market value", hits, top_n=2)
    assert [r.document.id for r in results] == ["apple-inc", "apple-fruit"]
    assert results[0].relevance_score > results[1].relevance_score
    assert results[0].retrieval_score == pytest.approx(0.5 - 4 / 10) and results[0].point_id == "p4"
    assert [h.document for h in hits] == before  # inputs untouched


def test_a_saved_checkpoint_loads_through_the_same_class(encoder: LateInteractionEncoder, tmp_path: Path) -> None:
    encoder.save(tmp_path / "colbert")
    loaded = LateInteractionEncoder(str(tmp_path / "colbert"))
    a = encoder.encode_documents(["Qdrant is a vector database."])[0]
    b = loaded.encode_documents(["Qdrant is a vector database."])[0]
    assert np.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda e: e.encode_queries("one string"), "not a single string"),
    (lambda e: e.encode_documents(["fine", " "]), "document 1 is empty"),
    (lambda e: LateInteractionEncoder(batch_size=0), "batch_size must be a positive int"),
])
def test_bad_input(encoder: LateInteractionEncoder, call: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call(encoder)  # type: ignore[operator]


def test_zero_shot_leaves_out_cls_and_sep(encoder: LateInteractionEncoder) -> None:
    [q] = encoder.encode_queries(["apple company"])  # [CLS] apple company [SEP]: the two words only
    assert q.shape == (2, 384)
