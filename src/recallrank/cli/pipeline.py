"""The retrieval pipeline the options describe, built by one function for every command that searches: ``search``
and ``eval`` (which must measure what ``search`` runs), ``index`` (which writes the token vectors its stages
read), ``demo`` and ``config`` (which prints it)."""

from __future__ import annotations

from typing import Any

from recallrank.cascade import bi_encoder, cross_encoder, parse_stages
from recallrank.cli.common import settings_store, store_options
from recallrank.index.base import VectorStore
from recallrank.retrieval.grouping import DEFAULT_PASSAGES
from recallrank.retrieval.judged import AUTO
from recallrank.retrieval.pipeline import TwoStageRetriever
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE


def recall_encoder(name: str | None, precision: str = "auto", *, required: bool = False) -> Any:
    """The bi-encoder ``--bi-encoder`` names. Without the flag ``None``, so that :class:`TwoStageRetriever` picks
    the recall model (the one a collection records, else all-MiniLM-L6-v2); ``required`` builds the default model
    instead, for a command that must hold one (``index --reembed``, ``doctor --repair``)."""
    if name is None and not required:
        return None
    return bi_encoder(name, precision)


def build_retriever(store: VectorStore, s: dict[str, Any], rerank: bool | None = None,
                    encoder: Any = None) -> TwoStageRetriever:
    """The pipeline the settings ``s`` describe over ``store`` (models load on first use).

    Recall with ``bi_encoder`` (see :func:`recall_encoder`), then rerank with ``stages`` when given (its ``cross``
    stage uses ``reranker``), else with the cross-encoder ``reranker`` names, else with the default stage
    :class:`TwoStageRetriever` picks for the recall model; ``rerank=False`` (``--no-rerank``) keeps the recall
    order. ``min_probability``, ``latency_budget``, ``confident_recall``, ``documents``, ``passages``,
    ``document_score`` and ``evidence`` as :class:`TwoStageRetriever` takes them. ``top_k`` candidates are
    recalled (``recall``: dense, sparse, hybrid or auto) and ``top_n`` kept. ``encoder`` replaces the recall model
    the settings name.
    """
    precision = s.get("precision", "auto")
    # the cascade is parsed (every name and number checked) even when --no-rerank leaves it out
    stages = parse_stages(s["stages"], s.get("reranker"), precision) if s.get("stages") is not None else None
    rerank = s.get("rerank", True) if rerank is None else rerank
    encoder = encoder if encoder is not None else recall_encoder(s.get("bi_encoder"), precision)
    sizes = {"top_k": s.get("top_k"), "top_n": s.get("top_n", 10), "precision": precision,
             "allow_other_encoder": bool(s.get("allow_other_encoder")),
             "recall": s.get("recall", DEFAULT_RECALL_MODE), "min_probability": s.get("min_probability", AUTO),
             "latency_budget": s.get("latency_budget"), "confident_recall": s.get("confident_recall"),
             "documents": bool(s.get("documents", False)), "passages": s.get("passages", DEFAULT_PASSAGES),
             "document_score": s.get("document_score", "max"), "evidence": bool(s.get("evidence", False))}
    if not rerank:
        return TwoStageRetriever(store, encoder, False, **sizes)
    if stages is not None:
        return TwoStageRetriever(store, encoder, stages=stages, **sizes)
    reranker = cross_encoder(s["reranker"], precision) if s.get("reranker") else None
    return TwoStageRetriever(store, encoder, reranker, **sizes)


def open_retriever(s: dict[str, Any], rerank: bool | None = None) -> TwoStageRetriever:
    """:func:`build_retriever` over the store ``--path`` or ``--url`` names (nothing is opened yet)."""
    return build_retriever(settings_store(s, **store_options(s)), s, rerank)


def warm_up(retriever: TwoStageRetriever, probe: str | None = None) -> None:
    """Load the models now, so that the timings printed are the stages', not the loading; with a ``probe`` query,
    also run it once through every stage, so that a ``latency_budget`` has each stage's seconds per candidate to
    forecast from (a fresh retriever has none, and runs every stage)."""
    retriever.encoder.warm_up()
    for stage in retriever.stages:
        stage.reranker.warm_up()
    if probe is not None and retriever.stages and retriever.store.count():
        retriever.search(probe, min_probability=0)
