"""The VectorStore contract, run against every backend (see tests/unit and tests/integration)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from recallrank import CollectionMismatchError, Document, InvalidInputError
from recallrank.index.base import StoredPoint, VectorStore, point_id, to_payload

DOCS = [Document(f"text {i}", metadata={"parity": "even" if i % 2 == 0 else "odd", "n": i}) for i in range(20)]


def _vec(i: int) -> list[float]:
    angle = i * 0.15
    return [float(np.cos(angle)), float(np.sin(angle)), 0.1, 0.0]


def _points() -> list[StoredPoint]:
    return [StoredPoint(point_id(d), _vec(i), to_payload(d)) for i, d in enumerate(DOCS)]


def fill(store: VectorStore) -> VectorStore:
    store.ensure_collection(4, "cosine")
    store.upsert(_points())
    store.finish_ingest()
    return store


class StoreContract:
    """Subclasses provide a ``store`` fixture: an empty collection on their backend."""

    def test_upsert_count_and_idempotent_reupsert(self, store: VectorStore) -> None:
        fill(store)
        assert store.exists()
        assert store.count() == 20
        store.upsert(_points())
        assert store.count() == 20

    def test_search_orders_by_similarity_and_returns_documents(self, store: VectorStore) -> None:
        fill(store)
        hits = store.search(np.array(_vec(3)), 3)
        assert [h.document.text for h in hits] == ["text 3", "text 2", "text 4"] or \
               [h.document.text for h in hits] == ["text 3", "text 4", "text 2"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].document.metadata == {"parity": "odd", "n": 3}
        assert hits[0].id == point_id(DOCS[3])
        exact = store.search(np.array(_vec(3)), 3, exact=True)
        assert [h.id for h in exact] == [h.id for h in hits]

    def test_metadata_filters(self, store: VectorStore) -> None:
        fill(store)
        hits = store.search(np.array(_vec(3)), 5, {"parity": "even"})
        assert hits and all(h.document.metadata["parity"] == "even" for h in hits)
        assert store.count({"parity": "odd"}) == 10
        assert store.count({"n": [1, 2, 3]}) == 3
        with pytest.raises(InvalidInputError, match="match values"):
            store.search(np.array(_vec(3)), 5, {"n": 1.5})

    def test_delete_by_id_and_hashes(self, store: VectorStore) -> None:
        fill(store)
        ids = [point_id(d) for d in DOCS[:3]]
        assert set(store.existing_hashes(ids)) == set(ids)
        store.delete([*ids[:2], "00000000-0000-0000-0000-000000000000"])
        assert store.count() == 18
        assert set(store.existing_hashes(ids)) == {ids[2]}

    def test_dimension_or_distance_mismatch_names_both(self, store: VectorStore) -> None:
        fill(store)
        with pytest.raises(CollectionMismatchError, match=r"4-d.*768-d"):
            store.ensure_collection(768, "cosine")
        with pytest.raises(CollectionMismatchError, match=r"(?i)cosine.*dot"):
            store.ensure_collection(4, "dot")
        assert store.count() == 20  # nothing lost

    def test_async_search_matches_sync(self, store: VectorStore) -> None:
        fill(store)
        sync = store.search(np.array(_vec(5)), 4)
        got = asyncio.run(store.asearch(np.array(_vec(5)), 4))
        assert [h.id for h in got] == [h.id for h in sync]

    def test_empty_collection_counts_zero(self, store: VectorStore) -> None:
        assert not store.exists()
        assert store.count() == 0
        assert store.existing_hashes(["00000000-0000-0000-0000-000000000000"]) == {}
