"""Inference backends side by side, one run, same model, queries and candidates: torch (fp32, bf16 autocast, int8
dynamic), ONNX Runtime fp32, OpenVINO (f32, bf16). Reranker: the shipped one on debian-en test, 100 candidates
per query from all-MiniLM-L6-v2 recall; bi-encoder: all-MiniLM-L6-v2 embedding the corpus' first documents.

    python benchmarks/backends.py [--queries 100] [--documents 1000]

Quality is two-stage nDCG@10 as the retriever returns it (the shipped fusion included); speed is pairs/s of
reranking (mean over queries) and documents/s of embedding.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine

CONFIGS = [("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
           ("openvino", "bf16")]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--documents", type=int, default=1000)
    p.add_argument("--out", default=str(RESULTS / "backends.md"))
    args = p.parse_args()
    from recallrank import BiEncoder, CrossEncoderReranker
    from recallrank.datasets import load_dataset
    from recallrank.evaluation.harness import compare

    ds = load_dataset("debian-en", "test").subset(args.queries)
    texts = list(ds.corpus.values())[:args.documents]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for backend, precision in CONFIGS:
            rr = CrossEncoderReranker(precision=precision, backend=backend)  # type: ignore[arg-type]
            rr.warm_up()  # export (first time only) and compile outside the timing
            res = compare(ds, BiEncoder(precision="bf16"), rr, top_k=100, index_dir=Path(cache))
            enc = BiEncoder(precision=precision, backend=backend)  # type: ignore[arg-type]
            enc.encode_documents(texts[:32])
            t = time.perf_counter()
            enc.encode_documents(texts)
            docs_s = len(texts) / (time.perf_counter() - t)
            rows.append((backend, precision, res.metrics["two_stage"]["ndcg@10"], 100 / res.latency["rerank"], docs_s))
            print(f"{backend:12} {precision:5} nDCG@10 {rows[-1][2]:.4f}  rerank {rows[-1][3]:6.0f} pairs/s  "
                  f"embed {docs_s:6.0f} docs/s", flush=True)
    base = rows[0]
    lines = ["# Inference backends, side by side", "",
             f"- date: {time.strftime('%Y-%m-%d')}; machine: {machine()}",
             f"- command: `python benchmarks/backends.py --queries {args.queries} --documents {args.documents}`",
             f"- reranker: the shipped one, debian-en test, {len(ds.queries)} queries x 100 candidates (MiniLM "
             f"recall, bf16); bi-encoder: all-MiniLM-L6-v2 embedding {len(texts)} debian-en documents", "",
             "| backend | precision | two-stage nDCG@10 | rerank pairs/s | x torch fp32 | embed docs/s "
             "| x torch fp32 |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {b} | {pr} | {q:.4f} | {r:.0f} | {r / base[3]:.2f} | {d:.0f} | {d / base[4]:.2f} |"
              for b, pr, q, r, d in rows]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
