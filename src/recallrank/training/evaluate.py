"""Before/after evaluation of a training run on held-out pairs: nDCG@10, MRR@10, Recall@10 and Recall@top_k of the
bi-encoder alone and of two-stage retrieval, printed as one table.

The held-out queries search a corpus made of their positives plus distractors (the BEIR folder's other documents,
else documents read from the user's index), embedded afresh by each bi-encoder in a temporary embedded store, so
the index itself is never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from recallrank.datasets.beir import RetrievalSet
from recallrank.index.base import VectorStore
from recallrank.training.inputs import LabelledPair
from recallrank.training.mine import positives

METRICS = (("ndcg@10", "nDCG@10"), ("mrr@10", "MRR@10"), ("recall@10", "R@10"))


def held_out_set(pairs: Sequence[LabelledPair], store: VectorStore | None = None, corpus: dict[str, str] | None = None,
                 max_documents: int = 5000, name: str = "held-out") -> RetrievalSet:
    """The held-out pairs as a retrieval set: every labelled positive is relevant (graded pairs with a score of 0
    are not), and the corpus is filled with distractors up to ``max_documents``."""
    pos = positives(store, pairs)
    docs: dict[str, str] = {}
    by_text = {" ".join(t.split()): i for i, t in (corpus or {}).items()}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for p in pairs:
        if p.line not in pos:
            continue
        text, pid = pos[p.line]
        doc_id = pid if pid is not None else by_text.get(" ".join(text.split()), f"pos-{_digest(text)}")
        docs[doc_id] = text
        qid = f"q-{_digest(' '.join(p.query.split()).casefold())}"
        queries[qid] = p.query
        grade = 1 if p.score is None else round(p.score * 3)
        rels = qrels.setdefault(qid, {})
        if grade > 0:
            rels[doc_id] = max(grade, rels.get(doc_id, 0))
    seen = {" ".join(t.split()) for t in docs.values()}
    for doc_id, text in _distractors(store, corpus):
        if len(docs) >= max_documents:
            break
        key = " ".join(text.split())
        if doc_id not in docs and key and key not in seen:
            docs[doc_id] = text
            seen.add(key)
    qrels = {q: r for q, r in qrels.items() if r}
    return RetrievalSet(corpus=docs, queries={q: queries[q] for q in qrels}, qrels=qrels, name=name)


def _distractors(store: VectorStore | None, corpus: dict[str, str] | None) -> Any:
    if corpus:
        yield from corpus.items()
    elif store is not None:
        for point, payload in store.scroll(["doc_id", "text"]):
            yield str(payload.get("doc_id") or point), str(payload.get("text") or "")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def before_after(ds: RetrievalSet, variants: Sequence[tuple[str, Any, Any]], top_k: int = 100) -> list[dict[str, Any]]:
    """Each ``(label, bi-encoder, reranker or None)`` evaluated on ``ds``: one row for the bi-encoder alone, one
    for two-stage retrieval when a reranker is given."""
    from recallrank.evaluation.harness import compare

    rows: list[dict[str, Any]] = []
    for label, encoder, reranker in variants:
        res = compare(ds, encoder, reranker if reranker is not None else False, top_k=top_k)
        rows.append({"model": label, "stage": "bi-encoder", **res.metrics["bi"]})
        if reranker is not None:
            rows.append({"model": label, "stage": "two-stage", **res.metrics["two_stage"]})
    return rows


def table(rows: Sequence[dict[str, Any]], top_k: int, title: str = "") -> str:
    """The rows as a fixed-width table, with the after - before change per stage when both are there."""
    k = f"recall@{top_k}"
    head = f"{'model':10} {'stage':11} " + " ".join(f"{h:>8}" for _, h in METRICS) + f" {'R@' + str(top_k):>8}"
    lines = [title] if title else []
    lines.append(head)
    for r in rows:
        lines.append(f"{r['model']:10} {r['stage']:11} " + " ".join(f"{r[m]:8.4f}" for m, _ in METRICS)
                     + f" {r.get(k, float('nan')):8.4f}")
    by = {(r["model"], r["stage"]): r for r in rows}
    for stage in ("bi-encoder", "two-stage"):
        if ("before", stage) in by and ("after", stage) in by:
            b, a = by[("before", stage)], by[("after", stage)]
            lines.append(f"{'change':10} {stage:11} " + " ".join(f"{a[m] - b[m]:+8.4f}" for m, _ in METRICS)
                         + f" {a.get(k, 0.0) - b.get(k, 0.0):+8.4f}")
    return "\n".join(lines)
