"""Helpers the commands share: the store the settings name, where it is, and where built indexes are cached."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import VectorStore
from recallrank.index.open import open_store
from recallrank.index.settings import CollectionSettings
from recallrank.redact import redact_url


def store_options(s: dict[str, Any]) -> dict[str, Any]:
    """The collection settings (and gRPC) the options ask for: ``settings=`` only when one is set, so an
    existing collection is used as it is otherwise."""
    asked: dict[str, Any] = {"on_disk": s.get("on_disk") or False, "quantization": s.get("quantization"),
                             "shard_number": s.get("shards"), "replication_factor": s.get("replicas"),
                             "write_consistency_factor": s.get("write_consistency")}
    if s.get("token_storage") is not None:
        asked["token_storage"] = s["token_storage"]
    out: dict[str, Any] = {}
    if any(v not in (None, False) for v in asked.values()):
        if not s.get("url") and any(asked[k] is not None for k in ("shard_number", "replication_factor",
                                                                    "write_consistency_factor")):
            raise InvalidInputError("--shards, --replicas and --write-consistency set up a collection on a Qdrant "
                                    "server or cluster; pass --url too (the embedded store is one shard)")
        try:
            out["settings"] = CollectionSettings(**asked)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
    if s.get("grpc"):
        if not s.get("url"):
            raise InvalidInputError("--grpc talks to a Qdrant server; pass --url too")
        out["prefer_grpc"] = True
    return out


def settings_store(s: dict[str, Any], collection: str | None = None, **options: Any) -> VectorStore:
    """The store ``--path`` or ``--url`` names (``collection``, else ``--collection``); nothing is opened yet."""
    return open_store(None if s["url"] else s["path"], s["url"], collection if collection is not None
                      else s["collection"], api_key=s["api_key"], **options)


def require_collection(store: VectorStore, s: dict[str, Any]) -> None:
    if not store.exists():
        raise StoreError(f"no collection '{s['collection']}' at {where(s)}; run `recallrank index FILES` first, or "
                         "pass the --path/--url and --collection it was built with")


def where(s: dict[str, Any]) -> str:
    return f"{redact_url(s['url'])} (collection {s['collection']})" if s["url"] else f"{s['path']}/{s['collection']}"


def cache_dir(what: str) -> Path:
    """``$XDG_CACHE_HOME/recallrank/<what>`` (default ``~/.cache/recallrank/<what>``): indexes built for you."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recallrank" / what


def snippet(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"
