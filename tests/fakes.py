"""Stand-ins for tests about storage, where the model does not matter."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np


class HashEncoder:
    """A deterministic bi-encoder stand-in: a text's vector comes from its SHA-256 (no model to load)."""

    model_name, similarity, pooling = "hash", "cosine", None

    def __init__(self, dimension: int = 8) -> None:
        self.dimension = dimension

    def encode_documents(self, texts: Sequence[str], show_progress_bar: bool = False) -> np.ndarray:
        out = []
        for t in texts:
            seed = int.from_bytes(hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest()[:8], "little")
            out.append(np.random.default_rng(seed).normal(size=self.dimension))
        return np.array(out, dtype=np.float32)

    encode_queries = encode_documents

    def warm_up(self) -> None:
        """Nothing to load."""

    def config(self) -> dict[str, Any]:
        return {"model": "hash", "dimension": self.dimension}


class HashTokenEncoder:
    """A late-interaction stand-in: one normalised hash vector per word (no model to load)."""

    model_name = "hash-tokens"

    def __init__(self, dimension: int = 8) -> None:
        self.dimension = dimension
        self.documents_encoded = 0

    def _encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for t in texts:
            rows = HashEncoder(self.dimension).encode_documents(t.split() or ["<empty>"])
            out.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
        return out

    def encode_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        self.documents_encoded += len(texts)
        return self._encode(texts)

    def warm_up(self) -> None:
        """Nothing to load."""

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name}
