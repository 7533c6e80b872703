"""Rerank stages against a real Qdrant server (>= 1.18: a token-vector field added to an existing collection):
the same tests as tests/unit/test_stages.py, which run them on the embedded engine and qdrant-client's local mode."""

from __future__ import annotations

import pytest

from tests.unit.test_stages import (  # noqa: F401  (collected here, against the server)
    test_an_old_index_keeps_working_says_how_to_add_the_field_and_add_stage_vectors_fills_it,
    test_ingest_writes_token_vectors_and_the_stage_scores_them_inside_qdrant,
    test_points_missing_token_vectors_are_scored_on_the_fly,
    test_the_poly_stage_reads_the_vectors_the_store_holds,
)

pytestmark = pytest.mark.integration


