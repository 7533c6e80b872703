"""``precision="auto"`` by measurement: the first use of a model on a machine times each precision the CPU can run
natively (fp32 always; bf16 where it has bf16 instructions; calibrated int8 where it has int8 dot products) on a
few real batches and keeps the fastest, cached per model, runtime and CPU. CPU flags only say which precisions are
worth timing: an AMX Xeon ran OpenVINO bf16 faster than int8 on one model, an EPYC the other way round.

The choice is stored in ``$XDG_CACHE_HOME/recallrank/auto/<key>.json`` with the timings behind it; delete the file
(or set ``$RECALLRANK_PRECISION``) to choose again. int8 is only a candidate within the quality bound
``benchmarks/backends.py`` already checks for it (static, calibrated).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("recallrank.models")

#: timed calls per candidate after one warm-up call (the median is compared)
ROUNDS = 3


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cache_file(model_name: str, backend: str, candidates: Sequence[str], extra: str = "") -> Path:
    from recallrank.models._runtime import _cpu_flags

    folder = Path(model_name).expanduser()
    stamp = ""
    if folder.is_dir():
        stamp = ";".join(f"{f.name}:{f.stat().st_size}" for f in sorted(folder.glob("*.safetensors")))
    key = hashlib.sha1("|".join([str(folder.resolve()) if folder.is_dir() else model_name, stamp, backend,
                                 ",".join(candidates), extra, cpu_name(), ",".join(sorted(_cpu_flags())),
                                 str(os.cpu_count())]).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recallrank" / "auto" / f"{key}.json"


def recorded(path: Path, candidates: Sequence[str]) -> str | None:
    """The precision measured fastest before (``None``: not measured, or the record is unreadable)."""
    try:
        winner = json.loads(path.read_text(encoding="utf-8")).get("precision")
    except (OSError, ValueError, AttributeError):
        return None
    return winner if winner in candidates else None


def fastest(candidates: Sequence[str], build: Callable[[str], Callable[[dict[str, np.ndarray]], Any]],
            batches: Sequence[dict[str, np.ndarray]], path: Path, what: str) -> tuple[str, Callable[..., Any]]:
    """Build each candidate, time it on ``batches`` and return the fastest with its runner; the choice and the
    timings are written to ``path`` (atomically)."""
    timings: dict[str, float] = {}
    runners: dict[str, Callable[..., Any]] = {}
    for precision in candidates:
        run = build(precision)
        run(batches[0])  # warm-up: first-call allocations and kernel selection
        rounds = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for batch in batches:
                run(batch)
            rounds.append(time.perf_counter() - start)
        timings[precision] = float(np.median(rounds))
        runners[precision] = run
    winner = min(timings, key=timings.__getitem__)
    log.info("precision='auto' for %s on %s: %s (seconds per %d batches: %s)", what, cpu_name(), winner,
             len(batches), ", ".join(f"{k} {v:.3f}" for k, v in timings.items()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"precision": winner, "seconds": timings, "cpu": cpu_name(), "model": what,
                                   "batches": len(batches)}, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only cache: measured again next time, never an error
        log.debug("could not record the precision choice at %s: %s", path, exc)
    return winner, runners[winner]
