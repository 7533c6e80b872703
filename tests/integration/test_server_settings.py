"""Collection settings on a real Qdrant server: what tests/unit/test_scale.py checks through a recorded request,
here read back from the server itself (shards, replication, write consistency, on-disk, quantisation, gRPC)."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest

from recallrank import CollectionMismatchError, CollectionSettings, QdrantServerStore
from tests.unit.test_scale import _points

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("grpc", [False, True])
def test_settings_reach_the_server_and_quantised_search_rescores(qdrant_url: str, grpc: bool) -> None:
    settings = CollectionSettings(on_disk=True, on_disk_payload=True, quantization="scalar", shard_number=2,
                                  replication_factor=1, write_consistency_factor=1, oversampling=2.0)
    store = QdrantServerStore(qdrant_url, f"settings-{uuid.uuid4().hex[:8]}", api_key=os.environ.get("QDRANT_API_KEY"),
                              settings=settings, prefer_grpc=grpc)
    try:
        store.ensure_collection(32, "cosine")
        config = store.client.get_collection(store.name).config
        assert config.params.shard_number == 2 and config.params.replication_factor == 1
        assert config.params.write_consistency_factor == 1 and config.params.on_disk_payload is True
        assert config.params.vectors.on_disk is True and config.quantization_config.scalar is not None
        points = _points(500, dim=32)
        store.upsert(points)
        q = points[7].vector
        assert store.search(q, 5)[0].id == points[7].id
        assert [h.id for h in store.search(q, 10)][:3] == [h.id for h in store.search(q, 10, exact=True)][:3]
        again = QdrantServerStore(qdrant_url, store.name, api_key=os.environ.get("QDRANT_API_KEY"),
                                  settings=CollectionSettings(quantization="binary"))
        with pytest.raises(CollectionMismatchError, match="created with other settings"):
            again.ensure_collection(32, "cosine")
        assert np.isfinite(store.search(q, 1)[0].score)
    finally:
        store.client.delete_collection(store.name)
        store.close()
