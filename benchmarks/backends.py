"""Inference backends side by side, one run, same models, queries and candidates: torch (fp32, bf16 autocast, int8
dynamic), ONNX Runtime fp32, OpenVINO (f32, bf16, int8 static calibrated). Each configuration runs both encoders
(as a user setting ``backend=``/``precision=`` gets): all-MiniLM-L6-v2 recall and the shipped reranker.

    python benchmarks/backends.py [--queries 100] [--documents 1000]

Quality is nDCG@10 of the bi-encoder alone and of two-stage retrieval (top_k=100, the shipped fusion included) on
debian-en test and the faq-en question set (whose text no model or calibration pair here came from); speed is
rerank pairs/s (median per query of 100 candidates) and documents/s of embedding. The last line says what
``backend="auto"``, ``precision="auto"`` (the default) picks on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine

CONFIGS = [("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
           ("openvino", "bf16"), ("openvino", "int8")]
DATASETS = ("debian-en", "faq-en")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=100, help="queries per dataset")
    p.add_argument("--documents", type=int, default=1000, help="documents embedded for docs/s")
    p.add_argument("--configs", default=None, help="comma list of backend:precision (default: all)")
    p.add_argument("--out", default=str(RESULTS / "backends.md"))
    args = p.parse_args()
    from recallrank import BiEncoder, CrossEncoderReranker
    from recallrank.datasets import load_dataset
    from recallrank.evaluation.harness import compare
    from recallrank.models._runtime import resolve

    configs = [tuple(c.split(":")) for c in args.configs.split(",")] if args.configs else CONFIGS
    sets = {name: load_dataset(name, "test").subset(args.queries) for name in DATASETS}
    texts = list(load_dataset("debian-en", "test").corpus.values())[:args.documents]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for backend, precision in configs:
            row: dict[str, float] = {}
            for name, ds in sets.items():
                enc = BiEncoder(precision=precision, backend=backend)  # type: ignore[arg-type]
                rr = CrossEncoderReranker(precision=precision, backend=backend)  # type: ignore[arg-type]
                rr.warm_up()  # export and calibration (first time only) outside the timing
                res = compare(ds, enc, rr, top_k=100, index_dir=Path(cache), sweep=(100,), latency_queries=20)
                row[f"{name} bi"] = res.metrics["bi"]["ndcg@10"]
                row[f"{name} two"] = res.metrics["two_stage"]["ndcg@10"]
                row[f"{name} pairs/s"] = 100 / res.latency["rerank"]
            enc = BiEncoder(precision=precision, backend=backend)  # type: ignore[arg-type]
            enc.encode_documents(texts[:64])
            t = time.perf_counter()
            enc.encode_documents(texts)
            row["docs/s"] = len(texts) / (time.perf_counter() - t)
            rows.append((backend, precision, row))
            print(backend, precision, {k: round(v, 4) for k, v in row.items()}, flush=True)
    base = rows[0][2]
    auto = resolve("auto", "auto", None)
    lines = ["# Inference backends, side by side", "",
             f"- date: {time.strftime('%Y-%m-%d')}; machine: {machine()}",
             f"- command: `python benchmarks/backends.py --queries {args.queries} --documents {args.documents}`",
             f"- both encoders in each configuration: all-MiniLM-L6-v2 recall (top_k=100) and the shipped reranker; "
             f"{args.queries} queries per set; embedding: {len(texts)} debian-en documents",
             "- OpenVINO int8 is static, calibrated on the shipped pairs (debian-en/python-docs/foldoc *train* "
             "text); torch int8 is dynamic", "",
             "| backend | precision | debian-en bi | debian-en two-stage | Δ vs torch fp32 | faq-en bi | "
             "faq-en two-stage | Δ vs torch fp32 | rerank pairs/s (debian-en) | x torch fp32 | embed docs/s "
             "| x torch fp32 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for b, pr, r in rows:
        lines.append(
            f"| {b} | {pr} | {r['debian-en bi']:.4f} | {r['debian-en two']:.4f} | "
            f"{r['debian-en two'] - base['debian-en two']:+.4f} | {r['faq-en bi']:.4f} | {r['faq-en two']:.4f} | "
            f"{r['faq-en two'] - base['faq-en two']:+.4f} | {r['debian-en pairs/s']:.0f} | "
            f"{r['debian-en pairs/s'] / base['debian-en pairs/s']:.2f} | {r['docs/s']:.0f} | "
            f"{r['docs/s'] / base['docs/s']:.2f} |")
    lines += ["", f"`backend=\"auto\", precision=\"auto\"` (the default) resolves here to {auto[0]} {auto[1]}."]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
