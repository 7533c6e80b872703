"""One regression test per case of the store-safety report (issue 8); the corruption and crash cases are in
test_store_corruption.py and test_store_faults.py, the property tests in test_store_properties.py.

CLI cases run ``recallrank.cli.main`` in-process with the hashing stand-in encoder, so no model loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recallrank import Document, EdgeStore, InvalidInputError, QdrantServerStore, StoreError, TwoStageRetriever
from recallrank.cli import main
from recallrank.cli.filters import parse_filters
from recallrank.filters import Filter, Match, as_filter
from recallrank.index.base import StoredPoint, VectorStore
from tests.fakes import HashEncoder

ROOT = Path(__file__).parents[2]


def nested(depth: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.fixture(params=["edge", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    s: VectorStore = EdgeStore(tmp_path, "safety") if request.param == "edge" else \
        QdrantServerStore(location=":memory:", name="safety")
    yield s
    s.close()


@pytest.fixture
def retriever(store: VectorStore) -> TwoStageRetriever:
    r = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
    r.add_documents([Document(f"stored {i}", {"n": i}, id=f"s{i}") for i in range(6)])
    return r


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``main`` with the stand-in encoder and a clean environment; returns (exit status, stdout, stderr)."""
    from recallrank.cli import pipeline

    monkeypatch.setattr(pipeline, "recall_encoder", lambda *args, **kwargs: HashEncoder())
    for key in [k for k in os.environ if k.startswith("RECALLRANK_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# 1. metadata nested deep enough to poison Qdrant Edge's write-ahead log is refused before any write ---------------
def test_1_deep_metadata_is_refused_and_the_store_stays_readable(retriever: TwoStageRetriever) -> None:
    with pytest.raises(InvalidInputError, match=r"document 1: metadata\.deep\.k.* nested more than 32 levels"):
        retriever.add_documents([Document("fine"), Document("poison", {"deep": nested(130)})])
    with pytest.raises(InvalidInputError, match="nested more than 32 levels"):  # also through the store itself
        retriever.store.upsert([StoredPoint("00000000-0000-0000-0000-000000000001", np.ones(8),
                                            {"text": "x", "metadata": nested(40)})])
    with pytest.raises(InvalidInputError, match="nested more than 32 levels"):  # 3,000 deep: no RecursionError
        retriever.add_documents([Document("deeper", nested(3000))])
    assert retriever.store.count() == 6
    assert retriever.add_documents([Document("shallow enough", nested(31))]).added == 1


def test_1_a_poisonous_jsonl_line_is_an_error_naming_file_and_line(cli: Any, capsys: Any, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [{"id": i, "text": f"record {i}"} for i in range(5)])
    assert cli("index", str(good), "--path", "idx", "--no-progress", capsys=capsys)[0] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "ok"}) + "\n" + '{"text": "x", "metadata": ' + '{"a": ' * 125 + "1"
                   + "}" * 125 + "}\n")
    code, _, err = cli("index", str(bad), "--path", "idx", "--no-progress", capsys=capsys)
    assert code == 2 and "bad.jsonl:2: metadata.a" in err and "nested more than 32" in err
    store = EdgeStore(tmp_path / "idx", "recallrank")
    assert store.count() == 5 and len(store.search(np.ones(8), 10)) == 5  # the store still opens and searches
    store.close()


def test_1_engine_exceptions_and_panics_become_store_errors(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, "p")
    store.ensure_collection(4, "cosine")

    def panic(*_: Any) -> None:
        raise type("PanicException", (BaseException,), {})("rust panicked")  # what pyo3 raises for a panic

    with pytest.raises(StoreError, match=r"at .*p failed to search \(PanicException: rust panicked\).*doctor"):
        store.engine("search", panic)
    with pytest.raises(KeyboardInterrupt):
        store.engine("search", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    store.close()


# 2. boolean filters match booleans only, on both backends ------------------------------------------------------
def test_2_boolean_filters_are_exact(store: VectorStore) -> None:
    r = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
    r.add_documents([Document(str(v), {"flag": v}, id=str(i)) for i, v in enumerate([True, False, 1, 0, "true"])])

    def ids(flt: dict[str, Any]) -> list[str]:
        return sorted(h.document.text for h in store.search(np.ones(8), 10, flt, exact=True))

    assert ids({"flag": True}) == ["True"] and store.count({"flag": True}) == 1
    assert ids({"flag": False}) == ["False"]
    assert ids({"flag": 1}) == ["1"] and ids({"flag": "true"}) == ["true"]
    assert ids({"flag": [True, 0]}) == ["0", "True"]
    assert parse_filters(["flag:=true", "s=true"]) == as_filter({"flag": True, "s": "true"})


# 3. JSONL ids are scoped to their file; the same id twice in one file is an error -------------------------------
def test_3_jsonl_id_collisions_lose_nothing(cli: Any, capsys: Any, tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "text": f"a record {i}"} for i in range(3)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": i, "text": f"b record {i}"} for i in range(3)])
    code, out, _ = cli("index", str(a), str(b), "--path", "idx", "--json", "--no-progress", capsys=capsys)
    assert code == 0 and json.loads(out)["stored"] == 6
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": "x", "text": "short"}, {"id": "y", "text": "other"},
                                               {"id": "x", "text": "a longer text " * 200}])
    code, _, err = cli("index", str(dup), "--path", "idx", "--no-progress", capsys=capsys)
    assert code == 2 and "id 'x' is used on lines 1 and 3" in err


# 4. a bad metadata key is refused before the first batch is written -----------------------------------------------
def test_4_validation_happens_before_any_write(retriever: TwoStageRetriever) -> None:
    docs = [Document(f"new {i}", {"n": i}) for i in range(300)]
    docs[250] = Document("bad key", {1: "int key"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInputError, match=r"document 250: metadata has the key 1; metadata keys must be"):
        retriever.add_documents(docs, batch_size=50)
    assert retriever.store.count() == 6


# 7. a CLI filter value that looks like a number stays a string ---------------------------------------------------
def test_7_zip_codes_stay_strings(store: VectorStore) -> None:
    r = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
    r.add_documents([Document("string zip", {"zip": "02139"}), Document("int zip", {"zip": 2139})])
    assert parse_filters(["zip=02139"]) == as_filter({"zip": "02139"})
    assert parse_filters(["zip:=2139"]) == as_filter({"zip": 2139})
    assert parse_filters(["zip!=02139"]) == Filter(must_not=(Match("zip", "02139"),))
    assert [h.document.text for h in store.search(np.ones(8), 5, parse_filters(["zip=02139"]))] == ["string zip"]
    assert [h.document.text for h in store.search(np.ones(8), 5, parse_filters(["zip:=2139"]))] == ["int zip"]
    assert [h.document.text for h in store.search(np.ones(8), 5, parse_filters(["zip!=02139"]))] == ["int zip"]


# 8. unreadable sources are not skipped silently; deleted or emptied files leave nothing searchable -----------------
def test_8_skips_are_reported_and_stale_files_pruned(cli: Any, capsys: Any, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("keep", "delete", "empty"):
        (docs / f"{name}.txt").write_text(f"the {name} file")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    code, _, err = cli("index", str(docs), "--path", "idx", "--no-progress", capsys=capsys)
    assert code == 2 and "latin1.txt is not UTF-8" in err and "--skip-errors" in err
    assert not (tmp_path / "idx").exists()  # nothing was written
    code, out, err = cli("index", str(docs), "--path", "idx", "--json", "--skip-errors", "--no-progress",
                         capsys=capsys)
    assert code == 0 and json.loads(out)["stored"] == 3 and "skipped" in err and "latin1.txt" in err
    (docs / "delete.txt").unlink()
    (docs / "empty.txt").write_text("")
    code, out, _ = cli("index", str(docs), "--path", "idx", "--json", "--skip-errors", "--no-progress",
                       capsys=capsys)
    report = json.loads(out)
    assert code == 0 and report["removed"] == 2 and report["stored"] == 1


# 9. raw errors become one clear line naming the value ----------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["search", "caf\udce9"], "the query is not valid Unicode"),  # bytes that were not UTF-8 on the command line
    (["search", "q", "--top-k", "100000000000000000000"], "--top-k must be a positive integer of at most 100,000"),
    (["search", "q", "--score-threshold", "nan"], "--score-threshold must be a finite number, got nan"),
    (["search", "q", "--filter", "n:=1.5"], "after := write an integer"),
    (["search", "q", "--filter", "big:=1180591620717411303424"], "outside the 64-bit integer range"),
    (["index", "x.txt", "--batch-size", "0"], "--batch-size must be a positive integer"),
])
def test_9_cli_errors_are_one_clear_line(cli: Any, capsys: Any, args: list[str], message: str) -> None:
    code, _, err = cli(*args, capsys=capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: r.search("q", score_threshold="0.5"), "score_threshold must be a finite number"),
    (lambda r: r.search("q", score_threshold=float("nan")), "score_threshold must be a finite number"),
    (lambda r: r.search("q", filter={"": "x"}), "filter key: '' is not a metadata key"),
    (lambda r: r.search("q", filter={"n": 2**70}), "outside the 64-bit integer range"),
    (lambda r: r.search("q", filter={"n": []}), "empty list"),
    (lambda r: r.search("q", top_k=10**20), "top_k must be a positive int of at most 100,000"),
    (lambda r: r.add_documents([Document("x")], batch_size=0), "batch_size must be a positive int"),
    (lambda r: r.add_documents([Document("x")], batch_size=-1), "batch_size must be a positive int"),
    (lambda r: r.add_documents([Document("x", {"n": 2**63})]), r"metadata\.n = 9223372036854775808 is outside"),
    (lambda r: r.add_documents([Document("lone \ud800")]), "document 0 text is not valid Unicode"),
    (lambda r: r.add_documents([Document("a", id="same"), Document("b", id="same")]),
     "documents 0 and 1 have the same id 'same' but different text"),
])
def test_9_api_errors_name_the_value(retriever: TwoStageRetriever, call: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        call(retriever)
    assert retriever.store.count() == 6


def test_9_metadata_none_is_empty_metadata(retriever: TwoStageRetriever) -> None:
    doc = Document("no metadata", None, id="none")  # type: ignore[arg-type]
    assert retriever.add_documents([doc]).added == 1
    [hit] = [h for h in retriever.store.search(np.ones(8), 10) if h.document.id == "none"]
    assert hit.document.metadata == {} and doc.metadata is None  # the caller's object is untouched


def test_9_a_locked_store_is_reported_before_models_load(cli: Any, capsys: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = EdgeStore(tmp_path / "idx", "recallrank")
    TwoStageRetriever(store, HashEncoder(), False).add_texts(["held"])  # type: ignore[arg-type]
    store.close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from recallrank import EdgeStore
        held = EdgeStore({str(tmp_path / "idx")!r}, "recallrank")
        held.count()
        print("holding", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        from recallrank.cli import pipeline

        def no_models(_: Any) -> None:
            raise AssertionError("models were loaded before the lock was checked")

        monkeypatch.setattr(pipeline, "warm_up", no_models)
        code, _, err = cli("search", "q", "--path", "idx", capsys=capsys)
        assert code == 2 and "already opened by another process" in err, err
    finally:
        holder.kill()
        holder.wait()


# 10. passwords in URLs are never shown or written ---------------------------------------------------------------
def test_10_url_secrets_are_redacted_and_never_written(cli: Any, capsys: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://admin:hunter2@127.0.0.1:9"
    monkeypatch.setenv("RECALLRANK_URL", url)
    code, out, _ = cli("config", "--write", "rr.toml", capsys=capsys)
    assert code == 0 and "hunter2" not in out and "admin:***@127.0.0.1:9" in out
    assert "hunter2" not in (tmp_path / "rr.toml").read_text() and "url" not in (tmp_path / "rr.toml").read_text()
    monkeypatch.delenv("RECALLRANK_URL")
    (tmp_path / "bad.toml").write_text(f'url = "{url}"\n')
    code, _, err = cli("config", "--config", "bad.toml", capsys=capsys)
    assert code == 2 and "RECALLRANK_URL" in err and "hunter2" not in err
    server = QdrantServerStore(url, "x", timeout=2)
    assert "hunter2" not in repr(server)
    with pytest.raises(StoreError) as raised:
        server.ensure_collection(4, "cosine")
    assert "hunter2" not in str(raised.value) and "admin:***@127.0.0.1:9" in str(raised.value)
