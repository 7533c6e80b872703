"""Scale on one machine: streaming ingest memory at 10k / 100k / 1M chunks, and the embedded store at 1M points.

    python benchmarks/scale.py                 # 10k, 100k and 1M (about 20 minutes on 2 cores, ~4 GB of disk)
    python benchmarks/scale.py --sizes 10000,100000

**Ingest memory.** JSONL files of N records (English Debian descriptions, each record one chunk, numbered so none
repeats) go through what ``recallrank index`` runs: :func:`scan_sources` (every line checked, no text kept), then
:func:`stream_chunks` into ``TwoStageRetriever.add_documents`` batch by batch, with the written ids kept in an
:class:`IdSet` for the stale check. The bi-encoder is *synthetic* at 100k and 1M (vectors from a hash of the text,
clustered around 2,000 centres like real embeddings, 384-d): embedding 1M chunks on 2 cores would take ~2 hours and
says nothing about memory. At 10k the real default encoder runs too. Each run is its own process; peak RSS is its
high-water mark. The store is an :class:`EdgeStore` with on-disk vectors and payloads and scalar quantisation;
the old path (every chunk read into a list first) is measured beside it up to 100k.

**The store at 1M.** The 1M-point store the ingest built is reopened in a fresh process: disk size, RSS after 100
queries, recall p50/p95 at top 100 (HNSW, quantised codes, rescoring), HNSW recall@100 against exact search, and a
filtered query (payload index created on first use).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACHE, debian_corpus, isolated, p50, percentile, publish, table

DIM = 384
CENTRES = 2000


class SyntheticEncoder:
    """Vectors from a hash of the text, near one of ``CENTRES`` fixed directions (as embeddings cluster by topic),
    at ~100k texts/s: the store and the ingest loop are measured, not a model."""

    model_name, similarity, pooling, dimension = "synthetic", "cosine", None, DIM

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)

    def encode_documents(self, texts: list[str], show_progress_bar: bool = False) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in texts]
        noise = np.stack([np.random.default_rng(s).standard_normal(DIM, dtype=np.float32) for s in seeds])
        out = self.centres[[s % CENTRES for s in seeds]] + 0.8 * noise
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_documents

    def warm_up(self) -> None:
        """Nothing to load."""

    def config(self) -> dict[str, Any]:
        return {"model": "synthetic"}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_split() -> tuple[float, float]:
    """(anonymous, file-backed) resident MB now: file-backed pages are the store's memory-mapped files, which the
    kernel drops under memory pressure; anonymous memory is what the process holds."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return (int(fields.get("RssAnon", "0 kB").split()[0]) / 1024, int(fields.get("RssFile", "0 kB").split()[0]) / 1024)


def make_jsonl(path: Path, n: int) -> Path:
    """``n`` one-chunk records (Debian descriptions cut to 700 characters, numbered), with a group key."""
    if path.is_file() and sum(1 for _ in path.open()) == n:
        return path
    corpus, _, _ = debian_corpus(20000)
    texts = [t[:700] for t in corpus.values()]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"r{i}", "text": f"{texts[i % len(texts)]} [{i}]", "group": f"g{i % 50}"})
                     + "\n")
    tmp.replace(path)
    return path


def ingest(source: str, store_dir: str, real: bool, streaming: bool) -> dict[str, Any]:
    from recallrank import BiEncoder, CollectionSettings, EdgeStore, TwoStageRetriever
    from recallrank.loaders import IdSet, chunk_documents, read_sources, scan_sources, stale_ids, stream_chunks

    encoder: Any = BiEncoder() if real else SyntheticEncoder()
    encoder.warm_up()
    start_mb = _peak_mb()
    settings = CollectionSettings(on_disk=True, on_disk_payload=True, quantization="scalar")
    store = EdgeStore(store_dir, "scale", settings=settings)
    retriever = TwoStageRetriever(store, encoder, False)
    t = time.perf_counter()
    if streaming:
        found = scan_sources([source])
        written = IdSet()

        def docs() -> Any:
            for d in stream_chunks(found):
                written.add(str(d.id))
                yield d

        report = retriever.add_documents(docs(), batch_size=512)
        current: Any = written
    else:
        found = read_sources([source])
        chunks, _ = chunk_documents(found.sources)
        report = retriever.add_documents(chunks, batch_size=512)
        current = {str(d.id) for d in chunks}
    seconds = time.perf_counter() - t
    anon, file_backed = _rss_split()
    stale = stale_ids(store, found, current)
    store.close()
    return {"added": report.added, "seconds": seconds, "stale": len(stale), "rss_models_mb": start_mb,
            "anon_mb": anon, "file_mb": file_backed,
            "encoder": "default (BiEncoder)" if real else "synthetic"}


def query_store(store_dir: str, n_queries: int) -> dict[str, Any]:
    from recallrank import CollectionSettings, EdgeStore

    store = EdgeStore(store_dir, "scale", settings=CollectionSettings(on_disk=True, on_disk_payload=True,
                                                                       quantization="scalar", oversampling=2.0))
    t = time.perf_counter()
    points = store.count()
    open_s = time.perf_counter() - t
    enc = SyntheticEncoder()
    queries = enc.encode_queries([f"query {i}" for i in range(n_queries)])
    times, recalls, ftimes = [], [], []
    for q in queries:
        t = time.perf_counter()
        hits = store.search(q, 100)
        times.append(time.perf_counter() - t)
    for q in queries[:30]:
        exact = {h.id for h in store.search(q, 100, exact=True)}
        recalls.append(len({h.id for h in store.search(q, 100)} & exact) / 100)
    for q in queries[:50]:
        t = time.perf_counter()
        store.search(q, 100, {"group": "g7"})
        ftimes.append(time.perf_counter() - t)
    rss = _peak_mb()
    store.close()
    return {"points": points, "open_s": open_s, "times": times, "recall": float(np.mean(recalls)),
            "filtered_times": ftimes[1:], "rss_mb": rss, "hits": len(hits)}


def _store_row(q: dict[str, Any], store_dir: Path) -> list[str]:
    return [f"{q['points']:,}", "on-disk vectors + payloads, scalar int8 codes in RAM, rescoring (oversampling 2)",
            f"{_du(store_dir / 'scale'):.0f}", f"{q['peak_rss_mb']:.0f}", f"{q['open_s']:.1f}",
            f"{p50(q['times']) * 1000:.1f} / {percentile(q['times'], 95) * 1000:.1f}", f"{q['recall']:.3f}",
            f"{p50(q['filtered_times']) * 1000:.1f} / {percentile(q['filtered_times'], 95) * 1000:.1f}"]


def _du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--work", default=str(CACHE / "scale"),
                   help="where the JSONL files and stores go (the 1M store and file take ~3 GB; delete when done)")
    p.add_argument("--name", default="scale", help="results file name (benchmarks/results/NAME.md)")
    p.add_argument("--query-only", action="store_true",
                   help="only reopen and query the largest size's store a previous run kept")
    args = p.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows, store_rows = [], []
    for n in sizes if not args.query_only else []:
        source = make_jsonl(work / f"chunks-{n}.jsonl", n)
        runs = [("streaming", False, True)]
        if n <= 10000:
            runs.append(("streaming", True, True))
        if n <= 100000:
            runs.append(("list (before)", False, False))
        for label, real, streaming in runs:
            store_dir = work / f"store-{n}-{label.split()[0]}-{'real' if real else 'syn'}"
            shutil.rmtree(store_dir, ignore_errors=True)
            r = isolated(ingest, str(source), str(store_dir), real, streaming)
            rows.append([f"{n:,}", label, r["encoder"], f"{r['added']:,}", f"{r['added'] / r['seconds']:,.0f}",
                         f"{r['seconds']:.0f}", f"{r['rss_models_mb']:.0f}", f"{r['peak_rss_mb']:.0f}",
                         f"{r['anon_mb']:.0f} / {r['file_mb']:.0f}",
                         f"{_du(store_dir / 'scale'):.0f}"])
            print(rows[-1], flush=True)
            if n == max(sizes) and streaming and not real:
                q = isolated(query_store, str(store_dir), args.queries)
                store_rows.append(_store_row(q, store_dir))
                print(store_rows[-1], flush=True)
            if not (n == max(sizes) and streaming and not real):
                shutil.rmtree(store_dir, ignore_errors=True)  # only the largest store is kept (and reopened)
    if args.query_only:
        store_dir = work / f"store-{max(sizes)}-streaming-syn"
        q = isolated(query_store, str(store_dir), args.queries)
        store_rows.append(_store_row(q, store_dir))
    body = ("" if not rows else "## Streaming ingest: peak memory against collection size\n\n" + table(
        ["chunks", "ingest path", "encoder", "written", "chunks/s", "seconds", "RSS with models loaded MB",
         "peak RSS MB", "RSS after ingest: anonymous / memory-mapped files MB", "store on disk MB"], rows))
    if store_rows:
        body += ("" if not rows else "\n\n") + (
            "## The embedded store at its largest size (fresh process, synthetic 384-d vectors; exact search on the "
            "original vectors, quantisation ignored)\n\n" + table(
            ["points", "layout", "disk MB", "peak RSS MB", "open s", "top-100 search p50 / p95 ms",
             "HNSW recall@100 vs exact", "filtered (1 of 50 groups) p50 / p95 ms"], store_rows))
    publish(args.name, "Scale: streaming ingest and the embedded store at 1M points", body)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
