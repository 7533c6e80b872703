"""The default pipeline's own layout at scale: every point carries what `TwoStageRetriever(EdgeStore(...))` writes
(the dense vector, the MaxSim stage's token vectors as TurboQuant 4-bit codes, the BM25 field and the payload), then
the whole default search (recall top 100 -> MaxSim inside Qdrant -> top 10) is timed on the store.

    python benchmarks/scale_default.py                       # 100,000 documents
    python benchmarks/scale_default.py --docs 1000000        # a million (hours on 2 cores, ~17 GB of disk)

**Synthetic values, said so:** the dense vectors come from ``scale.py``'s hashed encoder (clustered like real
embeddings) and each document gets 68 hashed 384-d unit token vectors (the mean count of a Debian description once
its punctuation is dropped); texts are Debian descriptions cut to 700 characters and numbered. No model runs: the
store, the ingest loop and the query path are measured, at their real sizes. Memory is sampled every batch (anonymous
RSS: what the process holds; the store's memory-mapped files are counted apart), so a build whose memory grows with
the collection shows it.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACHE, machine, p50, percentile, publish, table
from scale import DIM, SyntheticEncoder, _rss_split, make_jsonl

TOKENS = 68
QUERY_TOKENS = 8


class SyntheticOnePass(SyntheticEncoder):
    """The synthetic bi-encoder, also giving token vectors from "the same pass" (hashed, unit length)."""

    def encode_with_tokens(self, texts: list[str], what: str = "document", skip: Any = None,
                           ) -> tuple[np.ndarray, list[np.ndarray]]:
        dense = self.encode_documents(texts)
        n = TOKENS if what == "document" else QUERY_TOKENS
        tokens = []
        for row in dense:
            rng = np.random.default_rng(int(abs(row[0]) * 1e9))
            t = rng.standard_normal((n, DIM), dtype=np.float32) + 2 * row
            tokens.append(t / np.linalg.norm(t, axis=1, keepdims=True))
        return dense, tokens


class SyntheticTokens:
    """A zero-shot token encoder over :class:`SyntheticOnePass` (the pipeline then runs one pass at ingest)."""

    model_name = "synthetic-tokens"
    document_skip = None

    def __init__(self, runner: SyntheticOnePass) -> None:
        self.runner = runner
        self.dimension = DIM

    def warm_up(self) -> None:
        """Nothing to load."""

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        return self.runner.encode_with_tokens(list(texts), "query")[1]

    def encode_documents(self, texts: list[str]) -> list[np.ndarray]:
        return self.runner.encode_with_tokens(list(texts))[1]

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name}


def main() -> int:
    from recallrank import EdgeStore, TwoStageRetriever
    from recallrank.index.embedded.usage import WAL, disk_usage
    from recallrank.loaders import scan_sources, stream_chunks
    from recallrank.rerank.maxsim import MaxSimReranker
    from recallrank.rerank.registry import MAXSIM_FUSE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--work", default=str(CACHE / "scale_default"))
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work / "store", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    source = make_jsonl(work / f"records-{args.docs}.jsonl", args.docs)
    encoder = SyntheticOnePass()
    stage = MaxSimReranker(SyntheticTokens(encoder), field="maxsim", fuse=MAXSIM_FUSE)  # type: ignore[arg-type]
    retriever = TwoStageRetriever(EdgeStore(work / "store", "default"), encoder, stage,  # type: ignore[arg-type]
                                  top_k=100, top_n=10)
    samples: list[tuple[int, float]] = []
    done = [0]

    def sample(n: int) -> None:
        done[0] += n
        samples.append((done[0], _rss_split()[0]))

    t = time.perf_counter()
    report = retriever.add_documents(stream_chunks(scan_sources([str(source)])), batch_size=512, progress=sample)
    seconds = time.perf_counter() - t
    queries = [f"query about package {i}" for i in range(args.queries)]
    retriever.search(queries[0])
    times = []
    for q in queries:
        t = time.perf_counter()
        retriever.search(q)
        times.append(time.perf_counter() - t)
    anon, mapped = _rss_split()
    retriever.store.close()
    parts = disk_usage(work / "store" / "default")
    total = sum(parts.values())
    tenth = max(1, len(samples) // 10)
    rows = [["documents", f"{report.added:,}"], ["ingest", f"{report.added / seconds:.0f} docs/s ({seconds:.0f} s)"],
            ["anonymous RSS during the build (MB), every tenth of it",
             " / ".join(f"{rss:.0f}" for _, rss in samples[tenth - 1::tenth])],
            ["search p50 / p95 (recall 100 -> MaxSim in Qdrant -> 10)",
             f"{p50(times) * 1000:.1f} / {percentile(times, 95) * 1000:.1f} ms"],
            ["RSS after the queries: anonymous / memory-mapped files", f"{anon:.0f} / {mapped:.0f} MB"],
            ["disk, total", f"{total / 2**30:.2f} GB = {total / report.added / 1024:.1f} KB per document"],
            ["disk without the write-ahead log", f"{(total - parts.get(WAL, 0)) / report.added / 1024:.1f} KB per "
                                                 "document"]]
    body = "\n".join([f"Machine: {machine()}. Synthetic vectors (see the script's docstring); {TOKENS} token vectors "
                      "per document, TurboQuant 4-bit; BM25 field from the text.\n", table(["what", "measured"], rows),
                      "", table(["component", "GB", "KB per document"], [
                          [k, f"{v / 2**30:.3f}", f"{v / report.added / 1024:.2f}"]
                          for k, v in sorted(parts.items(), key=lambda kv: -kv[1])])])
    publish(f"scale_default_{args.docs}", f"The default layout at {args.docs:,} documents", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
