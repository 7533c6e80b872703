"""Test settings when this integration's tests run alone, and a real Qdrant server for its integration tests:
QDRANT_URL first, else testcontainers, else those tests skip."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# Run on their own (`pytest integrations/haystack`), these tests do not load the core suite's tests/conftest.py:
# the same offline settings here. No backend or precision is pinned: the encoders run on their defaults ("auto").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Haystack's telemetry posts to PostHog on every pipeline run; offline that is retries and a wait at exit
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import pytest

from recallrank.testing import qdrant_server

# in the whole suite tests/conftest.py keeps test folders in RAM: its removal of a passed test's folder applies
# here too, as does the run's folder after a passed run (run alone from another folder, where `tests` is not
# importable, they stay where TMPDIR says)
with contextlib.suppress(ImportError):
    from tests.conftest import _free_test_folder, pytest_runtest_makereport, pytest_sessionfinish  # noqa: F401


@pytest.fixture(scope="module")
def qdrant_url() -> Iterator[str]:
    yield from qdrant_server()
