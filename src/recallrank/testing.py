"""Test helpers shared by recallrank's own suites and its integrations' (needs pytest, imported lazily)."""

from __future__ import annotations

import os
from collections.abc import Iterator

#: a tiny corpus of (id, text, metadata): two "apple" texts that share words (company, fruit) and three others
SAMPLE_CORPUS: list[tuple[str, str, dict[str, object]]] = [
    ("apple-inc", "Apple Inc. is an American technology company; its market value passed three trillion dollars.",
     {"topic": "business", "year": 2023}),
    ("apple-fruit", "The apple is a sweet fruit; apple orchards have a high market value for farmers.",
     {"topic": "food", "year": 2021}),
    ("qdrant", "Qdrant is a vector database and similarity search engine written in Rust.",
     {"topic": "software", "year": 2023}),
    ("python", "Python is a programming language that lets you work quickly and integrate systems.",
     {"topic": "software", "year": 2020}),
    ("tea", "Green tea is made from leaves of Camellia sinensis that have not been withered or oxidised.",
     {"topic": "food", "year": 2019}),
]

#: the server image testcontainers starts when no QDRANT_URL is set (token-vector fields need >= 1.18)
QDRANT_IMAGE = os.environ.get("QDRANT_IMAGE", "qdrant/qdrant:v1.18.0")


def qdrant_server() -> Iterator[str]:
    """Yield the URL of a real Qdrant server: ``QDRANT_URL`` first, else one started by testcontainers (image
    ``QDRANT_IMAGE``), else skip the test saying why. Use it as the body of a pytest fixture."""
    import pytest

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
