"""Sparse and hybrid recall against a real Qdrant server (>= 1.18 for the backfill's new sparse field): the same
tests as tests/unit/test_hybrid.py, which run them on the embedded engine and qdrant-client's local mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from recallrank import QdrantServerStore
from tests.unit.test_hybrid import (  # noqa: F401  (collected here, against the server)
    test_an_exact_identifier_dense_misses_is_found_by_sparse_and_hybrid,
    test_an_old_collection_raises_the_way_out_and_the_backfill_fixes_it,
    test_async_search_gives_the_same_ids,
    test_chinese_is_segmented_and_matched_by_sparse_recall,
    test_the_filter_applies_inside_both_legs,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def make_store(new_store: Callable[..., QdrantServerStore]) -> Callable[[], QdrantServerStore]:
    """What tests/unit/test_hybrid.py's tests take: a new collection, here on the server."""
    return lambda: new_store("hybrid")
