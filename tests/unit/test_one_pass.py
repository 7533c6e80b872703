"""One forward pass of the recall model gives the dense vector and the zero-shot MaxSim stage's token vectors, at
ingest and for the query; the token vectors are what the stage would compute on its own (punctuation dropped on the
document side only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recallrank import BiEncoder, Document, EdgeStore, TwoStageRetriever
from recallrank.models.late_interaction import LateInteractionEncoder
from recallrank.rerank.maxsim import MaxSimReranker
from tests.conftest import CORPUS


@pytest.fixture
def tiny(tiny_bi: str, tmp_path: Path) -> str:
    """A private copy, so the exports these tests make land in this test's folder, not the shared model's."""
    import shutil

    shutil.copytree(tiny_bi, tmp_path / "bi")
    return str(tmp_path / "bi")


def counted(encoder: BiEncoder) -> list[int]:
    calls = [0]
    forward = encoder._forward

    def counting(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return forward(*args, **kwargs)  # type: ignore[arg-type]

    encoder._forward = counting  # type: ignore[method-assign]
    return calls


def test_ingest_and_search_run_the_model_once(tiny: str, tmp_path: Path) -> None:
    encoder = BiEncoder(tiny, batch_size=64)
    stage = MaxSimReranker(LateInteractionEncoder.zero_shot(tiny), field="maxsim")
    retriever = TwoStageRetriever(EdgeStore(tmp_path, "c"), encoder, stage, top_k=5, top_n=3)
    assert stage.encoder.runner is encoder  # the stage reads the recall model's pass
    retriever.add_documents([Document(text, meta, doc_id) for doc_id, text, meta in CORPUS[:2]])
    calls = counted(encoder)  # from here on: the collection's model record and the field exist
    retriever.add_documents([Document(text, meta, doc_id) for doc_id, text, meta in CORPUS[2:]])
    assert calls[0] == 1  # three short documents: one batch, one pass for both kinds of vectors
    assert retriever.store.multivector_fields() == {"maxsim": 384}
    assert list(retriever.store.without_multivector("maxsim")) == []
    calls[0] = 0
    found = retriever.search("apple stock price")
    assert calls[0] == 1 and len(found) == 3 and found.results[0].relevance_score is not None
    retriever.store.close()


def test_the_shared_pass_gives_the_stages_own_vectors(tiny: str) -> None:
    tiny_bi = tiny
    texts = ["Qdrant is a vector database (fast, open-source).", "...", "apple: stock price?"]
    alone = LateInteractionEncoder.zero_shot(tiny_bi)
    shared = LateInteractionEncoder.zero_shot(tiny_bi)
    encoder = BiEncoder(tiny_bi)
    assert shared.share_pass(encoder)
    _, tokens = encoder.encode_with_tokens(texts, skip=shared.document_skip)
    for a, b in zip(alone.encode_documents(texts), tokens, strict=True):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)
    _, everything = encoder.encode_with_tokens(texts)
    assert len(everything[0]) - len(tokens[0]) == 5  # ( , - ) . dropped
    assert len(tokens[1]) == len(everything[1]) > 0  # a text of punctuation alone keeps it
    [query] = alone.encode_queries(["apple: stock price?"])
    assert len(query) == len(everything[2])  # queries keep their punctuation
    assert not shared.share_pass(BiEncoder(tiny_bi, max_length=16))  # another token limit: its own pass


@pytest.mark.parametrize("text", ["plain words", "  padded\\twith\\nspace  ", "emoji 🙂 and 中文", "a " * 400])
def test_the_light_start_gives_the_same_vectors(tiny: str, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached compiled model loads with the tokenizers library alone; vectors and token vectors are the same."""
    from recallrank.models import bi_encoder

    tiny_bi = tiny
    warm = BiEncoder(tiny_bi)
    full_dense, full_tokens = warm.encode_with_tokens([text])  # loads sentence-transformers, exports once
    light = BiEncoder(tiny_bi)
    model = light.warm_up()
    assert type(model).__name__ == "LightModel"
    dense, tokens = light.encode_with_tokens([text])
    assert np.allclose(dense, full_dense, atol=1e-6) and np.allclose(tokens[0], full_tokens[0], atol=1e-6)
    monkeypatch.setattr(bi_encoder, "light_model", lambda *a: None)
    assert type(BiEncoder(tiny_bi).warm_up()).__name__ == "SentenceTransformer"
