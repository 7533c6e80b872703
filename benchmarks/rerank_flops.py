"""Rerank throughput against this CPU's limit: measured matmul FLOP/s (fp32, bf16, int8) vs the reranker's forward
pass, for torch and for the default runtime (OpenVINO; int8 where the CPU has VNNI/AMX).

    python benchmarks/rerank_flops.py [--queries 5]

The peak is the best of square matmuls (1024-3072) on all threads: torch.mm for fp32 and bf16, and OpenVINO
(the runtime that runs them by default) for bf16 and int8, where the int8 GEMM is an NNCF-quantised MatMul (VNNI);
each configuration is compared with the higher peak for its number format. The reranker's FLOPs are counted
by ``torch.utils.flop_counter.FlopCounterMode`` on the real batches recallrank builds for 100 Debian candidates
per query (token-length sorted, padded per batch), so achieved FLOP/s = counted FLOPs / wall time; the bi-encoder
is measured the same way on 512 documents. Attention softmax, GELU, layer norms and tokenization are not counted
as FLOPs but take time, so 100 % is out of reach.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
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


def openvino_peak(precision: str) -> float:
    """Best square MatMul (activations x constant weights) in OpenVINO: ``"bf16"`` by the inference hint, ``"int8"``
    quantised by NNCF (int8 x int8 -> int32 GEMM, as in the quantised reranker)."""
    import nncf
    import openvino as ov
    import openvino.opset13 as ops

    from recallrank.models._runtime import _threads

    best = 0.0
    rng = np.random.default_rng(0)
    for n in (1024, 2048, 3072):
        x = ops.parameter([n, n], np.float32, name="x")
        w = ops.constant(rng.standard_normal((n, n)).astype(np.float32))
        model = ov.Model([ops.matmul(x, w, False, False)], [x])
        sample = rng.standard_normal((n, n)).astype(np.float32)
        if precision == "int8":
            model = nncf.quantize(model, nncf.Dataset([sample]), subset_size=1)
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "bf16",
                                                          "INFERENCE_NUM_THREADS": _threads(),
                                                          "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        request.infer([sample])
        reps = max(2, int(4e10 / (2 * n**3)))
        t = time.perf_counter()
        for _ in range(reps):
            request.infer([sample])
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
    ov_peaks = {"bf16": openvino_peak("bf16"), "int8": openvino_peak("int8")}
    print({k: f"{v / 1e9:.0f} GFLOP/s" for k, v in {**peaks, **{f"openvino {k}": v for k, v in ov_peaks.items()}}
           .items()}, flush=True)
    bound = {"fp32": peaks["fp32"], "bf16": max(peaks["bf16"], ov_peaks["bf16"]), "int8": ov_peaks["int8"]}
    corpus, queries, _ = debian_corpus(5000)
    texts, qlist = list(corpus.values()), list(queries.values())[:args.queries]
    pair_sets = [[(q, texts[(i * 37 + j * 101) % len(texts)]) for j in range(100)] for i, q in enumerate(qlist)]
    docs = texts[:512]
    # the work is the same in every configuration (same batches, same shapes); count it on the fp32 torch models,
    # whose matmuls FlopCounterMode sees
    fp32_rr = CrossEncoderReranker(precision="fp32", backend="torch")
    fp32_enc = BiEncoder(precision="fp32", backend="torch")
    flops = counted_flops(lambda: [fp32_rr.logits(s) for s in pair_sets])
    bi_flops = counted_flops(lambda: fp32_enc.encode_documents(docs))
    rows = []
    default = CrossEncoderReranker()
    configs = [("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("openvino", "bf16"), ("openvino", "int8")]
    for backend, precision in configs:
        rr = CrossEncoderReranker(precision=precision, backend=backend)  # type: ignore[arg-type]
        enc = BiEncoder(precision=precision, backend=backend)  # type: ignore[arg-type]
        rr.warm_up()
        enc.warm_up()
        seconds = timed(lambda: [rr.logits(s) for s in pair_sets], 2)  # noqa: B023
        bi_seconds = timed(lambda: enc.encode_documents(docs), 1)  # noqa: B023
        peak = bound[precision]
        n_pairs = sum(len(s) for s in pair_sets)
        is_default = (backend, precision) == (default.backend, default.precision)
        rows.append([f"{backend} {precision}" + (" (default)" if is_default else ""), f"{n_pairs / seconds:.0f}",
                     f"{flops / n_pairs / 1e9:.2f}", f"{flops / seconds / 1e9:.0f}", f"{peak / 1e9:.0f} ({precision})",
                     f"{flops / seconds / peak:.0%}", f"{len(docs) / bi_seconds:.0f}",
                     f"{bi_flops / bi_seconds / peak:.0%}"])
        print(rows[-1], flush=True)
    body = (f"Peak matmul: torch fp32 {peaks['fp32'] / 1e9:.0f}, torch bf16 {peaks['bf16'] / 1e9:.0f}, OpenVINO bf16 "
            f"{ov_peaks['bf16'] / 1e9:.0f}, OpenVINO int8 (VNNI) {ov_peaks['int8'] / 1e9:.0f} GFLOP/s (best square "
            f"matmul, 1024-3072). Reranker: {args.queries} queries x 100 Debian candidates; bi-encoder: 512 Debian "
            "descriptions. FLOPs are counted once on the fp32 torch models (the work is the same in every "
            "configuration); each configuration is compared with the best peak for its number format (torch int8 "
            "is dynamic: int8 GEMMs, so the int8 peak).\n\n" + table(
                ["configuration", "rerank pairs/s", "GFLOP per pair", "achieved GFLOP/s", "peak GFLOP/s",
                 "rerank achieved / peak", "bi-encoder docs/s", "bi-encoder achieved / peak"], rows))
    publish("rerank_flops", "Rerank throughput vs this CPU", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
