"""Evaluate a retrieval pipeline on a question set: the :class:`~recallrank.TwoStageRetriever` given, exactly as
``search`` runs it, with the order after recall and after each stage of its cascade, and the seconds each took.

``recallrank eval`` builds the retriever with the same function and options as ``recallrank search``, so it
measures what ``search`` returns. :func:`compare` (score once, derive every order; for calibration and the training
toolkit's before/after table) and :func:`plot_sweep` are kept importable from here.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.datasets.beir import RetrievalSet
from recallrank.documents import Document
from recallrank.evaluation.comparison import Comparison, compare
from recallrank.evaluation.metrics import mean_metrics, per_query, write_per_query
from recallrank.evaluation.plot import plot_sweep
from recallrank.evaluation.summary import model_label, pipeline_summary
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.registry import default_cross_encoder
from recallrank.retrieval.pipeline import SearchResponse, TwoStageRetriever

__all__ = ["Comparison", "Evaluation", "StageRow", "compare", "evaluate", "model_label", "pipeline_summary",
           "plot_sweep"]


@dataclass
class StageRow:
    """One row of the table: the order after ``stage`` (``recall``, then each rerank stage as ``NAME`` or
    ``NAME:KEEP``), the model that produced it, its mean metrics and its mean milliseconds per query (recall:
    embedding the query plus the vector search).

    Example:
        >>> StageRow("recall", "all-MiniLM-L6-v2", {"ndcg@10": 0.71}, 12.345).as_dict()
        {'stage': 'recall', 'model': 'all-MiniLM-L6-v2', 'ndcg@10': 0.71, 'ms': 12.35}
    """

    stage: str
    model: str
    metrics: dict[str, float]
    ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "model": self.model, **self.metrics, "ms": round(self.ms, 2)}


@dataclass
class Evaluation:
    """What :func:`evaluate` measured. ``rows[-1]`` is what the pipeline returns (``search``); ``latency_ms`` holds
    the mean milliseconds per query of each timing the pipeline reports (``embed``, ``recall``, ``rerank``, each
    cascade stage, ``total``).

    Example:
        >>> result = evaluate(load_dataset("faq-en"), TwoStageRetriever(EdgeStore("./eval", "faq")))  # doctest: +SKIP
        >>> result.final.stage, result.as_dict()["final"]["ndcg@10"]                                # doctest: +SKIP
        ('maxsim', 0.75)
    """

    dataset: str
    queries: int
    documents: int
    top_k: int
    pipeline: dict[str, Any]
    rows: list[StageRow] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    sweep: list[dict[str, float]] = field(default_factory=list)
    cross_only: StageRow | None = None
    cross_only_queries: int = 0

    @property
    def final(self) -> StageRow:
        return self.rows[-1]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dataset": self.dataset, "queries": self.queries, "documents": self.documents, "top_k": self.top_k,
            "pipeline": self.pipeline, "stages": [row.as_dict() for row in self.rows],
            "final": {**self.final.as_dict(), "ms": round(self.latency_ms.get("total", 0.0), 2)},
            "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()}}
        if self.sweep:
            out["sweep"] = self.sweep
        if self.cross_only is not None:
            out["cross_only"] = {**self.cross_only.as_dict(), "queries": self.cross_only_queries,
                                 "note": f"the cross-encoder alone ranks all {self.documents} documents on the first "
                                         f"{self.cross_only_queries} queries; its row is compared with the others "
                                         "on those queries only"}
            out["on_cross_only_queries"] = {
                name: mean_metrics(rows[q] for q in self.runs["cross_only"] if q in rows)
                for name, rows in self.per_query.items() if name != "cross_only"}
        return out

    def write_per_query(self, path: str | Path) -> Path:
        """One JSON line per (stage, query): its metrics and the top-10 document ids."""
        return write_per_query(path, self.per_query, self.runs)


def evaluate(ds: RetrievalSet, retriever: TwoStageRetriever, *, n_queries: int | None = None,
             sweep: Sequence[int] = (), latency_queries: int = 20, cross_only_queries: int = 0,
             batch_size: int = 512, progress: Callable[[int], object] | None = None) -> Evaluation:
    """Index ``ds.corpus`` into the retriever's store (unchanged documents are skipped, so a cached store is
    reused), then run each judged query through the pipeline as ``search`` does, keeping the recall order and the
    order after each stage of the cascade (a stage's order is what the cascade cut after it returns).

    Args:
        retriever: the pipeline to measure, over the store that is to hold ``ds.corpus``; its ``top_k`` is the
            recall depth, and every candidate the last stage keeps is ranked (``Recall@top_k``).
        sweep: also run the pipeline at these recall depths (e.g. 10, 20, 50, 100, 200): quality over every query,
            rerank latency as the median over the first ``latency_queries``.
        cross_only_queries: on this many queries, also rank the whole corpus with a cross-encoder alone (the
            pipeline's ``cross`` stage, else the shipped one for its recall model): the slow upper baseline.
        progress: called with the number of documents embedded after each batch (e.g. ``tqdm.update``).

    Example:
        >>> retriever = TwoStageRetriever(EdgeStore("./eval-index", "faq"))          # doctest: +SKIP
        >>> evaluate(load_dataset("faq-en"), retriever).final.metrics["ndcg@10"]   # doctest: +SKIP
        0.75
    """
    if n_queries is not None:
        ds = ds.subset(n_queries)
    queries = {q: text for q, text in ds.queries.items() if q in ds.qrels}
    retriever.add_documents([Document(text, id=doc_id) for doc_id, text in ds.corpus.items()], batch_size=batch_size,
                            progress=progress)
    retriever.add_stage_vectors()  # a cached store indexed before a stage kept token vectors
    _warm_up(retriever, next(iter(queries.values()), None))
    k = retriever.top_k
    prefixes = [TwoStageRetriever(retriever.store, retriever.encoder, stages=retriever.stages[:i], top_k=k, top_n=k,
                                  recall=retriever.recall_mode, allow_other_encoder=retriever.allow_other_encoder)
                for i in range(1, len(retriever.stages))]  # the cascade cut after each stage but the last
    names = _stage_names(retriever)
    runs: dict[str, dict[str, list[str]]] = {name: {} for name in names}
    spent: dict[str, list[float]] = {}
    for qid, query in queries.items():
        recalled = retriever.recall(query, top_k=k)
        runs["recall"][qid] = _ids(recalled)
        for name, prefix in zip(names[1:-1], prefixes, strict=True):
            runs[name][qid] = _ids(prefix.search(query, top_n=k, min_probability=0))
        full = retriever.search(query, top_n=k, min_probability=0)  # the ranking, every result kept
        if len(names) > 1:
            runs[names[-1]][qid] = _ids(full)
        for key, seconds in full.timings.items():
            spent.setdefault(key, []).append(seconds * 1000)
    latency = {key: statistics.fmean(v) for key, v in spent.items()}
    result = Evaluation(dataset=ds.name, queries=len(queries), documents=len(ds.corpus), top_k=k,
                        pipeline=pipeline_summary(retriever, loaded=True), latency_ms=latency, runs=runs)
    ks = (10, k) if k != 10 else (10,)
    qrels = {q: ds.qrels[q] for q in queries}
    models = [result.pipeline["bi_encoder"], *(st["model"] for st in result.pipeline["stages"])]
    for i, (name, model) in enumerate(zip(names, models, strict=True)):
        result.per_query[name] = per_query(runs[name], qrels, ks)
        ms = latency.get("embed", 0.0) + latency.get("recall", 0.0) if i == 0 else latency.get(_timing_key(
            retriever, i - 1), 0.0)
        result.rows.append(StageRow(name, model, mean_metrics(result.per_query[name].values()), ms))
    if sweep:
        result.sweep = _sweep(retriever, queries, qrels, sorted(set(sweep)), latency_queries)
    if cross_only_queries:
        _cross_only(result, ds, retriever, dict(list(queries.items())[:cross_only_queries]), qrels)
    return result


def _stage_names(retriever: TwoStageRetriever) -> list[str]:
    """``recall`` then each stage as ``NAME`` or ``NAME:KEEP``, numbered where a name repeats."""
    names = ["recall"]
    for i, st in enumerate(retriever.stages):
        name = st.name + (f":{st.keep}" if st.keep is not None else "")
        names.append(name if name not in names else f"{i + 1}.{name}")
    return names


def _timing_key(retriever: TwoStageRetriever, i: int) -> str:
    """The key of stage ``i``'s seconds in :attr:`SearchResponse.timings` (one stage: the whole ``rerank``)."""
    return "rerank" if len(retriever.stages) == 1 else f"stage {i + 1} ({retriever.stages[i].name})"


def _ids(response: SearchResponse) -> list[str]:
    return [str(r.document.id) for r in response.results]


def _warm_up(retriever: TwoStageRetriever, query: str | None) -> None:
    """Load the models and run one query untimed, so that the latencies are the stages', not the loading."""
    retriever.encoder.warm_up()
    for st in retriever.stages:
        st.reranker.warm_up()
    if query is not None:
        retriever.search(query)


def _sweep(retriever: TwoStageRetriever, queries: dict[str, str], qrels: dict[str, dict[str, int]],
           ks: list[int], latency_queries: int) -> list[dict[str, float]]:
    rows = []
    for k in ks:
        bi: dict[str, list[str]] = {}
        two: dict[str, list[str]] = {}
        rerank_ms, total_ms = [], []
        for n, (qid, query) in enumerate(queries.items()):
            response = retriever.search(query, top_k=k, top_n=k, min_probability=0)
            two[qid] = _ids(response)
            bi[qid] = _ids(retriever.recall(query, top_k=k))
            if n < latency_queries:
                rerank_ms.append(response.timings.get("rerank", 0.0) * 1000)
                total_ms.append(response.timings.get("total", 0.0) * 1000)
        recall = mean_metrics(per_query(bi, qrels, (k,)).values())
        final = mean_metrics(per_query(two, qrels, (k,)).values())
        rows.append({"top_k": k, "bi_ndcg@10": recall["ndcg@10"], "two_stage_ndcg@10": final["ndcg@10"],
                     "two_stage_mrr@10": final["mrr@10"], "recall@k": recall[f"recall@{k}"],
                     "rerank_ms": statistics.median(rerank_ms) if rerank_ms else 0.0,
                     "total_ms": statistics.median(total_ms) if total_ms else 0.0})
    return rows


def _cross_only(result: Evaluation, ds: RetrievalSet, retriever: TwoStageRetriever, queries: dict[str, str],
                qrels: dict[str, dict[str, int]]) -> None:
    """Rank the whole corpus by a cross-encoder alone on ``queries`` (one forward pass per document per query)."""
    crosses = [st.reranker for st in retriever.stages if isinstance(st.reranker, CrossEncoderReranker)]
    reranker = crosses[-1] if crosses else default_cross_encoder(retriever.encoder)
    ids, texts = list(ds.corpus), list(ds.corpus.values())
    run, start = {}, time.perf_counter()
    for qid, query in queries.items():
        logits = reranker.logits([(query, t) for t in texts])
        run[qid] = [ids[i] for i in np.argsort(-logits, kind="stable")[:100]]
    ms = (time.perf_counter() - start) * 1000 / max(1, len(queries))
    result.runs["cross_only"] = run
    result.per_query["cross_only"] = per_query(run, {q: qrels[q] for q in queries}, (10, result.top_k))
    result.cross_only = StageRow("cross_only", model_label(reranker.model_name),
                                 mean_metrics(result.per_query["cross_only"].values()), ms)
    result.cross_only_queries = len(queries)
