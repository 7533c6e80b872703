"""Scale: collection settings (on-disk vectors, quantisation with rescoring, a cluster's shards, replicas and write
consistency, gRPC) passed through to both stores, and streaming ingest that holds one batch at a time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recallrank import (
    CollectionMismatchError,
    CollectionSettings,
    Document,
    EdgeStore,
    QdrantServerStore,
    TwoStageRetriever,
)
from recallrank.index.base import StoredPoint
from recallrank.loaders import IdSet, read_sources, scan_sources, stream_chunks
from tests.fakes import HashEncoder


def _points(n: int, dim: int = 32, seed: int = 0) -> list[StoredPoint]:
    rng = np.random.default_rng(seed)
    return [StoredPoint(str(uuid.UUID(int=i + 1)), rng.standard_normal(dim).astype(np.float32),
                        {"text": f"doc {i}", "content_hash": str(i), "metadata": {"i": i}}) for i in range(n)]


def test_settings_are_checked_with_messages_that_say_what_to_change() -> None:
    with pytest.raises(ValueError, match="quantization='pq' must be 'scalar', 'binary' or None"):
        CollectionSettings(quantization="pq")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="oversampling must be a number >= 1"):
        CollectionSettings(quantization="binary", oversampling=0.5)
    with pytest.raises(ValueError, match="shard_number must be a positive int"):
        CollectionSettings(shard_number=0)
    with pytest.raises(ValueError, match="write_consistency_factor=3 cannot exceed replication_factor=2"):
        CollectionSettings(replication_factor=2, write_consistency_factor=3)
    with pytest.raises(ValueError, match="on_disk must be True or False"):
        CollectionSettings(on_disk="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown collection settings"):
        CollectionSettings.from_dict({"shards": 2})
    with pytest.raises(ValueError, match="shard_number apply to a Qdrant server or cluster"):
        EdgeStore("unused", settings=CollectionSettings(shard_number=2))
    assert CollectionSettings(quantization="binary").search_oversampling() == 3.0


@pytest.mark.parametrize("quantization", ["scalar", "binary"])
def test_embedded_store_on_disk_and_quantised_finds_what_exact_search_finds(tmp_path: Path,
                                                                           quantization: str) -> None:
    settings = CollectionSettings(on_disk=True, on_disk_payload=True, quantization=quantization,  # type: ignore[arg-type]
                                  oversampling=4.0)
    store = EdgeStore(tmp_path, "big", settings=settings, full_scan_threshold_kb=10)
    points = _points(3000, dim=64)
    store.ensure_collection(64, "cosine")
    store.upsert(points)
    store.finish_ingest()
    engine = json.loads((tmp_path / "big" / "edge_config.json").read_text())
    dense = engine["vectors"][""]
    assert dense["on_disk"] is True and quantization in dense["quantization_config"]
    assert engine["on_disk_payload"] is True
    recorded = json.loads((tmp_path / "big" / "recallrank.json").read_text())["settings"]
    assert recorded == {"on_disk": True, "on_disk_payload": True, "quantization": quantization}
    rng = np.random.default_rng(1)
    queries = [rng.standard_normal(64).astype(np.float32) for _ in range(10)]

    def overlap() -> float:
        return float(np.mean([len({h.id for h in store.search(q, 10)} & {h.id for h in store.search(q, 10, exact=True)})
                              / 10 for q in queries]))

    rescored = overlap()
    store.settings = CollectionSettings(on_disk=True, on_disk_payload=True, quantization=quantization,  # type: ignore[arg-type]
                                        oversampling=4.0, rescore=False)  # search-time choices are the caller's
    codes_only = overlap()
    # random Gaussian vectors are the worst case for 1-bit codes; rescoring with the originals must still help
    assert rescored >= (0.9 if quantization == "scalar" else codes_only + 0.1), (rescored, codes_only)
    store.close()
    reopened = EdgeStore(tmp_path, "big")  # no settings: the recorded ones
    assert reopened.count() == 3000 and reopened.layout().quantization == quantization
    reopened.close()
    with pytest.raises(CollectionMismatchError, match=r"created with other settings.*--reembed --into NEW"):
        EdgeStore(tmp_path, "big", settings=CollectionSettings()).count()


def test_default_collection_metadata_is_unchanged(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, "plain")
    store.ensure_collection(8, "cosine")
    store.close()
    assert "settings" not in json.loads((tmp_path / "plain" / "recallrank.json").read_text())


class Recorder:
    """A qdrant-client stand-in that records the requests it gets and answers from a local-mode client."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return getattr(self.real, name)(*args, **kwargs)
        return call


def test_server_store_passes_cluster_on_disk_and_quantisation_settings_through() -> None:
    from qdrant_client import QdrantClient, models

    settings = CollectionSettings(on_disk=True, on_disk_payload=True, hnsw_on_disk=True, quantization="scalar",
                                  quantization_always_ram=True, oversampling=2.0, shard_number=4,
                                  replication_factor=2, write_consistency_factor=2)
    client = Recorder(QdrantClient(location=":memory:"))
    store = QdrantServerStore(client=client, name="c", settings=settings)
    store.ensure_collection(16, "cosine")
    (create,) = [kw for name, _, kw in client.calls if name == "create_collection"]
    assert create["shard_number"] == 4 and create["replication_factor"] == 2
    assert create["write_consistency_factor"] == 2 and create["on_disk_payload"] is True
    assert create["vectors_config"].on_disk is True and create["hnsw_config"].on_disk is True
    quant = create["quantization_config"].scalar
    assert quant.type == models.ScalarType.INT8 and quant.always_ram is True
    store.upsert(_points(20, dim=16))
    # a client passed in is taken for a server's: hnsw_ef and the quantised search with rescoring are sent
    assert [h.id for h in store.search(np.ones(16, dtype=np.float32), 3)]
    params = store._search_params(False)
    assert params.quantization.rescore is True and params.quantization.oversampling == 2.0
    assert store._search_params(True).quantization.ignore is True
    defaults = QdrantServerStore(location=":memory:", name="d").create_arguments(16, models.Distance.COSINE)
    assert set(defaults) == {"vectors_config", "sparse_vectors_config"}  # no settings: nothing else is sent


def test_server_store_refuses_an_existing_collection_with_other_settings() -> None:
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    QdrantServerStore(client=client, name="c").ensure_collection(16, "cosine")
    store = QdrantServerStore(client=client, name="c", settings=CollectionSettings(on_disk=True))
    store.location = None  # checked as against a server (local mode is a test double and not asked)
    with pytest.raises(CollectionMismatchError, match=r"on_disk=False, asked True.*--reembed --into NEW"):
        store.ensure_collection(16, "cosine")


def test_grpc_is_passed_to_both_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    import qdrant_client

    seen: list[dict[str, Any]] = []

    class Fake:
        def __init__(self, **kwargs: Any) -> None:
            seen.append(kwargs)

    monkeypatch.setattr(qdrant_client, "QdrantClient", Fake)
    monkeypatch.setattr(qdrant_client, "AsyncQdrantClient", Fake)
    store = QdrantServerStore("http://qdrant.internal:6333", "c", prefer_grpc=True, grpc_port=7334)
    assert store.client is not None and store.async_client is not None
    assert [(kw["prefer_grpc"], kw["grpc_port"]) for kw in seen] == [(True, 7334), (True, 7334)]


class CountingStore:
    """Wraps a store; notes how many documents the input had yielded at each upsert."""

    def __init__(self, inner: EdgeStore, pulled: list[int]) -> None:
        self.inner, self.pulled, self.at_upsert = inner, pulled, []

    def upsert(self, points: Any) -> None:
        self.at_upsert.append(self.pulled[0])
        self.inner.upsert(points)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_generator_is_streamed_batch_by_batch(tmp_path: Path) -> None:
    pulled = [0]

    def docs() -> Iterator[Document]:
        for i in range(1000):
            pulled[0] += 1
            yield Document(f"document number {i}", id=f"d{i}")

    store = CountingStore(EdgeStore(tmp_path, "s"), pulled)
    retriever = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
    report = retriever.add_documents(docs(), batch_size=100)
    assert report.added == 1000 and store.inner.count() == 1000
    # each batch is written before the next is read: the input is never held whole
    assert store.at_upsert == list(range(100, 1001, 100))
    again = retriever.add_documents(docs(), batch_size=100)
    assert again.unchanged == 1000 and again.added == 0
    store.inner.close()


def test_a_bad_document_in_a_stream_stops_at_its_batch_and_names_it(tmp_path: Path) -> None:
    from recallrank import InvalidInputError

    def docs() -> Iterator[Any]:
        yield from (Document(f"text {i}", id=f"d{i}") for i in range(150))
        yield 42

    retriever = TwoStageRetriever(EdgeStore(tmp_path, "s"), HashEncoder(), False)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="document 150 is a int"):
        retriever.add_documents(docs(), batch_size=100)
    assert retriever.store.count() == 100  # the batches before it are stored, whole; rerunning resumes
    retriever.store.close()


def test_scan_keeps_no_text_and_stream_yields_what_read_sources_chunks(tmp_path: Path) -> None:
    from recallrank.loaders import chunk_documents

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("# A\n\n" + "alpha beta gamma. " * 120)
    with (tmp_path / "records.jsonl").open("w") as fh:
        for i in range(50):
            fh.write(json.dumps({"id": f"r{i}", "text": f"record {i} " * (i + 1), "lang": "en"}) + "\n")
    paths = [tmp_path / "notes", tmp_path / "records.jsonl"]
    scan = scan_sources(paths, chunk_size=200, chunk_overlap=20)
    full = read_sources(paths)
    expected, _ = chunk_documents(full.sources, 200, 20)
    assert scan.sources == [] and scan.count == 51 and scan.chunks == len(expected)
    assert scan.files == full.files
    streamed = list(stream_chunks(scan, 200, 20))
    assert [(d.id, d.text, d.metadata) for d in streamed] == [(d.id, d.text, d.metadata) for d in expected]


def test_id_set_membership() -> None:
    ids = IdSet()
    for i in range(5000):
        ids.add(f"/data/file.jsonl::{i}#0")
    assert len(ids) == 5000 and "/data/file.jsonl::4999#0" in ids and "/data/file.jsonl::5000#0" not in ids
    ids.add("late")
    assert "late" in ids and 7 not in ids


def test_cli_collection_options(tmp_path: Path) -> None:
    from tests.unit.test_cli import one_line_error, run

    (tmp_path / "a.md").write_text("Qdrant is a vector database written in Rust. " * 4)
    one_line_error(run("index", str(tmp_path / "a.md"), "--path", str(tmp_path / "i"), "--shards", "2"),
                   "--shards, --replicas and --write-consistency set up a collection on a Qdrant server")
    one_line_error(run("index", str(tmp_path / "a.md"), "--path", str(tmp_path / "i"), "--grpc"),
                   "--grpc talks to a Qdrant server; pass --url too")
    one_line_error(run("index", str(tmp_path / "a.md"), "--path", str(tmp_path / "i"), "--quantization", "pq"),
                   "invalid choice")
    out = run("index", str(tmp_path / "a.md"), "--path", str(tmp_path / "i"), "--on-disk", "--quantization", "scalar",
              "--stages", "cross", "--json")
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "i" / "recallrank" / "recallrank.json").read_text())
    assert meta["settings"] == {"on_disk": True, "quantization": "scalar"} and json.loads(out.stdout)["stored"] == 1
