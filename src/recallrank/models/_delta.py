"""Models shipped as the difference from the bundled bi-encoder: only the tensors training changed, in fp16.

recallrank's trained late-interaction models keep all-MiniLM-L6-v2's embeddings and lower layers frozen, so a
package holds the upper layers (``delta.safetensors``) beside the model's config files; :func:`assemble` writes the
complete checkpoint (base tensors + delta) once into a cache folder that any ``MultiVectorEncoder`` loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

DELTA_NAME = "delta.safetensors"
WEIGHTS_NAME = "model.safetensors"
MANIFEST_NAME = "recallrank_delta.json"


def split_delta(model_dir: str | Path, base_dir: str | Path, dest: str | Path) -> Path:
    """Copy ``model_dir`` to ``dest`` with its weights reduced to the tensors that differ from ``base_dir``'s."""
    import torch
    from safetensors.torch import load_file, save_file

    src, dest = Path(model_dir), Path(dest)
    weights, base = load_file(str(src / WEIGHTS_NAME)), load_file(str(Path(base_dir) / WEIGHTS_NAME))
    changed = {k: v.half().contiguous() for k, v in weights.items()
               if k not in base or base[k].shape != v.shape or not torch.equal(base[k].float(), v.float())}
    top = str(src)
    shutil.copytree(src, dest, dirs_exist_ok=True,  # the top-level weights only: module folders keep their own
                    ignore=lambda d, names: [n for n in names if d == top and n in (WEIGHTS_NAME, "checkpoints")])
    save_file(changed, str(dest / DELTA_NAME))
    (dest / MANIFEST_NAME).write_text(json.dumps({"base_tensors": sorted(set(weights) - set(changed)),
                                                  "delta_tensors": sorted(changed)}, indent=1), encoding="utf-8")
    return dest


def assemble(delta_dir: str | Path, base_dir: str | Path, cache_root: str | Path | None = None) -> Path:
    """The complete checkpoint for ``delta_dir`` over ``base_dir``, written once (atomically) under ``cache_root``."""
    from safetensors.torch import load_file, save_file

    delta_dir = Path(delta_dir)
    digest = hashlib.sha256((delta_dir / DELTA_NAME).read_bytes()).hexdigest()[:16]
    root = Path(cache_root) if cache_root is not None else Path(
        os.environ.get("RECALLRANK_CACHE", Path.home() / ".cache" / "recallrank")) / "models"
    target = root / f"{delta_dir.name}-{digest}"
    if (target / WEIGHTS_NAME).exists():
        return target
    manifest = json.loads((delta_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    base = load_file(str(Path(base_dir) / WEIGHTS_NAME))
    missing = [k for k in manifest["base_tensors"] if k not in base]
    if missing:
        raise ValueError(f"{base_dir} lacks {missing[:3]}: {delta_dir} was trained over another base model")
    weights = {k: base[k].float().contiguous() for k in manifest["base_tensors"]}
    weights.update({k: v.float() for k, v in load_file(str(delta_dir / DELTA_NAME)).items()})
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    shutil.copytree(delta_dir, tmp, ignore=shutil.ignore_patterns(DELTA_NAME, MANIFEST_NAME), dirs_exist_ok=True)
    save_file(weights, str(tmp / WEIGHTS_NAME))
    try:
        tmp.rename(target)
    except OSError:  # another process assembled it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
