"""A real Qdrant server for integration tests: QDRANT_URL first, else testcontainers, else the tests skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recallrank.testing import qdrant_server


@pytest.fixture(scope="module")
def qdrant_url() -> Iterator[str]:
    yield from qdrant_server()
