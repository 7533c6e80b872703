"""Shared by the benchmark scripts: machine facts, corpora of a given size, percentiles, isolated runs, results."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).parent / "results"
# the recipes (recipes/, not in the wheel) some benchmarks reuse are imported from the checkout
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recallrank" / "bench"


def machine() -> str:
    import torch

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = Path("/proc/cpuinfo").read_text()
        isa = [f for f in ("avx512_bf16", "amx_bf16", "avx512_vnni", "avx512f", "avx2") if f" {f}" in flags]
    except OSError:
        isa = []
    return (f"{os.cpu_count()} cores, {model} ({', '.join(isa) or 'no AVX-512 flags'}), torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}, no GPU")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def p50(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh process; its result gains ``peak_rss_mb`` (the child's high-water mark)."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_measured, fn, *args).result()


def _measured(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    import resource

    out = fn(*args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def debian_corpus(size: int) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(corpus, queries, qrels): the frozen debian-en test split (5,000 documents, 500 judged queries) plus
    unjudged English Debian descriptions from the training pairs as distractors, up to ``size`` documents."""
    from recallrank import load_dataset

    ds = load_dataset("debian-en", "test")
    corpus = dict(ds.corpus)
    if size <= len(corpus):
        judged = {d for rels in ds.qrels.values() for d in rels}
        keep = [d for d in corpus if d in judged][:size]
        keep += [d for d in corpus if d not in judged][:size - len(keep)]
        corpus = {d: corpus[d] for d in keep}
        queries = {q: t for q, t in ds.queries.items() if set(ds.qrels[q]) <= set(corpus)}
        return corpus, queries, {q: ds.qrels[q] for q in queries}
    texts = set(corpus.values())
    for pair in _training_pairs():
        if len(corpus) >= size:
            break
        if pair["text"] not in texts:
            corpus[f"distractor:{pair['key']}"] = pair["text"]
            texts.add(pair["text"])
    if len(corpus) < size:
        raise SystemExit(f"only {len(corpus)} Debian descriptions available; ask for fewer documents")
    return corpus, dict(ds.queries), dict(ds.qrels)


def _training_pairs() -> list[dict[str, str]]:
    work = Path.home() / ".cache" / "recallrank" / "datasets"
    path = work / "pairs" / "debian-en" / "train.jsonl"
    if not path.exists():  # fetch the Debian translations with apt (the frozen splits only hold 5,000 documents)
        import tempfile

        from recipes.data.build import build

        with tempfile.TemporaryDirectory() as tmp:
            build(work, Path(tmp))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_results(name: str, title: str, body: str, argv: Sequence[str] | None = None) -> Path:
    """``benchmarks/results/<name>.md`` with the date, the machine and the exact command."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0]), *(argv or sys.argv[1:])])
    path = RESULTS / f"{name}.md"
    path.write_text(f"# {title}\n\n- date: {dt.date.today().isoformat()}\n- machine: {machine()}\n"
                    f"- command: `{command}`\n\n{body.rstrip()}\n", encoding="utf-8")
    return path


def publish(name: str, title: str, body: str) -> Path:
    """Print the results and write them to ``benchmarks/results/<name>.md`` (see :func:`write_results`)."""
    print(body)
    path = write_results(name, title, body)
    print(f"\nwritten to {path}")
    return path


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (also readable as printed text)."""
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
