"""Compare bi-encoder recall alone with two-stage retrieval on a retrieval set, with latency per stage."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.datasets.beir import RetrievalSet
from recallrank.documents import Document
from recallrank.encoders.bi_encoder import BiEncoder
from recallrank.encoders.cross_encoder import CrossEncoderReranker
from recallrank.evaluation.metrics import evaluate_run
from recallrank.index.edge import EdgeStore
from recallrank.pipeline import TwoStageRetriever

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    """Metrics for ``bi`` (recall order) and ``two_stage`` (reranked), plus mean seconds per query and stage."""

    dataset: str
    queries: int
    documents: int
    top_k: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "queries": self.queries, "documents": self.documents, "top_k": self.top_k,
                **self.metrics, "latency_s": self.latency}


def compare(ds: RetrievalSet, encoder: BiEncoder | None = None, reranker: CrossEncoderReranker | bool | None = None,
            top_k: int = 100, n_queries: int | None = None, index_dir: str | Path | None = None, fuse: bool = True,
            collect: list[Any] | None = None) -> Comparison:
    """Index ``ds.corpus`` (embedded store, cached under ``index_dir`` when given), then for each query recall
    ``top_k`` once and score the orders: the bi-encoder's (``bi``), the cross-encoder's alone
    (``rerank_only_order``) and the pipeline's (``two_stage``: the calibrated fusion when the reranker ships one).
    ``reranker=False`` scores the bi-encoder only. ``collect`` receives (query id, ids, logits, recall scores)
    per query, for calibrating a fusion."""
    encoder = encoder if encoder is not None else BiEncoder()
    if reranker is None or reranker is True:
        reranker = CrossEncoderReranker()
    if reranker:
        reranker.warm_up()
    if n_queries is not None:
        ds = ds.subset(n_queries)
    with tempfile.TemporaryDirectory(prefix="recallrank-eval-") as tmp:
        root = Path(index_dir) if index_dir is not None else Path(tmp)
        store = EdgeStore(root, _index_name(ds, encoder))
        retriever = TwoStageRetriever(store, encoder, False, top_k=top_k, top_n=top_k)
        retriever.add_documents([Document(text, id=doc_id) for doc_id, text in ds.corpus.items()], batch_size=512)
        bi_run: dict[str, list[str]] = {}
        rerank_run: dict[str, list[str]] = {}
        fused_run: dict[str, list[str]] = {}
        spent = {"embed": 0.0, "recall": 0.0, "rerank": 0.0}
        fusion = reranker.fusion if reranker and fuse else None
        for qid, query in ds.queries.items():
            recalled = retriever.search(query, top_n=top_k, rerank=False)
            ids = [str(r.document.id) for r in recalled.results]
            bi_run[qid] = ids
            spent["embed"] += recalled.timings["embed"]
            spent["recall"] += recalled.timings["recall"]
            if reranker and ids:
                t = time.perf_counter()
                logits = reranker.logits([(query, r.document.text) for r in recalled.results])
                spent["rerank"] += time.perf_counter() - t
                rerank_run[qid] = [ids[i] for i in np.argsort(-logits, kind="stable")]
                if fusion is not None:
                    retrieval = np.array([r.retrieval_score for r in recalled.results], dtype=np.float32)
                    fused_run[qid] = [ids[i] for i in np.argsort(-fusion.apply(logits, retrieval), kind="stable")]
            if collect is not None and reranker and ids:
                collect.append((qid, ids, logits, np.array([r.retrieval_score for r in recalled.results])))
        store.close()
    n = max(1, len(ds.queries))
    # "two_stage" is what TwoStageRetriever returns: fused when the model ships a fusion, else the rerank order
    runs = {"bi": bi_run}
    if rerank_run:
        runs["rerank_only_order"] = rerank_run
        runs["two_stage"] = fused_run if fused_run else rerank_run
    ks = (10, top_k) if top_k != 10 else (10,)
    return Comparison(
        dataset=ds.name, queries=len(ds.queries), documents=len(ds.corpus), top_k=top_k,
        metrics={name: evaluate_run(run, ds.qrels, ks) for name, run in runs.items()},
        latency={stage: s / n for stage, s in spent.items()},
        runs=runs,
    )


def _index_name(ds: RetrievalSet, encoder: BiEncoder) -> str:
    key = f"{ds.name}|{len(ds.corpus)}|{encoder.config()}"
    return f"{ds.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
