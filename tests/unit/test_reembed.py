"""``recallrank index --reembed``: after a new bi-encoder, every point gets its vector and keeps its id and payload;
the old embedded collection is kept, a target holding points is never overwritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recallrank import Document, EdgeStore, InvalidInputError, TwoStageRetriever
from recallrank.index.embedded.reembed import reembed_in_place
from recallrank.index.reembed import reembed_into
from tests.fakes import HashEncoder

DOCS = [Document(f"text number {i} about topic {i % 5}", {"n": i, "tag": f"t{i % 3}", "w": i / 3}, id=f"d{i}")
        for i in range(300)]
FIELDS = ["text", "metadata", "doc_id", "content_hash", "metadata_json"]


def build(root: Path, name: str = "docs") -> EdgeStore:
    store = EdgeStore(root, name)
    TwoStageRetriever(store, HashEncoder(8), False).add_documents(DOCS)  # type: ignore[arg-type]
    return store


def contents(store: EdgeStore) -> dict[str, Any]:
    return dict(store.scroll(FIELDS))


def test_in_place_swap_keeps_ids_payloads_and_the_old_collection(tmp_path: Path) -> None:
    store = build(tmp_path)
    before = contents(store)
    old_vectors = store.vectors(list(before))
    seen: list[int] = []
    report = reembed_in_place(store, HashEncoder(16), progress=seen.append)
    assert report.points == 300 and report.dimension == 16 and sum(seen) == 300
    fresh = EdgeStore(tmp_path, "docs")
    assert contents(fresh) == before
    vectors = fresh.vectors(list(before))
    expected = HashEncoder(16).encode_documents([DOCS[0].text])[0]
    pid = next(p for p, pl in before.items() if pl["doc_id"] == "d0")
    assert vectors[pid].shape == (16,) and np.allclose(vectors[pid], expected / np.linalg.norm(expected), atol=1e-5)
    hits = TwoStageRetriever(fresh, HashEncoder(16), False).search(DOCS[7].text, top_n=1, rerank=False)  # type: ignore[arg-type]
    assert hits.results[0].document.id == "d7" and hits.results[0].document.metadata == DOCS[7].metadata
    fresh.close()
    backup = Path(report.backup or "")
    assert backup.parent == tmp_path and backup.name.startswith(".docs.before-reembed-")
    kept = EdgeStore(tmp_path, backup.name)
    assert contents(kept) == before
    assert all(np.allclose(kept.vectors([p])[p], v) for p, v in list(old_vectors.items())[:20])
    kept.close()


def test_into_a_new_collection_reads_the_source_only_and_refuses_a_full_target(tmp_path: Path) -> None:
    source = build(tmp_path)
    before = contents(source)
    target = EdgeStore(tmp_path, "docs-v2")
    report = reembed_into(source, target, HashEncoder(12), batch=64)
    assert report.points == 300 and target.count() == 300 and contents(target) == before
    assert contents(source) == before and next(iter(source.vectors(list(before)[:1]).values())).shape == (8,)
    with pytest.raises(InvalidInputError, match="already holds 300 points"):
        reembed_into(source, target, HashEncoder(12))
    assert target.count() == 300


def test_cli_reembed_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recallrank.cli import main

    build(tmp_path).close()
    assert main(["index", "--into", "x", "--path", str(tmp_path), "--collection", "docs"]) == 2
    assert "pass --reembed too" in capsys.readouterr().err
    assert main(["index", "--path", str(tmp_path)]) == 2
    assert "give the files, folders or .jsonl files to index" in capsys.readouterr().err
    assert main(["index", "--reembed", "--into", "docs", "--path", str(tmp_path), "--collection", "docs"]) == 2
    assert "is the collection being re-embedded" in capsys.readouterr().err
    assert main(["index", "--reembed", "--path", str(tmp_path), "--collection", "nope"]) == 2
    assert "no collection 'nope'" in capsys.readouterr().err


def test_into_a_server_collection(tmp_path: Path) -> None:
    """Edge -> a qdrant-client collection (local mode stands in for a server, which cannot run here)."""
    from qdrant_client import QdrantClient

    from recallrank.index.server import QdrantServerStore

    source = build(tmp_path)
    client = QdrantClient(location=":memory:")
    target = QdrantServerStore(name="docs-v2", client=client)
    report = reembed_into(source, target, HashEncoder(12), batch=100)
    assert report.points == 300 and target.count() == 300
    assert dict(target.scroll(FIELDS)) == contents(source)
    hit = target.search(HashEncoder(12).encode_queries([DOCS[5].text])[0], 1)[0]
    assert hit.document.id == "d5" and hit.document.metadata == DOCS[5].metadata


def test_the_new_bi_encoder_is_recorded_and_the_old_record_dropped(tmp_path: Path) -> None:
    store = build(tmp_path)
    store.record_models({"name": "old", "dimension": 8})
    reembed_in_place(store, HashEncoder(16))  # vectors of an unnamed encoder: the old record no longer holds
    fresh = EdgeStore(tmp_path, "docs")
    assert fresh.recorded_models()["bi_encoder"] is None
    new = {"name": "hash16", "fingerprint": "h", "dimension": 16, "similarity": "cosine"}
    reembed_in_place(fresh, HashEncoder(16), model=new)
    again = EdgeStore(tmp_path, "docs")
    assert again.recorded_models()["bi_encoder"] == new and again.count() == 300
    target = EdgeStore(tmp_path, "docs-v2")
    reembed_into(again, target, HashEncoder(12), model={**new, "dimension": 12})
    assert target.recorded_models()["bi_encoder"] == {**new, "dimension": 12}
    again.close()
    target.close()
