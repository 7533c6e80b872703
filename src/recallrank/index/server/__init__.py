"""A collection on a Qdrant server or cluster, through qdrant-client (see :class:`QdrantServerStore`)."""

from recallrank.index.server.store import QdrantServerStore

__all__ = ["QdrantServerStore"]
