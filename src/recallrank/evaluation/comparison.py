"""Score every recalled candidate once with one cross-encoder and derive its orders from those scores: the
bi-encoder alone, the cross-encoder alone, their calibrated fusion, and the cross-encoder over the whole corpus
(capped). The tool for calibrating a fusion and for the training toolkit's before/after table, which need the raw
logits; ``recallrank eval`` measures a whole pipeline instead (:func:`recallrank.evaluation.harness.evaluate`)."""

from __future__ import annotations

import hashlib
import logging
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.datasets.beir import RetrievalSet
from recallrank.documents import Document
from recallrank.evaluation.metrics import mean_metrics, per_query, write_per_query
from recallrank.index.embedded import EdgeStore
from recallrank.models.bi_encoder import BiEncoder
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.retrieval.pipeline import TwoStageRetriever

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    """Metrics per stage (``bi``, ``rerank_only_order``, ``two_stage``, and ``cross_only`` on its capped queries),
    seconds per query and stage (means; ``rerank`` is the median of reranking exactly top_k when a sweep ran),
    per-query metrics, and the top_k sweep rows."""

    dataset: str
    queries: int
    documents: int
    top_k: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    sweep: list[dict[str, float]] = field(default_factory=list)
    cross_only: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"dataset": self.dataset, "queries": self.queries, "documents": self.documents, "top_k": self.top_k,
               **self.metrics, "latency_s": self.latency}
        if self.sweep:
            out["sweep"] = self.sweep
        if self.cross_only:
            out["cross_only_setup"] = self.cross_only
        return out

    def write_per_query(self, path: str | Path) -> Path:
        """One JSON line per (stage, query): its metrics and the top-10 document ids."""
        return write_per_query(path, self.per_query, self.runs)


@dataclass
class _Query:
    qid: str
    text: str
    ids: list[str]
    texts: list[str]
    retrieval: np.ndarray
    logits: np.ndarray | None


def compare(ds: RetrievalSet, encoder: BiEncoder | None = None, reranker: CrossEncoderReranker | bool | None = None,
            top_k: int = 100, n_queries: int | None = None, index_dir: str | Path | None = None, fuse: bool = True,
            collect: list[Any] | None = None, sweep: Sequence[int] = (), latency_queries: int = 20,
            cross_only_queries: int = 0) -> Comparison:
    """Index ``ds.corpus`` (embedded store, cached under ``index_dir`` when given), recall once per query as deep
    as the largest ``top_k`` asked for, score every candidate once, and derive the orders from those scores:
    the bi-encoder's (``bi``), the cross-encoder's alone (``rerank_only_order``) and the pipeline's (``two_stage``:
    the calibrated fusion when the reranker ships one).

    Args:
        sweep: top_k values to compare (e.g. 10, 20, 50, 100, 200): quality from the shared scores, rerank
            latency measured by reranking exactly top_k candidates on the first ``latency_queries`` queries.
        cross_only_queries: on this many queries, also rank the whole corpus by the cross-encoder alone
            (``cross_only``); costs one forward pass per document per query, so it is capped.
        collect: receives (query id, ids, logits, recall scores) per query, for calibrating a fusion.
        reranker: ``False`` scores the bi-encoder only.
    """
    encoder = encoder if encoder is not None else BiEncoder()
    if reranker is None or reranker is True:
        reranker = CrossEncoderReranker()
    if reranker:
        reranker.warm_up()
    if n_queries is not None:
        ds = ds.subset(n_queries)
    depth = max([top_k, *sweep])
    spent = {"embed": 0.0, "recall": 0.0, "rerank": 0.0}
    queries: list[_Query] = []
    with tempfile.TemporaryDirectory(prefix="recallrank-eval-") as tmp:
        store = EdgeStore(Path(index_dir) if index_dir is not None else Path(tmp), _index_name(ds, encoder))
        retriever = TwoStageRetriever(store, encoder, False, top_k=depth, top_n=depth)
        retriever.add_documents([Document(text, id=doc_id) for doc_id, text in ds.corpus.items()], batch_size=512)
        for qid, query in ds.queries.items():
            recalled = retriever.search(query, top_n=depth, rerank=False, min_probability=0)
            spent["embed"] += recalled.timings["embed"]
            spent["recall"] += recalled.timings["recall"]
            q = _Query(qid, query, [str(r.document.id) for r in recalled.results], [r.text for r in recalled.results],
                       np.array([r.retrieval_score for r in recalled.results], dtype=np.float32), None)
            if reranker and q.ids:
                t = time.perf_counter()
                q.logits = reranker.logits([(query, text) for text in q.texts])
                spent["rerank"] += time.perf_counter() - t
                if collect is not None:
                    collect.append((qid, q.ids, q.logits, q.retrieval))
            queries.append(q)
        store.close()
    fusion = reranker.fusion if reranker and fuse else None
    runs = _runs(queries, top_k, fusion)
    ks = (10, top_k) if top_k != 10 else (10,)
    n = max(1, len(queries))
    result = Comparison(dataset=ds.name, queries=len(queries), documents=len(ds.corpus), top_k=top_k,
                        latency={stage: s / n for stage, s in spent.items()}, runs=runs)
    if sweep and reranker:
        timed = _rerank_latency(queries[:latency_queries], sorted({*sweep, top_k}), reranker)
        result.latency["rerank"] = timed[top_k]  # the cost of reranking exactly top_k, not the sweep's depth
        result.sweep = _sweep_rows(ds, queries, sorted(sweep), fusion, timed, result.latency)
    if cross_only_queries and reranker:
        subset = queries[:cross_only_queries]
        runs["cross_only"], seconds = _cross_only(ds, subset, reranker)
        result.latency["cross_only"] = seconds
        result.cross_only = {"queries": len(subset), "documents": len(ds.corpus),
                             "note": f"cross_only ranks all {len(ds.corpus)} documents with the cross-encoder on "
                                     f"the first {len(subset)} queries only; compare it with the other stages' "
                                     "per-query rows on those queries (metrics['<stage>@cross_only_queries'])"}
    for name, run in runs.items():
        result.per_query[name] = per_query(run, {q: ds.qrels[q] for q in run}, ks)
        result.metrics[name] = mean_metrics(result.per_query[name].values())
    if "cross_only" in runs:
        for name in [s for s in runs if s != "cross_only"]:
            rows = [result.per_query[name][q] for q in runs["cross_only"] if q in result.per_query[name]]
            result.metrics[f"{name}@cross_only_queries"] = mean_metrics(rows)
    return result


def _order(q: _Query, k: int, fusion: Any, how: str) -> list[str]:
    if how == "bi" or q.logits is None:
        return q.ids[:k]
    logits = q.logits[:k]
    scores = fusion.apply(logits, q.retrieval[:k]) if how == "fused" and fusion is not None else logits
    return [q.ids[i] for i in np.argsort(-scores, kind="stable")]


def _runs(queries: list[_Query], k: int, fusion: Any) -> dict[str, dict[str, list[str]]]:
    """``bi``, ``rerank_only_order`` and ``two_stage`` (what TwoStageRetriever returns) at top_k = ``k``."""
    runs = {"bi": {q.qid: _order(q, k, fusion, "bi") for q in queries}}
    if any(q.logits is not None for q in queries):
        runs["rerank_only_order"] = {q.qid: _order(q, k, fusion, "rerank") for q in queries}
        runs["two_stage"] = {q.qid: _order(q, k, fusion, "fused") for q in queries}
    return runs


def _rerank_latency(queries: list[_Query], ks: list[int], reranker: CrossEncoderReranker) -> dict[int, float]:
    """Median seconds to rerank exactly k candidates, per k, over ``queries`` (one warm-up pass first)."""
    if queries:
        reranker.logits([(queries[0].text, t) for t in queries[0].texts[:max(ks)]])
    out = {}
    for k in ks:
        times = []
        for q in queries:
            t = time.perf_counter()
            reranker.logits([(q.text, text) for text in q.texts[:k]])
            times.append(time.perf_counter() - t)
        out[k] = statistics.median(times) if times else 0.0
    return out


def _sweep_rows(ds: RetrievalSet, queries: list[_Query], ks: list[int], fusion: Any, timed: dict[int, float],
                latency: dict[str, float]) -> list[dict[str, float]]:
    qrels = {q.qid: ds.qrels[q.qid] for q in queries}
    rows = []
    for k in ks:
        runs = _runs(queries, k, fusion)
        bi = mean_metrics(per_query(runs["bi"], qrels, (k,)).values())
        two = mean_metrics(per_query(runs["two_stage"], qrels, (k,)).values())
        rows.append({"top_k": k, "bi_ndcg@10": bi["ndcg@10"], "two_stage_ndcg@10": two["ndcg@10"],
                     "two_stage_mrr@10": two["mrr@10"], "recall@k": bi[f"recall@{k}"],
                     "rerank_ms": timed[k] * 1000,
                     "total_ms": (latency["embed"] + latency["recall"] + timed[k]) * 1000})
    return rows


def _cross_only(ds: RetrievalSet, queries: list[_Query],
                reranker: CrossEncoderReranker) -> tuple[dict[str, list[str]], float]:
    """Rank the whole corpus by the cross-encoder alone; returns the run and mean seconds per query."""
    ids, texts = list(ds.corpus), list(ds.corpus.values())
    run, start = {}, time.perf_counter()
    for q in queries:
        logits = reranker.logits([(q.text, t) for t in texts])
        run[q.qid] = [ids[i] for i in np.argsort(-logits, kind="stable")[:100]]
    return run, (time.perf_counter() - start) / max(1, len(queries))


def _index_name(ds: RetrievalSet, encoder: BiEncoder) -> str:
    key = f"{ds.name}|{len(ds.corpus)}|{encoder.config()}"
    return f"{ds.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
