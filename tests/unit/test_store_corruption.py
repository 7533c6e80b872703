"""Damaged store files give an error (and `recallrank doctor` finds and repairs them), never a silent wrong answer."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recallrank import Document, EdgeStore, StoreCorruptedError, StoreError, TwoStageRetriever
from recallrank.index.embedded.doctor import check_edge
from tests.fakes import HashEncoder

N = 2000
DIM = 64


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed store with an HNSW-indexed segment holding N points (built once, copied per test)."""
    root = tmp_path_factory.mktemp("pristine")
    store = EdgeStore(root, "c", full_scan_threshold_kb=10)
    TwoStageRetriever(store, HashEncoder(DIM), False).add_documents(  # type: ignore[arg-type]
        [Document(f"document {i} " * 4, {"i": i, "score": i / 7}, id=f"d{i}") for i in range(N)])
    store.close()
    return root


@pytest.fixture
def store_path(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "s")
    return tmp_path / "s"


def indexed_segment(path: Path) -> Path:
    """The segment holding the points (the one with an HNSW graph)."""
    [segment] = [s for s in (path / "c" / "segments").iterdir() if any((s / "vector_index").glob("*"))]
    return segment


def truncate_vectors(path: Path) -> None:
    matrix = indexed_segment(path) / "vector_storage" / "matrix.dat"
    os.truncate(matrix, matrix.stat().st_size // 3)


def delete_segment(path: Path) -> None:
    # the write-ahead log would replay the points; a long-lived store has acknowledged (dropped) those entries
    shutil.rmtree(indexed_segment(path))
    shutil.rmtree(path / "c" / "wal")
    (path / "c" / "wal").mkdir()


def edit_similarity(path: Path) -> None:
    meta_path = path / "c" / "recallrank.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "similarity": "dot"}))


def garbage_metadata(path: Path) -> None:
    (path / "c" / "recallrank.json").write_text("{not json")


def garble_payloads(path: Path) -> None:
    page = indexed_segment(path) / "payload_storage" / "page_0.dat"
    data = bytearray(page.read_bytes())
    written = [i for i in range(min(len(data), 400_000)) if data[i]]
    for i in written[200:4000:9]:
        data[i] ^= 0x5A
    page.write_bytes(bytes(data))


def search_all(path: Path) -> int:
    store = EdgeStore(path, "c")
    try:
        return len(store.search(np.ones(DIM), N + 10, exact=True))
    finally:
        store.close(finish=False)


CASES: list[tuple[Callable[[Path], None], str, str]] = [
    (truncate_vectors, r"damaged: \d+ of its 2000 points have lost their vectors", "lost their vectors"),
    (delete_segment, r"damaged: it holds 0 points but 2000 were recorded", "0 points stored but 2000 were recorded"),
    (edit_similarity, r"says 64-d dot but the engine was created for 64-d cosine", "says 64-d dot"),
    (garbage_metadata, r"recallrank\.json is damaged", "recallrank.json is damaged"),
    (garble_payloads, r"holds a payload it cannot read|failed to search .*(decompress|deserialize)",
     "payload that cannot be read"),
]


@pytest.mark.parametrize(("damage", "error", "finding"), CASES, ids=[c[0].__name__ for c in CASES])
def test_damage_is_an_error_that_doctor_finds_and_repairs(store_path: Path, damage: Callable[[Path], None],
                                                          error: str, finding: str) -> None:
    damage(store_path)
    with pytest.raises(StoreError, match=error) as raised:
        search_all(store_path)
    assert "recallrank doctor" in str(raised.value)
    report = check_edge(EdgeStore(store_path, "c"))
    assert not report.healthy and any(finding in f.problem for f in report.findings), report.as_dict()
    repaired = check_edge(EdgeStore(store_path, "c"), repair=True, embed=HashEncoder(DIM).encode_documents)
    assert repaired.healthy
    found = search_all(store_path)  # opens and searches without an error, and sees every point it holds
    assert found == repaired.points == EdgeStore(store_path, "c").count()
    assert check_edge(EdgeStore(store_path, "c")).findings == []  # healthy when checked again
    if damage is truncate_vectors:
        assert found == N  # lost vectors were re-embedded from the stored text, not dropped
        again = EdgeStore(store_path, "c")
        assert len(again.search_sparse("document", N)) == N  # and their BM25 vectors written again
        again.close()
    if damage is garble_payloads:
        assert 0 < len(repaired.lost_ids) < N and found == N - len(repaired.lost_ids)
        assert repaired.backup is not None and Path(repaired.backup).exists()  # the damaged folder is kept


def test_a_truncated_vector_file_without_an_encoder_drops_and_lists_the_points(store_path: Path) -> None:
    truncate_vectors(store_path)
    report = check_edge(EdgeStore(store_path, "c"), repair=True)
    assert report.healthy and len(report.lost_ids) == N - report.points
    assert search_all(store_path) == report.points


def test_an_unfinished_build_is_reported_and_finished(store_path: Path) -> None:
    meta_path = store_path / "c" / "recallrank.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "pending": True}))
    report = check_edge(EdgeStore(store_path, "c"))
    assert [f.problem for f in report.findings] == [
        "the last write session stopped before its HNSW index build finished"]
    assert check_edge(EdgeStore(store_path, "c"), repair=True).healthy
    assert json.loads(meta_path.read_text())["pending"] is False


def test_an_unknown_folder_is_not_taken_for_a_store(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    store = EdgeStore(tmp_path, "c")
    with pytest.raises(StoreError, match="is not a recallrank collection"):
        store.ensure_collection(4, "cosine")
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"


def test_metadata_with_a_wrong_type_is_damage_not_a_crash(store_path: Path) -> None:
    (store_path / "c" / "recallrank.json").write_text(json.dumps({"dimension": "64", "similarity": "cosine"}))
    with pytest.raises(StoreCorruptedError, match=r"recallrank\.json is damaged"):
        EdgeStore(store_path, "c").count()


def test_a_read_only_store_is_a_clear_error(pristine: Path, tmp_path: Path) -> None:
    """Needs a read-only bind mount (root ignores file permissions); skipped where mounting is not allowed."""
    import subprocess

    source, mount = tmp_path / "src", tmp_path / "ro"
    shutil.copytree(pristine, source)
    mount.mkdir()
    made = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {made.stderr.strip()[:120]}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True, text=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.strip()[:120]}")
        with pytest.raises(StoreError, match=r"(?s)Read-only file system.*copy the store to a writable folder"):
            EdgeStore(mount, "c").count()
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
