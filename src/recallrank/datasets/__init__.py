"""Retrieval sets: the frozen offline splits shipped with recallrank, and any BEIR folder.

``load_dataset("debian-en", "test")`` reads a frozen split; ``load_dataset("/path/to/scifact")`` a BEIR folder.
"""

from __future__ import annotations

from pathlib import Path

from recallrank.datasets.beir import RetrievalSet, load_beir, save_beir
from recallrank.errors import DatasetError

DATA_DIR = Path(__file__).parent / "data"


def available() -> dict[str, list[str]]:
    """Shipped dataset names and their splits."""
    return {d.name: sorted(s.name for s in d.iterdir() if s.is_dir()) for d in sorted(DATA_DIR.iterdir()) if d.is_dir()}


def load_dataset(name: str, split: str = "test") -> RetrievalSet:
    """A shipped split by name (see :func:`available`), or a BEIR folder by path."""
    shipped = DATA_DIR / name / split
    if shipped.is_dir():
        return load_beir(shipped, split=split, name=f"{name}-{split}")
    if Path(name).is_dir():
        return load_beir(name, split=split)
    names = available()
    if name in names:
        raise DatasetError(f"{name!r} has no {split!r} split shipped; choose one of {names[name]}")
    raise DatasetError(f"unknown dataset {name!r}: use one of {sorted(names)} or the path of a BEIR folder")


__all__ = ["RetrievalSet", "available", "load_beir", "load_dataset", "save_beir"]
