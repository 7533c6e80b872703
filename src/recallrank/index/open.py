"""One way to name a store everywhere (CLI, LangChain factories): an embedded path, or a server URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recallrank.index.base import VectorStore
from recallrank.index.embedded.store import EdgeStore
from recallrank.index.server.store import QdrantServerStore
from recallrank.redact import redact_url

#: where the embedded store lives when neither a path nor a URL is given
DEFAULT_PATH = ".recallrank/index"
DEFAULT_COLLECTION = "recallrank"


def open_store(path: str | Path | None = None, url: str | None = None, collection: str = DEFAULT_COLLECTION, *,
               api_key: str | None = None, **kwargs: Any) -> VectorStore:
    """An :class:`EdgeStore` at ``path`` (default ``.recallrank/index``), or a :class:`QdrantServerStore` at ``url``.

    Extra keyword arguments go to the store's constructor (``hnsw_ef``, ``timeout``, ...). Nothing is opened
    until the store is first used.

    Example:
        >>> open_store("./index", collection="notes")
        EdgeStore(path='index', name='notes', hnsw_ef=256)
    """
    if url is not None and path is not None:
        raise ValueError(f"pass either path={str(path)!r} (embedded) or url={redact_url(url)!r} (server), not both")
    if url is not None:
        return QdrantServerStore(url, collection, api_key=api_key, **kwargs)
    if api_key is not None:
        raise ValueError("api_key is only used with url=...; the embedded store has no authentication")
    return EdgeStore(path if path is not None else DEFAULT_PATH, collection, **kwargs)
