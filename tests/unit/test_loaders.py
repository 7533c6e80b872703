"""Chunking and source loading (no models)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from recallrank import Document, EdgeStore, InvalidInputError
from recallrank.index.base import StoredPoint, point_id, to_payload
from recallrank.loaders import chunk_documents, chunk_text, iter_sources, read_sources, stale_ids


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
    assert [s.key for s in sources] == [str((tmp_path / "a.md").resolve()), f"{(tmp_path / 'b.jsonl').resolve()}::7"]
    assert sources[1].metadata == {"lang": "en", "year": 2020, "source": str((tmp_path / "b.jsonl").resolve()),
                                   "doc_id": "7"}
    (tmp_path / "c.jsonl").write_text('{"body": "x"}\n')
    with pytest.raises(InvalidInputError, match=r"c\.jsonl:1.*--text-field"):
        list(iter_sources([tmp_path / "c.jsonl"]))
    (tmp_path / "d.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        list(iter_sources([tmp_path / "d.txt"]))


def test_stale_ids_cover_shrunk_emptied_and_deleted_files(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "long.txt").write_text("one two three four five six")
    (root / "gone.txt").write_text("a file that will be deleted")
    (root / "emptied.txt").write_text("a file that will be emptied")
    store = EdgeStore(tmp_path, "c")
    store.ensure_collection(2, "cosine")
    found = read_sources([root])
    docs, _ = chunk_documents(found.sources, 8, 0)
    store.upsert([StoredPoint(point_id(d), [1.0, 0.0], to_payload(d)) for d in docs])
    assert stale_ids(store, found, {str(d.id) for d in docs}) == []
    (root / "long.txt").write_text("one two")
    (root / "gone.txt").unlink()
    (root / "emptied.txt").write_text("")
    found = read_sources([root])
    now, _ = chunk_documents(found.sources, 8, 0)
    stale = stale_ids(store, found, {str(d.id) for d in now})
    expected = {point_id(d) for d in docs if d.id not in {n.id for n in now}}
    assert set(stale) == expected and len(expected) == len(docs) - 1  # only long.txt#0 stays
    api_doc = Document("added through the API", {"source": str((root / "gone.txt").resolve())}, id="api-1")
    store.upsert([StoredPoint(point_id(api_doc), [1.0, 0.0], to_payload(api_doc))])
    assert point_id(api_doc) not in stale_ids(store, found, {str(d.id) for d in now})  # not a chunk index wrote
    kept = stale_ids(store, found, {str(d.id) for d in now}, prune=False)
    assert {point_id(d) for d in docs if "gone.txt" in str(d.id)}.isdisjoint(kept)  # --no-prune keeps deleted files


def test_jsonl_ids_are_scoped_to_their_file_and_unique_within_it(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps({"id": i, "text": f"{name} record {i}"}) + "\n"
                                             for i in range(3)))
    docs, _ = chunk_documents(read_sources([tmp_path / "a.jsonl", tmp_path / "b.jsonl"]).sources)
    assert len({point_id(d) for d in docs}) == 6  # the same ids in two files are six records
    (tmp_path / "dup.jsonl").write_text(json.dumps({"id": "x", "text": "one"}) + "\n"
                                        + json.dumps({"id": "x", "text": "two"}) + "\n")
    with pytest.raises(InvalidInputError, match=r"dup\.jsonl: id 'x' is used on lines 1 and 2"):
        read_sources([tmp_path / "dup.jsonl"])


@pytest.mark.parametrize(("line", "message"), [
    ('{"text": "lone \\ud800 surrogate"}', r"bad\.jsonl:1: 'text' is not valid Unicode"),
    ('{"text": "t", "metadata": {"big": ' + str(2**64) + "}}", r"bad\.jsonl:1: metadata\.big = 1844.*64-bit"),
    ('{"text": "t", "metadata": ' + '{"k": ' * 40 + "1" + "}" * 40 + "}", r"bad\.jsonl:1: metadata\.k.*nested more"),
    ('{"text": "t", "id": [1]}', r"bad\.jsonl:1: id \[1\] must be a string or an integer"),
])
def test_bad_jsonl_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "bad.jsonl").write_text(line + "\n")
    with pytest.raises(InvalidInputError, match=message):
        read_sources([tmp_path / "bad.jsonl"])


def test_unreadable_files_are_an_error_or_skipped_and_listed(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("fine")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(InvalidInputError, match=r"1 source\(s\) cannot be read: .*bad\.txt is not UTF-8.*skip-errors"):
        read_sources([tmp_path])
    found = read_sources([tmp_path], skip_errors=True)
    assert [s.key for s in found.sources] == [str((tmp_path / "good.txt").resolve())]
    assert [p for p, _ in found.skipped] == [str((tmp_path / "bad.txt").resolve())]


def test_an_unreadable_folder_is_not_skipped_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "secret.txt").write_text("cannot be listed")
    (tmp_path / "open.txt").write_text("fine")
    scandir = os.scandir

    def denied(path: Any) -> Any:  # what a folder without read permission does (root ignores chmod, so simulated)
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(InvalidInputError, match=r"locked: cannot be read \(Permission denied\).*skip-errors"):
        read_sources([tmp_path])
    found = read_sources([tmp_path], skip_errors=True)
    assert [s.key for s in found.sources] == [str((tmp_path / "open.txt").resolve())]
    assert found.skipped[0][0] == str((tmp_path / "locked").resolve())


def _write(root: Path, text: str) -> Path:
    (root / "f.txt").write_text(text)
    return root / "f.txt"
