"""recallrank's trained late-interaction stages over all-MiniLM-L6-v2: a ColBERT (128-d token vectors) and a
Poly-encoder (16 codes), each shipped as the tensors training changed (fp16) over the bundled bi-encoder."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

KINDS = ("colbert", "poly")


def model_path(kind: str) -> Path:
    """The folder of the ``colbert`` or ``poly`` model (pass it to recallrank's LateInteractionEncoder or
    PolyEncoder)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return Path(__file__).parent / kind
