"""Repair, swap and re-embed never lose what is stored (issue 21, cases 1, 2, 6, 10, 11): damage to one file costs
only what that file held, an interrupted swap finishes exactly the rebuild it started, and doctor recovers what the
segments still hold."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from recallrank import Document, EdgeStore, StoreCorruptedError, TwoStageRetriever
from recallrank.index.embedded.doctor import check_edge
from recallrank.index.embedded.reembed import reembed_in_place
from recallrank.rerank.maxsim import MaxSimReranker
from tests.fakes import HashEncoder, HashTokenEncoder

N, DIM, TOK = 600, 16, 64
ROOT = Path(__file__).resolve().parents[2]


def docs(lo: int, hi: int) -> list[Document]:
    return [Document(" ".join(f"w{i}x{j}" for j in range(40)), {"i": i}, id=f"d{i}") for i in range(lo, hi)]


def retriever(store: EdgeStore) -> TwoStageRetriever:
    """HashEncoder recall; a MaxSim stage whose 64-d token vectors (40 a document) are written at ingest."""
    return TwoStageRetriever(store, HashEncoder(DIM),  # type: ignore[arg-type]
                             stages=[MaxSimReranker(HashTokenEncoder(TOK), field="maxsim")])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    store = EdgeStore(root, "c")
    retriever(store).add_documents(docs(0, N))
    store.close()
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "s")
    return tmp_path / "s"


def texts(root: Path) -> dict[str, str]:
    store = EdgeStore(root, "c")
    try:
        return {pid: p["text"] for pid, p in store.scroll(["text"])}
    finally:
        store.close()


def with_tokens(root: Path) -> int:
    store = EdgeStore(root, "c")
    try:
        return N - len(list(store.without_multivector("maxsim")))
    finally:
        store.close()


# -- case 1: damaged token vectors cost only the token vectors ------------------------------------------------------

def truncate_tokens(root: Path) -> None:
    """Cut the token vectors' data file short: ``vectors/`` for fp16/fp32 fields, ``tq_vectors/`` for TurboQuant
    codes (the default)."""
    [chunk] = [p for pattern in ("vectors", "tq_vectors")
               for p in (root / "c" / "segments").glob(f"*/vector_storage-maxsim/{pattern}/chunk_0.mmap")
               if p.stat().st_size > 1_000_000]  # the segment that holds the points (files are preallocated)
    os.truncate(chunk, 100_000)  # 600 x 40 token vectors hold ~860 KB as 4-bit codes: most are cut off


def test_1_damaged_token_vectors_keep_every_document_and_are_encoded_again(root: Path) -> None:
    before = texts(root)
    store = EdgeStore(root, "c")
    store.record_models({"top_k": 50}, key="tuning")
    store.close()
    truncate_tokens(root)
    report = check_edge(EdgeStore(root, "c"))
    [finding] = report.findings
    assert "'maxsim' token vectors that cannot be read" in finding.problem and "payload" not in finding.problem
    tokens = HashTokenEncoder(TOK)
    repaired = check_edge(EdgeStore(root, "c"), repair=True, embed=HashEncoder(DIM).encode_documents,
                          token_encoders={"maxsim": tokens})
    assert repaired.healthy and repaired.points == N and repaired.lost_ids == []
    assert texts(root) == before  # 600/600 documents, payloads as they were
    assert with_tokens(root) == N
    assert 0 < tokens.documents_encoded < N  # only the lost token vectors were encoded again
    assert check_edge(EdgeStore(root, "c")).findings == []
    assert EdgeStore(root, "c").recorded_models()["tuning"] == {"top_k": 50}  # the repair keeps what was tuned


def test_1_without_the_token_model_documents_are_kept_and_the_gap_reported(root: Path) -> None:
    truncate_tokens(root)
    report = check_edge(EdgeStore(root, "c"), repair=True)
    assert report.points == N and report.lost_ids == [] and not report.healthy
    assert "need the model that wrote them (hash-tokens)" in report.findings[0].fix
    assert len(texts(root)) == N
    # case 6: points without the token vectors of a declared field are reported (and filled with the model)
    [gap] = check_edge(EdgeStore(root, "c")).findings
    assert f"{N - with_tokens(root)} points have no 'maxsim' token vectors" in gap.problem
    filled = check_edge(EdgeStore(root, "c"), repair=True, token_encoders={"maxsim": HashTokenEncoder(TOK)})
    assert filled.healthy and with_tokens(root) == N and filled.backup is None  # filled in place, no rebuild


def test_1_a_token_model_other_than_the_recorded_one_is_not_used(root: Path) -> None:
    truncate_tokens(root)
    other = HashTokenEncoder(TOK)
    other.model_name = "another-model"
    report = check_edge(EdgeStore(root, "c"), repair=True, token_encoders={"maxsim": other})
    assert not report.healthy and other.documents_encoded == 0 and report.points == N


# -- case 2: an interrupted swap finishes exactly the rebuild it started --------------------------------------------

KILL = """
import os, signal, sys
sys.path.insert(0, {root!r})
from recallrank import EdgeStore
from recallrank.index.embedded.reembed import reembed_in_place
from tests.fakes import HashEncoder
where, replace, rename, renames = sys.argv[1], os.replace, os.rename, []

def replaced(src, dst):  # after the rebuild's own recallrank.json is written: the rebuild is complete
    replace(src, dst)
    if where == "before-swap" and ".rebuild-" in str(dst) and str(dst).endswith("recallrank.json"):
        os.kill(os.getpid(), signal.SIGKILL)

def renamed(src, dst):  # the swap's second rename, the rebuild into place
    renames.append(src)
    if where == "between-renames" and len(renames) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    rename(src, dst)

os.replace, os.rename = replaced, renamed
reembed_in_place(EdgeStore({store!r}, "c"), HashEncoder({dim}))
"""


def reembed_killed(root: Path, where: str) -> None:
    script = KILL.format(root=str(ROOT), store=str(root), dim=DIM)
    done = subprocess.run([sys.executable, "-c", script, where], capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_2_a_double_interrupted_reembed_keeps_every_document(root: Path) -> None:
    reembed_killed(root, "before-swap")  # leaves a complete .c.rebuild-* folder beside the collection
    assert [p.name for p in root.iterdir() if ".rebuild-" in p.name]
    store = EdgeStore(root, "c")
    retriever(store).add_documents(docs(N, N + 20))
    store.close()
    reembed_killed(root, "between-renames")
    assert not (root / "c").exists()
    assert len(texts(root)) == N + 20  # the next open finished the second swap, not the first rebuild
    report = check_edge(EdgeStore(root, "c"))
    assert report.findings == [] and report.points == N + 20
    kinds = sorted(x.kind for x in report.leftovers)
    assert kinds == ["before-reembed", "rebuild"] and all(x.bytes > 0 for x in report.leftovers)
    cleaned = check_edge(EdgeStore(root, "c"), remove_stale=True)
    assert len(cleaned.removed) == 2 and [p.name for p in root.iterdir()] == ["c"]
    assert len(texts(root)) == N + 20


def test_2_ctrl_c_before_the_swap_leaves_nothing_behind(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replace = os.replace

    def interrupted(src: Any, dst: Any) -> None:  # Ctrl-C once the rebuild is complete, before the swap
        replace(src, dst)
        if ".rebuild-" in str(dst) and str(dst).endswith("recallrank.json"):
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reembed_in_place(EdgeStore(root, "c"), HashEncoder(DIM))
    monkeypatch.undo()
    assert [p.name for p in root.iterdir()] == ["c"] and len(texts(root)) == N


# -- case 10: a write-ahead log that cannot be replayed, a deleted engine config ------------------------------------

def test_10_an_unreadable_write_ahead_log_is_set_aside_and_nothing_is_lost(root: Path) -> None:
    before = texts(root)
    os.truncate(root / "c" / "wal" / "first-index", 0)
    with pytest.raises(StoreCorruptedError, match="doctor --repair") as raised:
        EdgeStore(root, "c").open()
    assert "backup" not in str(raised.value)
    report = check_edge(EdgeStore(root, "c"))
    assert not report.healthy and "write-ahead log cannot be replayed" in report.findings[0].problem
    repaired = check_edge(EdgeStore(root, "c"), repair=True)
    assert repaired.healthy and repaired.points == N, repaired.as_dict()
    assert "nothing was lost" in repaired.findings[0].fix
    assert texts(root) == before and with_tokens(root) == N
    [kept] = [x for x in check_edge(EdgeStore(root, "c")).leftovers if x.kind == "damaged-wal"]
    assert (Path(kept.path) / "first-index").exists()


def test_10_a_deleted_engine_config_is_rewritten_from_recallrank_json(root: Path) -> None:
    config = json.loads((root / "c" / "edge_config.json").read_text())
    (root / "c" / "edge_config.json").unlink()
    with pytest.raises(StoreCorruptedError, match="doctor --repair"):
        EdgeStore(root, "c").open()
    report = check_edge(EdgeStore(root, "c"), repair=True)
    assert report.healthy and report.points == N, report.as_dict()
    assert json.loads((root / "c" / "edge_config.json").read_text())["vectors"] == config["vectors"]
    assert len(texts(root)) == N and with_tokens(root) == N


# -- case 11: a deleted recallrank.json is damage, not a missing collection -----------------------------------------

def test_11_a_deleted_recallrank_json_points_to_doctor(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recallrank.cli import main

    (root / "c" / "recallrank.json").unlink()
    code = main(["search", "w3x1", "--path", str(root), "--collection", "c"])
    err = capsys.readouterr().err
    assert code != 0 and "doctor --repair" in err and "recallrank index` first" not in err
    assert check_edge(EdgeStore(root, "c"), repair=True, token_encoders={"maxsim": HashTokenEncoder(TOK)}).healthy
    assert len(texts(root)) == N
    store = EdgeStore(root, "c")  # the BM25 field the engine still holds is recorded again: keyword search works
    assert store.sparse_field()["filled"] and len(store.search_sparse("w3x1", 5)) > 0
    store.close()


class WordlessAware(HashTokenEncoder):
    """Token vectors as HashTokenEncoder, and like the real encoders it says which texts give none."""

    def has_tokens(self, texts: list[str]) -> list[bool]:
        return [bool(t.replace("\u200b", "").strip()) for t in texts]


def test_6_a_point_no_token_vector_can_be_made_for_is_reported_once_filled(root: Path) -> None:
    """A store written before ingest refused wordless text: doctor fills every other point and names those."""
    import qdrant_edge as qe

    store = EdgeStore(root, "c")
    TwoStageRetriever(store, HashEncoder(DIM), False).add_documents(  # type: ignore[arg-type]
        [Document("\u200b\u200b", id="zw")])
    shard = store.shard()
    [pid] = [p for p, payload in store.scroll(["text"]) if payload["text"] == "\u200b\u200b"]
    store.mark_pending()
    shard.update(qe.UpdateOperation.delete_vectors([pid, *[p for p, _ in list(store.scroll(["text"]))[:5]]],
                                                   ["maxsim"]))
    store.close()
    assert len(check_edge(EdgeStore(root, "c")).findings) == 1
    report = check_edge(EdgeStore(root, "c"), repair=True, token_encoders={"maxsim": WordlessAware(TOK)})
    assert report.healthy and f"ids: {pid}" in report.findings[0].fix
    assert with_tokens(root) == N - 1  # of N + 1 points: the five others were filled, the wordless one stays without


def test_11_a_rewritten_recallrank_json_keeps_the_collection_settings(tmp_path: Path) -> None:
    """On-disk vectors and scalar codes, as the engine's config shows them, survive a lost recallrank.json."""
    from recallrank.index.settings import CollectionSettings

    layout = CollectionSettings(on_disk=True, quantization="scalar")
    store = EdgeStore(tmp_path, "c", settings=layout)
    TwoStageRetriever(store, HashEncoder(DIM), False).add_documents(docs(0, 50))  # type: ignore[arg-type]
    store.close()
    (tmp_path / "c" / "recallrank.json").unlink()
    assert check_edge(EdgeStore(tmp_path, "c"), repair=True).healthy
    dense = json.loads((tmp_path / "c" / "edge_config.json").read_text())["vectors"][""]
    assert dense["on_disk"] is True and "scalar" in dense["quantization_config"]
    reopened = EdgeStore(tmp_path, "c", settings=layout)  # asking for the layout it was built with is no mismatch
    assert reopened.count() == 50
    reopened.close()


@pytest.mark.parametrize("journal", ['{"rebuilt": ".c.swap.json", "backup": ".c.before-reembed-y"}', "garbage{"])
def test_2_an_edited_journal_moves_nothing_and_says_what_to_do(root: Path, journal: str) -> None:
    (root / ".c.swap.json").write_text(journal)
    with pytest.raises(StoreCorruptedError, match="delete the journal to use it as it is"):
        EdgeStore(root, "c").count()
    assert sorted(p.name for p in root.iterdir()) == [".c.swap.json", "c"]  # nothing was renamed
    (root / ".c.swap.json").unlink()
    assert len(texts(root)) == N


def test_a_rebuild_keeps_the_payload_indexes(root: Path) -> None:
    import qdrant_edge as qe

    def schema() -> dict[str, str]:
        shard = qe.EdgeShard.load(str(root / "c"), None)
        try:
            return {k: str(v.data_type) for k, v in dict(shard.info().payload_schema).items()}
        finally:
            shard.close()

    store = EdgeStore(root, "c")
    store.shard().update(qe.UpdateOperation.create_field_index("metadata.i", qe.PayloadSchemaType.Integer))
    store.record_models({"top_k": 50}, key="tuning")
    store.close()
    before = schema()
    assert "metadata.i" in before
    reembed_in_place(EdgeStore(root, "c"), HashEncoder(DIM))
    assert schema() == before
    # the tuning was fitted on the old vectors' scores: a re-embedding drops it (a repair keeps it: test_1_damaged...)
    assert EdgeStore(root, "c").recorded_models()["tuning"] is None
