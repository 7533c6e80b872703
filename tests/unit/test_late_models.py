"""The trained late-interaction models shipped in recallrank-late-minilm, loaded as a user loads them, and the
named stages that build cascades from text (``--stages``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recallrank import Document, EdgeStore, InvalidInputError, ModelLoadError, TwoStageRetriever
from recallrank.cascade import parse_stages, shipped_model
from recallrank.models._delta import DELTA_NAME
from recallrank.models.late_interaction import LateInteractionEncoder, maxsim
from recallrank.models.poly_encoder import PolyEncoder
from recallrank.rerank.maxsim import MaxSimReranker
from recallrank.rerank.poly import PolyReranker
from tests.conftest import CORPUS
from tests.unit.test_cli import run

DOCS = ["Postfix is a mail transport agent.", "A game of chess."]


@pytest.fixture(scope="module")
def colbert(tmp_path_factory: pytest.TempPathFactory) -> LateInteractionEncoder:
    mp = pytest.MonkeyPatch()
    mp.setenv("RECALLRANK_CACHE", str(tmp_path_factory.mktemp("cache")))
    enc = LateInteractionEncoder(shipped_model("colbert"))
    enc.warm_up()  # assembles the checkpoint into the temporary cache
    mp.undo()
    return enc


def test_the_shipped_colbert_loads_through_the_same_class_with_markers_and_skiplist(
        colbert: LateInteractionEncoder) -> None:
    assert (Path(shipped_model("colbert")) / DELTA_NAME).is_file()  # shipped as a delta over the bundled MiniLM
    q = colbert.encode_queries(["install a mail server"])[0]
    docs = colbert.encode_documents(DOCS)
    assert q.shape == (7, 128) and colbert.dimension == 128  # [CLS] [unused0] 4 words [SEP]
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    # [CLS] [unused1] post ##fi ##x is a mail transport agent . [SEP]: the "." is skipped on the document side
    assert len(docs[0]) == 11 == len(colbert.encode_documents([DOCS[0].rstrip(".")])[0])
    # pinned scores of the released model (regression guard for loading, markers and the projection)
    assert [maxsim(q, d) for d in docs] == pytest.approx([4.6888, 0.2486], abs=2e-3)


def test_the_assembled_checkpoint_is_a_plain_multivector_encoder_folder(colbert: LateInteractionEncoder,
                                                                         tmp_path: Path) -> None:
    from recallrank.models._delta import assemble
    from recallrank.models._loading import default_bi_encoder_path

    folder = assemble(shipped_model("colbert"), default_bi_encoder_path(), tmp_path)
    assert (folder / "model.safetensors").is_file() and not (folder / DELTA_NAME).exists()
    again = LateInteractionEncoder(str(folder))  # by path, exactly as a hub checkpoint folder loads
    assert np.allclose(again.encode_documents(DOCS[:1])[0], colbert.encode_documents(DOCS[:1])[0], atol=1e-3)


def test_the_shipped_poly_encoder_scores_stored_bi_encoder_vectors(encoder) -> None:  # type: ignore[no-untyped-def]
    poly = PolyEncoder(shipped_model("poly"))
    q = poly.encode_queries(["install a mail server"])
    assert q.shape == (1, 16, 384)
    scores = poly.score(q[0], encoder.encode_documents(DOCS))  # the stored vectors: the default runtime's
    # per runtime of the bi-encoder: OpenVINO's static int8 vectors move the scores by 0.014 (measured on an AVX2
    # CPU; 5e-3 covers its float parts in bf16 where the CPU has bf16), bf16 vectors (cosine > 0.999) by less
    expected, tolerance = {"fp32": ([0.4147, 0.1107], 2e-3), "bf16": ([0.4147, 0.1107], 1e-2),
                           "int8": ([0.4006, 0.1191], 5e-3)}[encoder.precision]
    assert scores.tolist() == pytest.approx(expected, abs=tolerance), (encoder.backend, encoder.precision)
    with pytest.raises(ModelLoadError, match="not a Poly-encoder folder"):
        PolyEncoder("/nonexistent/poly").encode_queries(["q"])


def test_named_stages_are_checked_before_models_load() -> None:
    stages = parse_stages("maxsim:30,cross")
    assert [(type(s.reranker).__name__, s.keep) for s in stages] == [("MaxSimReranker", 30),
                                                                     ("CrossEncoderReranker", None)]
    assert isinstance(parse_stages("poly")[0].reranker, PolyReranker)
    for bad, message in [("maxsim:30,bm25", "unknown stage 'bm25'"), ("maxsim:x", "NAME:N"),
                         ("cross:5,maxsim:10", "must not grow"), ("", "empty")]:
        with pytest.raises(InvalidInputError, match=message):
            parse_stages(bad)


def test_a_colbert_cascade_over_the_embedded_store(tmp_path: Path, encoder) -> None:  # type: ignore[no-untyped-def]
    stages = [(MaxSimReranker(LateInteractionEncoder(shipped_model("colbert")), field="colbert"), 3),
              PolyReranker(PolyEncoder(shipped_model("poly")))]
    r = TwoStageRetriever(EdgeStore(tmp_path, "c"), encoder, stages=stages, top_k=5, top_n=2)
    r.add_documents([Document(t, m, id=i) for i, t, m in CORPUS])
    assert r.store.multivector_fields() == {"colbert": 128}
    res = r.search("which vector database is written in Rust?")
    assert res.results[0].document.id == "qdrant" and len(res) == 2


def test_cli_index_and_search_with_stages(tmp_path: Path) -> None:
    src = tmp_path / "notes"
    src.mkdir()
    for doc_id, text, _ in CORPUS:
        (src / f"{doc_id}.txt").write_text(text)
    args = ["--path", str(tmp_path / "idx"), "--stages", "maxsim:3,cross"]
    first = run("index", str(src), "--json", "--no-progress", *args)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["added"] == 5
    again = json.loads(run("index", str(src), "--json", "--no-progress", *args).stdout)
    assert again["added"] == again["updated"] == again["stage_vectors_added"] == 0  # a no-op
    out = run("search", "vector database in Rust", "--json", "--top-n", "2", *args)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["results"][0]["metadata"]["_recallrank"]["source"].endswith("qdrant.txt")
    bad = run("search", "q", "--stages", "maxsim:3,bm25", "--path", str(tmp_path / "idx"))
    assert bad.returncode == 2 and "unknown stage 'bm25'" in bad.stderr


def test_langchain_retriever_takes_a_cascade(tmp_path: Path, encoder) -> None:  # type: ignore[no-untyped-def]
    from recallrank.langchain import RecallrankRetriever

    stages = [(MaxSimReranker(field="maxsim"), 3), PolyReranker(PolyEncoder(shipped_model("poly")))]
    retriever = RecallrankRetriever(store=EdgeStore(tmp_path, "lc"), encoder=encoder, stages=stages, top_k=5, k=2)
    retriever.add_texts([t for _, t, _ in CORPUS], metadatas=[m for _, _, m in CORPUS], ids=[i for i, _, _ in CORPUS])
    docs = retriever.invoke("Which database is written in Rust?")
    assert len(docs) == 2 and "Qdrant" in docs[0].page_content
    assert docs[0].metadata["relevance_score"] is not None and docs[0].metadata["retrieval_score"] is not None
    assert retriever.store.multivector_fields() == {"maxsim": 384}
    with pytest.raises(ValueError, match="must not grow"):
        RecallrankRetriever(store=EdgeStore(tmp_path, "lc2"), stages=[(MaxSimReranker(), 2), (MaxSimReranker(), 5)])
