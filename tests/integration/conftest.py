"""A real Qdrant server for integration tests: QDRANT_URL first, else testcontainers, else the tests skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

QDRANT_IMAGE = os.environ.get("QDRANT_IMAGE", "qdrant/qdrant:v1.18.0")  # token-vector fields need >= 1.18


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
