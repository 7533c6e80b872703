"""The files of an embedded collection's folder that recallrank reads: its own ``recallrank.json`` (dimension,
similarity, settings, the point count at the last close, the models that built it) and the engine's
``edge_config.json`` (what Qdrant Edge itself declares)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from recallrank.errors import StoreCorruptedError, StoreError
from recallrank.index.embedded.swap import write_json
from recallrank.index.query import DISTANCES
from recallrank.index.settings import CollectionSettings

META_FILE = "recallrank.json"
ENGINE_CONFIG = "edge_config.json"
FORMAT = 2
#: Qdrant distance name -> recallrank similarity
SIMILARITY = {v: k for k, v in DISTANCES.items()}


def new_meta(dimension: int, similarity: str, points: int = 0,
             settings: CollectionSettings | None = None) -> dict[str, Any]:
    meta = {"format": FORMAT, "dimension": dimension, "similarity": similarity, "points": points, "pending": False}
    layout = settings.to_dict() if settings is not None else {}
    if layout:  # only what differs from the defaults: a default collection's file reads as before
        meta["settings"] = {k: v for k, v in layout.items() if k not in ("rescore", "oversampling")}
    return meta


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write ``recallrank.json`` atomically: a temporary file, fsync, then rename over the old one."""
    write_json(path, meta)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def read_meta(path: Path, repair: str) -> dict[str, Any] | None:
    """The ``recallrank.json`` at ``path`` (``None`` if there is none); an unreadable one is an error whose way
    out is the ``repair`` command."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        meta = json.loads(text)
        if not isinstance(meta, dict) or not isinstance(meta.get("dimension"), int) \
                or meta.get("similarity") not in DISTANCES:
            raise ValueError("expected {'dimension': int, 'similarity': 'cosine'|'dot'|'euclidean', ...}")
        if "points" in meta and (not isinstance(meta["points"], int) or isinstance(meta["points"], bool)):
            raise ValueError("'points' must be an int")
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorruptedError(f"{path} is damaged ({first_line(exc)}); run `{repair}` to rewrite it from the "
                                  "engine's own config") from exc
    return meta


def engine_vectors(location: Path) -> dict[str, Any] | None:
    """The vector declarations of the engine's own ``edge_config.json`` in ``location`` (name -> settings; ``""``
    is the dense vector), or ``None`` if it cannot be read."""
    try:
        vectors = json.loads((location / ENGINE_CONFIG).read_text(encoding="utf-8"))["vectors"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return vectors if isinstance(vectors, dict) else None


def engine_sparse(location: Path) -> dict[str, Any]:
    """The sparse vector declarations of the engine's own ``edge_config.json`` (name -> settings)."""
    try:
        found = json.loads((location / ENGINE_CONFIG).read_text(encoding="utf-8")).get("sparse_vectors")
    except (OSError, ValueError, AttributeError):
        return {}
    return found if isinstance(found, dict) else {}


def engine_config(location: Path) -> tuple[int, str] | None:
    """(dimension, similarity) as the engine itself recorded them at creation."""
    try:
        dense = (engine_vectors(location) or {})[""]
        return int(dense["size"]), SIMILARITY[dense["distance"]]
    except (ValueError, KeyError, TypeError):
        return None


def engine_multivectors(location: Path) -> dict[str, int]:
    """Token-vector fields as the engine's own config declares them: name -> size."""
    try:
        return {str(k): int(v["size"]) for k, v in (engine_vectors(location) or {}).items()
                if k and v.get("multivector_config")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def fields_meta(fields: dict[str, int], listed: dict[str, Any]) -> dict[str, Any]:
    """The ``multivectors`` entry of ``recallrank.json`` for the engine's ``fields``, keeping known model names."""
    return {name: {"dimension": size, "model": (listed.get(name) or {}).get("model")} for name, size in fields.items()}


def engine_layout(location: Path) -> CollectionSettings:
    """The collection settings the engine's own config still shows (on-disk vectors and graph, quantisation), for
    a ``recallrank.json`` written anew: without them the next open would declare the defaults to the engine."""
    try:
        config = json.loads((location / ENGINE_CONFIG).read_text(encoding="utf-8"))
        dense = config["vectors"][""]
        quantization = dense.get("quantization_config") or {}
        kind: Literal["scalar", "binary"] | None = (
            "scalar" if "scalar" in quantization else "binary" if "binary" in quantization else None)
        return CollectionSettings(
            on_disk=dense.get("on_disk") is True, hnsw_on_disk=(config.get("hnsw_config") or {}).get("on_disk") is True,
            quantization=kind, quantization_always_ram=(quantization.get(kind) or {}).get("always_ram") is not False
            if kind else True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return CollectionSettings()


def segment_fields(location: Path) -> tuple[dict[str, str], list[str]] | None:
    """(token-vector field -> storage datatype, sparse field names) as the collection's segments were written
    (``segment.json``; a field with no datatype there is fp32), ``None`` when no segment can be read."""
    for config in sorted(location.glob("segments/*/segment.json")):
        try:
            c = json.loads(config.read_text(encoding="utf-8"))["config"]
            vectors = {str(k): str(v.get("datatype") or "float32") for k, v in c["vector_data"].items()
                       if k and v.get("multivector_config")}
            return vectors, sorted(str(k) for k in (c.get("sparse_vector_data") or {}))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return None
