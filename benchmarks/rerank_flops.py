"""Rerank throughput against this CPU's limit: measured matmul FLOP/s (fp32, bf16) vs the reranker's forward pass.

    python benchmarks/rerank_flops.py [--queries 5]

The peak is the best of square torch matmuls (1024-3072) on all torch threads. The reranker's FLOPs are counted
by ``torch.utils.flop_counter.FlopCounterMode`` on the real batches recallrank builds for 100 Debian candidates
per query (token-length sorted, padded per batch), so achieved FLOP/s = counted FLOPs / wall time; the bi-encoder
is measured the same way on 512 documents. Attention softmax, GELU, layer norms and tokenization are not counted
as FLOPs but take time, so 100 % is out of reach.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import debian_corpus, p50, publish, table


def matmul_peak(dtype: Any) -> float:
    import torch

    best = 0.0
    for n in (1024, 2048, 3072):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)
        reps = max(2, int(4e10 / (2 * n**3)))
        t = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


def counted_flops(fn: Any) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def timed(fn: Any, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return p50(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=5)
    args = parser.parse_args()
    import torch

    from recallrank import BiEncoder, CrossEncoderReranker

    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print({k: f"{v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()}, flush=True)
    corpus, queries, _ = debian_corpus(5000)
    texts, qlist = list(corpus.values()), list(queries.values())[:args.queries]
    pair_sets = [[(q, texts[(i * 37 + j * 101) % len(texts)]) for j in range(100)] for i, q in enumerate(qlist)]
    docs = texts[:512]
    # the work is the same at every precision (same batches, same shapes); count it on the fp32 models, whose
    # matmuls FlopCounterMode sees (it does not see int8 quantised ones)
    fp32_rr, fp32_enc = CrossEncoderReranker(precision="fp32"), BiEncoder(precision="fp32")
    flops = counted_flops(lambda: [fp32_rr.logits(s) for s in pair_sets])
    bi_flops = counted_flops(lambda: fp32_enc.encode_documents(docs))
    rows = []
    for precision in ("fp32", "bf16", "int8"):
        rr = CrossEncoderReranker(precision=precision)
        enc = BiEncoder(precision=precision)
        rr.warm_up()
        enc.warm_up()
        seconds = timed(lambda: [rr.logits(s) for s in pair_sets], 2)  # noqa: B023
        bi_seconds = timed(lambda: enc.encode_documents(docs), 1)  # noqa: B023
        peak = peaks["bf16" if precision == "bf16" else "fp32"]
        n_pairs = sum(len(s) for s in pair_sets)
        rows.append([precision, f"{n_pairs / seconds:.0f} pairs/s", f"{flops / n_pairs / 1e9:.2f}",
                     f"{flops / seconds / 1e9:.0f}", f"{peak / 1e9:.0f} ({'bf16' if precision == 'bf16' else 'fp32'})",
                     f"{flops / seconds / peak:.0%}", f"{len(docs) / bi_seconds:.0f} docs/s",
                     f"{bi_flops / bi_seconds / peak:.0%}"])
        print(rows[-1], flush=True)
    body = (f"Peak matmul: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s "
            f"(best square torch.mm). Reranker: {args.queries} queries x 100 Debian candidates; bi-encoder: 512 "
            "Debian descriptions. FLOPs are counted once on the fp32 models (the work is the same at every "
            "precision); int8 runs integer GEMMs, compared here with the fp32 peak.\n\n" + table(
                ["precision", "rerank throughput", "GFLOP per pair", "achieved GFLOP/s", "peak GFLOP/s",
                 "rerank achieved / peak", "bi-encoder throughput", "bi-encoder achieved / peak"], rows))
    publish("rerank_flops", "Rerank throughput vs this CPU", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
