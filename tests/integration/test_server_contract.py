"""The store contract against a real Qdrant server: QDRANT_URL first, else testcontainers, else skipped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from recallrank import QdrantServerStore
from recallrank.index.base import VectorStore
from tests.store_contract import StoreContract

pytestmark = pytest.mark.integration

class TestServerStore(StoreContract):
    @pytest.fixture
    def store(self, qdrant_url: str) -> Iterator[VectorStore]:
        s = QdrantServerStore(qdrant_url, f"contract-{uuid.uuid4().hex[:8]}",
                              api_key=os.environ.get("QDRANT_API_KEY"))
        yield s
        s.client.delete_collection(s.name)
        s.close()
