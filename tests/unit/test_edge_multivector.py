"""Token vectors in the embedded engine: a MaxSim multivector field beside the dense vector, added to an existing
collection, filled in, scored inside Qdrant, kept by doctor's rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recallrank import (
    CollectionMismatchError,
    CollectionSettings,
    Document,
    EdgeStore,
    InvalidInputError,
    StoreError,
    TwoStageRetriever,
)
from recallrank.index.embedded.doctor import check_edge
from recallrank.models.late_interaction import maxsim
from tests.fakes import HashEncoder

DIM, TOK = 16, 8


def tokens(text: str) -> np.ndarray:
    """Deterministic, normalised token vectors for a text (one per word)."""
    rows = HashEncoder(TOK).encode_documents(text.split())
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path: Path) -> EdgeStore:
    # fp16 storage: these tests check the engine's MaxSim against numpy's to fp16 precision (the default, turbo4,
    # is approximate: see test_the_default_storage_is_turbo4_and_close_to_exact)
    s = EdgeStore(tmp_path, "c", full_scan_threshold_kb=1, settings=CollectionSettings(token_storage="float16"))
    TwoStageRetriever(s, HashEncoder(DIM), False).add_documents(  # type: ignore[arg-type]
        [Document(f"word{i} word{i % 7} common text", {"i": i}, id=f"d{i}") for i in range(300)])
    return s


def fill(store: EdgeStore) -> dict[str, np.ndarray]:
    store.ensure_multivector("colbert", TOK, model="test")
    stored = {pid: tokens(text) for pid, text in store.without_multivector("colbert", batch=64)}
    store.write_multivectors("colbert", stored)
    return stored


def test_a_field_added_to_an_existing_collection_is_filled_and_scored_in_the_engine(store: EdgeStore) -> None:
    """Scores agree with numpy to fp16 precision: token vectors are stored as fp16."""
    assert store.multivector_fields() == {}
    store.ensure_multivector("colbert", TOK, model="test")
    assert len(list(store.without_multivector("colbert"))) == 300  # nothing filled yet
    stored = fill(store)
    assert len(stored) == 300 and list(store.without_multivector("colbert")) == []
    query = tokens("word3 common")
    ids = list(stored)[:40]
    scores = store.maxsim_scores("colbert", query, ids)
    assert set(scores) == set(ids)
    assert [scores[i] for i in ids] == pytest.approx([maxsim(query, stored[i]) for i in ids], rel=1e-3)
    hits = store.search_rescored("colbert", HashEncoder(DIM).encode_queries(["word3"])[0], query, 50, 5,
                              flt={"i": list(range(0, 300, 2))})
    assert len(hits) == 5 and all(h.document.metadata["i"] % 2 == 0 for h in hits)
    assert [h.score for h in hits] == pytest.approx(sorted((maxsim(query, stored[h.id]) for h in hits),
                                                           reverse=True), rel=1e-3)
    assert store.count() == 300 and store.counts() == (300, 300)  # the dense vectors are untouched


def test_the_field_survives_reopen_and_a_mismatch_is_named(store: EdgeStore, tmp_path: Path) -> None:
    fill(store)
    store.close()
    meta = json.loads((tmp_path / "c" / "recallrank.json").read_text())
    assert meta["multivectors"] == {"colbert": {"dimension": TOK, "model": "test"}} and meta["pending"] is False
    engine = json.loads((tmp_path / "c" / "edge_config.json").read_text())["vectors"]
    assert engine["colbert"]["hnsw_config"]["m"] == 0  # token vectors rescore candidates: no graph is built
    assert engine["colbert"]["multivector_config"] == {"comparator": "max_sim"} and engine[""]["size"] == DIM
    again = EdgeStore(tmp_path, "c")
    assert again.multivector_fields() == {"colbert": TOK}
    assert len(again.maxsim_scores("colbert", tokens("word1"), ["00000000-0000-0000-0000-000000000000"])) == 0
    with pytest.raises(CollectionMismatchError, match="holds 8-d 'colbert' token vectors but the model makes 4-d"):
        again.ensure_multivector("colbert", 4)
    with pytest.raises(StoreError, match=r"has no 'other' token vectors .*ensure_multivector"):
        again.maxsim_scores("other", tokens("x"), ["a"])
    with pytest.raises(InvalidInputError, match=r"token vectors must be a non-empty, finite \(tokens, 8\)"):
        again.write_multivectors("colbert", {"00000000-0000-0000-0000-000000000001": np.ones((2, 3))})
    with pytest.raises(InvalidInputError, match="field name"):
        again.ensure_multivector("bad name", 8)
    again.close()


def test_doctor_keeps_token_vectors_when_it_rebuilds(store: EdgeStore, tmp_path: Path) -> None:
    stored = fill(store)
    store.close()
    segments = [s for s in (tmp_path / "c" / "segments").iterdir() if (s / "payload_storage").exists()]
    assert check_edge(EdgeStore(tmp_path, "c")).findings == []
    # lose the dense vectors of the indexed segment: the rebuild re-embeds them and copies the token vectors
    for seg in segments:
        for matrix in seg.glob("vector_storage/matrix.dat"):
            matrix.write_bytes(matrix.read_bytes()[: matrix.stat().st_size // 3])
    report = check_edge(EdgeStore(tmp_path, "c"), repair=True, embed=HashEncoder(DIM).encode_documents)
    assert any("lost their vectors" in f.problem for f in report.findings)
    assert report.healthy and report.points == 300 and report.backup is not None
    again = EdgeStore(tmp_path, "c")
    assert list(again.without_multivector("colbert")) == []
    some = list(stored)[:10]
    got = again.maxsim_scores("colbert", tokens("word5"), some)
    assert [got[i] for i in some] == pytest.approx([maxsim(tokens("word5"), stored[i]) for i in some], rel=1e-3)
    again.close()


def test_doctor_finds_a_field_the_metadata_does_not_list(store: EdgeStore, tmp_path: Path) -> None:
    fill(store)
    store.close()
    meta_path = tmp_path / "c" / "recallrank.json"
    meta = json.loads(meta_path.read_text())
    del meta["multivectors"]  # as if the process died between adding the field and recording it
    meta_path.write_text(json.dumps(meta))
    report = check_edge(EdgeStore(tmp_path, "c"))
    assert [f.problem for f in report.findings] == [
        "recallrank.json lists token-vector fields [] but the engine holds ['colbert']"]
    assert check_edge(EdgeStore(tmp_path, "c"), repair=True).healthy
    again = EdgeStore(tmp_path, "c")
    assert again.multivector_fields() == {"colbert": TOK} and again.count() == 300
    again.close()


def test_a_field_stored_as_fp32_by_an_earlier_release_survives_adding_another(store: EdgeStore, tmp_path: Path) -> None:
    """0.2's first release created token fields with the engine's default (fp32); new fields are fp16, and the
    engine refuses to reopen a shard whose config changes an existing field's storage type."""
    import qdrant_edge as qe

    store.mark_pending()
    store.engine("add", store.shard().update, qe.UpdateOperation.create_dense_vector(
        "old", TOK, qe.Distance.Dot, qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim)))
    store.update_meta(multivectors={"old": {"dimension": TOK, "model": None}})
    old = {pid: tokens(text) for pid, text in store.without_multivector("old")}
    store.write_multivectors("old", old)
    store.finish_ingest()
    fill(store)  # adds "colbert" (fp16) beside it
    store.close()
    again = EdgeStore(tmp_path, "c")
    again.open()
    config = json.loads((again.location / "edge_config.json").read_text())["vectors"]
    assert config["old"].get("datatype", "float32").lower() == "float32"
    assert config["colbert"]["datatype"].lower() == "float16"
    some = list(old)[:5]
    assert [again.maxsim_scores("old", tokens("word5"), some)[i] for i in some] == pytest.approx(
        [maxsim(tokens("word5"), old[i]) for i in some], rel=1e-5)


def test_the_default_storage_is_turbo4_and_close_to_exact(tmp_path: Path) -> None:
    """A new field stores TurboQuant 4-bit codes; on 384-d unit token vectors the engine's MaxSim stays within a few
    percent of the exact one and ranks the documents built nearest the query first."""
    rng = np.random.default_rng(0)
    s = EdgeStore(tmp_path, "c")
    TwoStageRetriever(s, HashEncoder(DIM), False).add_documents(  # type: ignore[arg-type]
        [Document(f"text {i}", id=f"d{i}") for i in range(60)])
    s.ensure_multivector("maxsim", 384)
    query = rng.normal(size=(5, 384)).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    stored = {}
    for i, (pid, _) in enumerate(s.without_multivector("maxsim")):
        doc = rng.normal(size=(30, 384)) + (i % 6) * 0.3 * query[rng.integers(0, 5, 30)] * np.sqrt(384)
        stored[pid] = (doc / np.linalg.norm(doc, axis=1, keepdims=True)).astype(np.float32)
    s.write_multivectors("maxsim", stored)
    config = json.loads((tmp_path / "c" / "edge_config.json").read_text())["vectors"]
    assert config["maxsim"]["datatype"].lower() == "turbo4"
    got = s.maxsim_scores("maxsim", query, list(stored))
    exact = {pid: maxsim(query, t) for pid, t in stored.items()}
    assert max(abs(got[p] - exact[p]) for p in stored) < 0.05 * len(query)
    ids = list(stored)
    assert np.corrcoef([got[p] for p in ids], [exact[p] for p in ids])[0, 1] > 0.99
    top = {p for i, p in enumerate(ids) if i % 6 == 5}  # the documents built nearest the query
    assert set(sorted(ids, key=got.__getitem__, reverse=True)[:len(top)]) == top


@pytest.mark.parametrize("storage", ["float16", "turbo4"])
def test_a_lost_engine_config_is_rewritten_with_the_storage_its_segments_hold(tmp_path: Path, storage: str) -> None:
    """A collection written with fp16 token vectors (0.4) or TurboQuant codes, and its BM25 field, opens again after
    doctor rewrites a lost edge_config.json, whatever the default storage is now."""
    s = EdgeStore(tmp_path, "c", settings=CollectionSettings(token_storage=storage))  # type: ignore[arg-type]
    TwoStageRetriever(s, HashEncoder(DIM), False).add_documents(  # type: ignore[arg-type]
        [Document(f"word{i} text", id=f"d{i}") for i in range(50)])
    fill(s)
    s.add_sparse()
    s.close()
    (tmp_path / "c" / "edge_config.json").unlink()
    assert check_edge(EdgeStore(tmp_path, "c"), repair=True).healthy
    config = json.loads((tmp_path / "c" / "edge_config.json").read_text())
    assert config["vectors"]["colbert"]["datatype"] == storage and "bm25" in config["sparse_vectors"]
    again = EdgeStore(tmp_path, "c")
    some = [pid for pid, _ in again.scroll(["text"])][:5]
    assert again.count() == 50 and set(again.maxsim_scores("colbert", tokens("word3"), some)) == set(some)
    again.close()
    assert check_edge(EdgeStore(tmp_path, "c")).findings == []
