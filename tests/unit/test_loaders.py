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
    assert sources[1].metadata == {"lang": "en", "year": 2020,
                                   "_recallrank": {"source": str((tmp_path / "b.jsonl").resolve()), "doc_id": "7"}}
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


def _index(root: Path | list[Path], store: EdgeStore) -> Any:
    """What `recallrank index` does, with a stand-in encoder: scan, then stream the chunks in."""
    from recallrank import TwoStageRetriever
    from recallrank.loaders import scan_sources, stream_chunks
    from tests.fakes import HashEncoder

    found = scan_sources(root if isinstance(root, list) else [root])
    return TwoStageRetriever(store, HashEncoder(), False).add_documents(stream_chunks(found))


ISSUE_RECORD = {"id": "a", "text": "rec a", "tags": ["x", "y"], "author": {"name": "ann"}, "source": "mine",
                "chunk": "c", "nothing": None}


def test_a_jsonl_record_keeps_every_field_and_the_users_own_source_and_chunk(tmp_path: Path) -> None:
    """Issue 21 case 3: lists, objects and nulls were dropped and the user's `source` and `chunk` overwritten."""
    (tmp_path / "r.jsonl").write_text(json.dumps(ISSUE_RECORD) + "\n"
                                      + json.dumps({"text": "rec b", "metadata": {"lang": "en"}, "n": 1}) + "\n"
                                      + json.dumps({"id": 2, "_id": "kept", "text": "rec c", "metadata": None}) + "\n")
    store = EdgeStore(tmp_path / "idx", "c")
    assert _index(tmp_path / "r.jsonl", store).added == 3
    stored = {p["doc_id"]: p["metadata"] for _, p in store.scroll(["doc_id", "metadata"])}
    path = str((tmp_path / "r.jsonl").resolve())
    assert stored[f"{path}::a#0"] == {"tags": ["x", "y"], "author": {"name": "ann"}, "source": "mine", "chunk": "c",
                                      "nothing": None,
                                      "_recallrank": {"source": path, "doc_id": "a", "chunk": 0,
                                                      "parent": f"{path}::a", "start": 0, "end": 5}}
    assert stored[f"{path}:2#0"] == {"lang": "en", "n": 1, "_recallrank": {"source": path, "chunk": 0,
                                                                           "parent": f"{path}:2", "start": 0, "end": 5}}
    assert stored[f"{path}::2#0"] == {"_id": "kept", "_recallrank": {"source": path, "doc_id": "2", "chunk": 0,
                                                                      "parent": f"{path}::2", "start": 0, "end": 5}}
    again = _index(tmp_path / "r.jsonl", store)  # the bookkeeping is where stale_ids and the next run look
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert stale_ids(store, read_sources([tmp_path / "r.jsonl"]), set(stored)) == []


DEEP = {"x": 1}
for _ in range(150):
    DEEP = {"a": DEEP}


@pytest.mark.parametrize(("record", "message"), [
    ({"text": "t", "deep": DEEP}, r"r\.jsonl:2: metadata\.deep\.a.* nested more than 32 levels"),
    ({"text": "t", "metadata": "a string"}, r"r\.jsonl:2: 'metadata' is a string, but it must be an object"),
    ({"text": "t", "metadata": ["a", "list"]}, r"r\.jsonl:2: 'metadata' is an array"),
    ({"text": "t", "lang": "en", "metadata": {"lang": "zh"}}, r"r\.jsonl:2: 'lang' is both a field of the record and"),
    ({"text": "t", "_recallrank": {"source": "x"}}, r"r\.jsonl:2: the field '_recallrank' is reserved"),
    ({"text": "t", "when": 2**64}, r"r\.jsonl:2: metadata\.when = 1844.*64-bit"),
])
def test_a_record_whose_fields_cannot_be_stored_is_refused_before_anything_is_written(
        tmp_path: Path, record: dict[str, Any], message: str) -> None:
    """Issue 21 case 3: a non-object `metadata` vanished and a 150-deep field was dropped instead of refused."""
    (tmp_path / "r.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps(record) + "\n")
    store = EdgeStore(tmp_path / "idx", "c")
    with pytest.raises(InvalidInputError, match=message):
        _index(tmp_path / "r.jsonl", store)
    assert not store.exists()


def test_a_store_written_before_the_bookkeeping_key_is_rewritten_in_place(tmp_path: Path) -> None:
    """Chunks indexed with `source`/`chunk`/`doc_id` at the top of the metadata keep their point ids: indexing the
    same files again rewrites them (nothing doubled), and chunks of a deleted file are still found stale."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "r.jsonl").write_text(json.dumps({"id": "a", "text": "rec a", "lang": "en"}) + "\n")
    (root / "t.txt").write_text("a text file")
    (root / "gone.txt").write_text("deleted after the first index")
    store = EdgeStore(tmp_path / "idx", "c")
    store.ensure_collection(8, "cosine")
    old = [Document("rec a", {"lang": "en", "source": str(root / "r.jsonl"), "doc_id": "a", "chunk": 0},
                    id=f"{root / 'r.jsonl'}::a#0"),
           Document("a text file", {"source": str(root / "t.txt"), "chunk": 0}, id=f"{root / 't.txt'}#0"),
           Document("deleted after", {"source": str(root / "gone.txt"), "chunk": 0}, id=f"{root / 'gone.txt'}#0")]
    from tests.fakes import HashEncoder

    vectors = HashEncoder().encode_documents([d.text for d in old])  # as the stand-in indexed them then
    store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(old, vectors, strict=True)])
    (root / "gone.txt").unlink()
    report = _index(root, store)
    assert (report.added, report.updated, store.count()) == (0, 2, 3)  # same point ids, rewritten
    found = read_sources([root])
    now, _ = chunk_documents(found.sources)
    assert stale_ids(store, found, {str(d.id) for d in now}) == [point_id(old[2])]
    assert {p["metadata"]["_recallrank"]["chunk"] for _, p in store.scroll(["metadata"])
            if "_recallrank" in p["metadata"]} == {0}


def test_symlinked_folders_are_followed_once_and_every_path_left_out_is_listed(tmp_path: Path) -> None:
    """Issue 21 case 11: symlinked folders, loops and dangling links were skipped without being listed."""
    docs, ext = tmp_path / "docs", tmp_path / "ext"
    (docs / "sub").mkdir(parents=True)
    (ext / "deep").mkdir(parents=True)
    (docs / "a.txt").write_text("in docs")
    (docs / "sub" / "b.md").write_text("in a subfolder")
    (ext / "c.txt").write_text("outside, reached through a symlinked folder")
    (ext / "deep" / "d.txt").write_text("deeper outside")
    (docs / "linked").symlink_to(ext)                      # followed
    (docs / "sub" / "loop").symlink_to(docs)                # a loop
    (docs / "dead.txt").symlink_to(tmp_path / "nowhere.txt")  # dangling
    (docs / "alias.txt").symlink_to(docs / "a.txt")         # the same file again
    (docs / "again").symlink_to(docs / "sub")               # the same folder again
    (docs / "image.png").write_bytes(b"\x89PNG")
    found = read_sources([docs])
    d = str(docs.resolve())
    assert [s.key for s in found.sources] == [f"{d}/a.txt", f"{d}/linked/c.txt", f"{d}/linked/deep/d.txt",
                                              f"{d}/sub/b.md"]
    assert {p: r.partition(" (")[0] for p, r in found.ignored} == {
        f"{d}/alias.txt": "duplicate", f"{d}/again": "duplicate", f"{d}/dead.txt": "dangling symlink",
        f"{d}/image.png": "unsupported file type", f"{d}/sub/loop": "symlink loop"}
    assert dict(found.ignored)[f"{d}/sub/loop"] == f"symlink loop (it points to {d}, a folder that holds it)"
    assert found.skipped == []
    only_links = tmp_path / "only"
    only_links.mkdir()
    (only_links / "dead.md").symlink_to(tmp_path / "missing.md")
    with pytest.raises(InvalidInputError, match=r"holds no .* files \(left out: dead\.md \(dangling symlink"):
        read_sources([only_links])
