"""The chunk ids a streaming ingest wrote, kept in 8 bytes an id."""

from __future__ import annotations

import hashlib
from array import array

import numpy as np


def id_hash(key: str) -> int:
    """A 64-bit hash of an id (blake2b)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class IdSet:
    """A set of ids kept as sorted 64-bit hashes (8 bytes an id, against ~100 for a ``set`` of str): the chunk ids
    a streaming ingest wrote, for :func:`stale_ids`. A hash collision could only keep a stale chunk (about one
    chance in 10^7 at 1M ids), never remove a current one."""

    def __init__(self) -> None:
        self._new = array("Q")
        self._sorted = np.zeros(0, dtype=np.uint64)

    def add(self, key: str) -> None:
        self._new.append(id_hash(key))

    def __len__(self) -> int:
        self._merge()
        return len(self._sorted)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self._merge()
        h = np.uint64(id_hash(key))
        i = int(np.searchsorted(self._sorted, h))
        return i < len(self._sorted) and self._sorted[i] == h

    def _merge(self) -> None:
        if len(self._new):
            self._sorted = np.unique(np.concatenate([self._sorted, np.frombuffer(self._new, dtype=np.uint64)]))
            self._new = array("Q")
