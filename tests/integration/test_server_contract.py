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

QDRANT_IMAGE = os.environ.get("QDRANT_IMAGE", "qdrant/qdrant:v1.15.4")


@pytest.fixture(scope="module")
def qdrant_url() -> Iterator[str]:
    url = os.environ.get("QDRANT_URL")
    if url:
        yield url
        return
    try:
        from testcontainers.community.qdrant import QdrantContainer
    except ImportError:
        pytest.skip("no QDRANT_URL and testcontainers[qdrant] is not installed")
    try:
        container = QdrantContainer(QDRANT_IMAGE)
        container.start()
    except Exception as exc:  # no Docker engine, or the image cannot be pulled
        pytest.skip(f"no QDRANT_URL and testcontainers could not start {QDRANT_IMAGE}: {type(exc).__name__}: "
                    f"{str(exc)[:160]}")
    try:
        yield f"http://{container.get_container_host_ip()}:{container.exposed_rest_port}"
    finally:
        container.stop()


class TestServerStore(StoreContract):
    @pytest.fixture
    def store(self, qdrant_url: str) -> Iterator[VectorStore]:
        s = QdrantServerStore(qdrant_url, f"contract-{uuid.uuid4().hex[:8]}",
                              api_key=os.environ.get("QDRANT_API_KEY"))
        yield s
        s.client.delete_collection(s.name)
        s.close()
