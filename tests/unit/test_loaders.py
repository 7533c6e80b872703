"""Chunking and source loading (no models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recallrank import EdgeStore, InvalidInputError
from recallrank.documents import Document
from recallrank.index.base import StoredPoint, point_id
from recallrank.loaders import chunk_documents, chunk_text, iter_sources, stale_chunk_ids


def test_chunks_respect_size_prefer_boundaries_and_overlap() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + " ".join(f"word{i}_{j}" for j in range(40)) for i in range(6))
    chunks = chunk_text(text, size=300, overlap=60)
    assert all(len(c) <= 300 for c in chunks) and len(chunks) > 6
    joined = " ".join(chunks)
    assert all(f"word{i}_{j}" in joined for i in range(6) for j in range(40))  # nothing lost
    assert any(chunks[k].split()[0] in chunks[k - 1] for k in range(1, len(chunks)))  # consecutive chunks overlap
    assert chunk_text("短文本。", 10, 2) == ["短文本。"]
    assert chunk_text("   ", 10, 2) == []
    long_cjk = "苹果公司的市值超过三万亿美元。" * 20
    assert all(len(c) <= 50 for c in chunk_text(long_cjk, 50, 10))
    with pytest.raises(InvalidInputError, match="overlap"):
        chunk_text("abc", 10, 10)


def test_sources_from_folders_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\nBody text.")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text("hidden")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": 7, "text": "record", "lang": "en",
                                                  "metadata": {"year": 2020}}) + "\n\n")
    sources = list(iter_sources([tmp_path]))
    assert [s.key for s in sources] == [str((tmp_path / "a.md").resolve()), "7"]
    assert sources[1].metadata == {"lang": "en", "year": 2020, "source": str((tmp_path / "b.jsonl").resolve()),
                                   "doc_id": "7"}
    (tmp_path / "c.jsonl").write_text('{"body": "x"}\n')
    with pytest.raises(InvalidInputError, match=r"c\.jsonl:1.*--text-field"):
        list(iter_sources([tmp_path / "c.jsonl"]))
    (tmp_path / "d.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        list(iter_sources([tmp_path / "d.txt"]))


def test_stale_chunks_are_found_beyond_the_current_count(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, "c")
    store.ensure_collection(2, "cosine")
    docs, counts = chunk_documents(list(iter_sources([_write(tmp_path, "one two three four five six")])), 8, 0)
    assert counts == {str((tmp_path / "f.txt").resolve()): len(docs)} and len(docs) > 2
    store.upsert([StoredPoint(point_id(d), [1.0, 0.0], {"content_hash": "h"}) for d in docs])
    shorter = {k: 1 for k in counts}
    assert sorted(stale_chunk_ids(store, shorter)) == sorted(point_id(d) for d in docs[1:])
    assert stale_chunk_ids(store, counts) == []
    assert point_id(Document("anything", id=docs[0].id)) == point_id(docs[0])


def _write(root: Path, text: str) -> Path:
    (root / "f.txt").write_text(text)
    return root / "f.txt"
