"""recallrank's bilingual reranker: a sentence-transformers CrossEncoder folder shipped as a package."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def get_model_path() -> Path:
    """The folder to pass to ``sentence_transformers.CrossEncoder``."""
    return Path(__file__).parent / "model"
