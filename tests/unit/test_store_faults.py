"""kill -9 at the worst moments: during an ingest, during the HNSW build after it, and between creating a store
and writing its metadata. A re-run of the same ingest must end with the right count, a built index and nothing
doubled. The child processes kill themselves with SIGKILL at the chosen point (no clean-up code runs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recallrank import Document, EdgeStore, StoreCorruptedError, TwoStageRetriever
from recallrank.index.base import StoredPoint
from recallrank.index.embedded.doctor import check_edge
from tests.fakes import HashEncoder

ROOT = Path(__file__).parents[2]
N = 3000
DIM = 32

INGEST = textwrap.dedent("""
    import os, signal, sys, threading, time
    from recallrank import Document, EdgeStore, TwoStageRetriever
    import recallrank.index.embedded.lifecycle as lifecycle
    from tests.fakes import HashEncoder

    mode, path, n, dim = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
    store = EdgeStore(path, "c", full_scan_threshold_kb=10)
    if mode == "create":  # die between creating the shard and writing its metadata
        real = lifecycle.write_meta
        lifecycle.write_meta = lambda p, meta: kill() if ".creating-" in str(p) else real(p, meta)
    if mode == "build":  # die while the HNSW index is being built
        real_finish = store.finish_ingest
        def finish():
            print("building", flush=True)
            threading.Timer(0.05, kill).start()
            real_finish()
            time.sleep(5)  # the timer fires during the build; never reached if the build outlasts it
        store.finish_ingest = finish
    batches = [0]
    def progress(done):
        batches[0] += 1
        if mode == "ingest" and batches[0] == 7:
            kill()
    retriever = TwoStageRetriever(store, HashEncoder(dim), False)
    docs = [Document(f"document number {i}", {"i": i}, id=f"doc-{i}") for i in range(n)]
    report = retriever.add_documents(docs, batch_size=200, progress=progress)
    store.close()
    print("done", report.added, report.unchanged, flush=True)
""")


def ingest(mode: str, path: Path, n: int = N, dim: int = DIM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", INGEST, mode, str(path), str(n), str(dim)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def killed(out: subprocess.CompletedProcess[str]) -> bool:
    return out.returncode == -signal.SIGKILL and "done" not in out.stdout


def meta(path: Path) -> dict:
    return json.loads((path / "c" / "recallrank.json").read_text())


def assert_complete(path: Path, n: int = N) -> None:
    store = EdgeStore(path, "c", full_scan_threshold_kb=10)
    assert store.count() == n
    ids = [p["doc_id"] for _, p in store.scroll(["doc_id"])]
    assert len(ids) == len(set(ids)) == n  # nothing doubled
    assert store.counts() == (n, n)  # every point has its vector
    info = store.engine("read info", store.open_unchecked(meta(path)).info)
    assert info.indexed_vectors_count == 2 * n  # the HNSW index is built (n), beside the BM25 field's index (n)
    store.close(finish=False)
    assert meta(path)["pending"] is False and meta(path)["points"] == n


def test_kill_during_ingest_then_rerun(tmp_path: Path) -> None:
    first = ingest("ingest", tmp_path)
    assert killed(first), first.stderr
    assert meta(tmp_path)["pending"] is True  # the crash is recorded, not hidden
    rerun = ingest("none", tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    added, unchanged = map(int, rerun.stdout.split()[-2:])
    assert unchanged >= 6 * 200 and added + unchanged == N  # the written batches were kept, the rest added
    assert_complete(tmp_path)


def test_kill_during_hnsw_build_then_a_rerun_that_adds_nothing_builds_it(tmp_path: Path) -> None:
    n = 20_000
    first = ingest("build", tmp_path, n)
    assert killed(first) and "building" in first.stdout, first.stderr
    assert meta(tmp_path)["pending"] is True
    rerun = ingest("none", tmp_path, n)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split()[-2:] == ["0", str(n)]  # nothing to add, yet the build was finished on open
    assert_complete(tmp_path, n)


def test_kill_between_creating_a_store_and_writing_its_metadata(tmp_path: Path) -> None:
    first = ingest("create", tmp_path, 500)
    assert killed(first), first.stderr
    assert not (tmp_path / "c").exists()  # the half-made store never took the collection's name
    assert list(tmp_path.glob(".c.creating-*"))
    rerun = ingest("none", tmp_path, 500)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(tmp_path.glob(".c.creating-*"))
    assert_complete(tmp_path, 500)


def _legacy_leftover(path: Path, points: int) -> EdgeStore:
    """What a crashed 0.1 release left: a shard in place without recallrank.json."""
    store = EdgeStore(path, "c")
    shard = store.create_shard(path / "c", 4, "cosine")
    if points:
        import qdrant_edge as qe

        shard.update(qe.UpdateOperation.upsert_points([
            qe.Point(id=f"00000000-0000-0000-0000-{i:012d}", vector=[1.0, 0.0, 0.0, float(i)],
                     payload={"text": f"t{i}", "metadata": {}}) for i in range(points)]))
    shard.close()
    return store


def test_an_empty_leftover_shard_without_metadata_is_recreated(tmp_path: Path) -> None:
    store = _legacy_leftover(tmp_path, 0)
    retriever = TwoStageRetriever(store, HashEncoder(4), False)  # type: ignore[arg-type]
    assert retriever.add_texts(["first", "second"]).added == 2
    assert store.count() == 2
    store.close()


def test_a_leftover_shard_with_points_is_never_overwritten_and_doctor_adopts_it(tmp_path: Path) -> None:
    store = _legacy_leftover(tmp_path, 3)
    retriever = TwoStageRetriever(store, HashEncoder(4), False)  # type: ignore[arg-type]
    with pytest.raises(StoreCorruptedError, match=r"3 points but no recallrank\.json.*doctor --repair"):
        retriever.add_documents([Document("new")])
    report = check_edge(EdgeStore(tmp_path, "c"), repair=True)
    assert report.healthy and report.points == 3
    again = EdgeStore(tmp_path, "c")
    assert again.count() == 3
    again.upsert([StoredPoint("00000000-0000-0000-0000-000000000009", [0.0, 1.0, 0.0, 0.0], {"text": "more"})])
    again.close()
    assert meta(tmp_path)["points"] == 4
