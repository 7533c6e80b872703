"""A real Qdrant server for integration tests: QDRANT_URL first, else testcontainers, else the tests skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from recallrank import QdrantServerStore
from recallrank.testing import qdrant_server


@pytest.fixture(scope="module")
def qdrant_url() -> Iterator[str]:
    yield from qdrant_server()


@pytest.fixture
def new_store(qdrant_url: str) -> Iterator[Callable[..., QdrantServerStore]]:
    """Makes server collections with unique names (``new_store("stages")``); each is deleted after the test."""
    made: list[QdrantServerStore] = []

    def make(name: str = "c") -> QdrantServerStore:
        store = QdrantServerStore(qdrant_url, f"{name}-{uuid.uuid4().hex[:8]}",
                                  api_key=os.environ.get("QDRANT_API_KEY"))
        made.append(store)
        return store

    yield make
    for store in made:
        if store.exists():
            store.client.delete_collection(store.name)
        store.close()
