"""The top_k trade-off drawn: quality and rerank latency against the number of candidates recalled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recallrank.errors import MissingDependencyError


def plot_sweep(result: Any, path: str | Path) -> Path:
    """PNG of the top_k sweep: nDCG@10 of bi-encoder and two-stage (left axis), rerank ms per query (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("plotting needs matplotlib: pip install 'recallrank[eval]'") from exc
    if not result.sweep:
        raise ValueError("no sweep to plot; pass sweep=(10, 20, 50, 100, 200) to evaluate() or compare()")
    ks = [r["top_k"] for r in result.sweep]
    fig, left = plt.subplots(figsize=(7, 4.2), dpi=120)
    left.plot(ks, [r["two_stage_ndcg@10"] for r in result.sweep], "o-", color="tab:blue", label="two-stage nDCG@10")
    left.plot(ks, [r["bi_ndcg@10"] for r in result.sweep], "s--", color="tab:gray", label="bi-encoder nDCG@10")
    left.plot(ks, [r["recall@k"] for r in result.sweep], "^:", color="tab:green", label="bi-encoder Recall@top_k")
    left.set_xscale("log")
    left.set_xticks(ks, [str(k) for k in ks])
    left.set_xlabel("top_k (candidates recalled, then reranked)")
    left.set_ylabel("quality")
    right = left.twinx()
    right.plot(ks, [r["rerank_ms"] for r in result.sweep], "d-", color="tab:red", label="rerank ms / query")
    right.set_ylabel("rerank ms per query (median)")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, loc="center right", fontsize=8)
    left.set_title(f"{result.dataset}: top_k trade-off ({result.queries} queries, {result.documents} documents)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
