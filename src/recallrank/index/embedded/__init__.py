"""The embedded store (Qdrant Edge, in-process) and its crash-safe lifecycle: swap, rebuild, re-embed, doctor."""

from recallrank.index.embedded.store import EdgeStore

__all__ = ["EdgeStore"]
