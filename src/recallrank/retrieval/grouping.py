"""A search for documents instead of chunks: each document once, scored by its best passages, with evidence.

Recall asks Qdrant for the best documents, each with its best ``passages`` chunks (its grouping by ``parent``,
:mod:`recallrank.index.groups`), so one long document cannot fill the candidates; about ``top_k`` chunks in all
are recalled (``ceil(top_k / passages)`` documents). The rerank stages score every recalled chunk; each document
then takes the score of its best passage (``document_score="max"``) or the sum of its ``passages`` best
(``"sum"``), its probability is its best passage's, and the ``top_n`` best documents are returned, each with its
passages and their offsets. Sparse and hybrid recall have no grouped query here: their chunks are grouped after
the rerank the same way. A document's evidence (``evidence=True``) comes from its best passage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from recallrank.documents import BOOKKEEPING, Document, Passage, Result
from recallrank.errors import InvalidInputError
from recallrank.index.base import Hit, parent_key
from recallrank.retrieval.evidence import (
    MAX_SNIPPETS,
    check_evidence,
    chunk_offset,
    matched,
    sentence_evidence,
    snippets,
    token_spans,
)
from recallrank.retrieval.stages import Plan, Stage

DOCUMENT_SCORES = ("max", "sum")
DEFAULT_PASSAGES = 3
#: what joins a document result's passages in its text
PASSAGE_JOIN = "\n…\n"


def check_documents(documents: object, passages: object, document_score: object) -> tuple[bool, int, str]:
    """The documents settings as given, or a clear error."""
    if not isinstance(documents, bool):
        raise InvalidInputError(f"documents must be true or false, got {documents!r:.40}")
    if isinstance(passages, bool) or not isinstance(passages, int) or not 1 <= passages <= 100:
        raise InvalidInputError(f"passages must be an integer from 1 to 100 (best passages kept per document), got "
                                f"{passages!r:.40}")
    if document_score not in DOCUMENT_SCORES:
        raise InvalidInputError(f"document_score must be 'max' (the best passage) or 'sum' (of the best passages), "
                                f"got {document_score!r:.40}")
    return documents, passages, str(document_score)


class Grouped:
    """Mixed into the retriever: documents mode and evidence. Reads ``store``, ``stages`` and the settings."""

    store: Any
    stages: list[Stage]
    exact: bool

    def _settle_documents(self, documents: object, passages: object, document_score: object,
                          evidence: object) -> None:
        self.documents, self.passages, self.document_score = check_documents(documents, passages, document_score)
        #: ``True``: each result's evidence (after a late-interaction stage, and a cross-encoder's best sentence)
        self.evidence = check_evidence(evidence)

    def _plan_documents(self, plan: Plan, documents: object, passages: object, document_score: object,
                        evidence: object) -> None:
        plan.documents, plan.passages, plan.document_score = check_documents(
            self.documents if documents is None else documents, self.passages if passages is None else passages,
            self.document_score if document_score is None else document_score)
        plan.evidence = check_evidence(self.evidence if evidence is None else evidence)

    def _grouped_recall(self, plan: Plan, vector: np.ndarray | None, mode: str) -> list[Hit] | None:
        """Dense recall of the best documents with their best passages (Qdrant's grouping), as one list of chunk
        hits best first; ``None`` where the search is for chunks or the recall mode has no grouped query."""
        if not plan.documents or vector is None or mode != "dense" or not hasattr(self.store, "search_groups"):
            return None
        groups = self.store.search_groups(vector, max(math.ceil(plan.depth / plan.passages), plan.top_n),
                                          plan.passages, plan.filter, self.exact)
        return sorted((h for g in groups for h in g), key=lambda h: -h.score)

    def _as_documents(self, plan: Plan, results: list[Result], top_n: int) -> list[Result]:
        """Chunk results (best first) grouped by the document they were cut from: the ``top_n`` best documents."""
        stored = self.store.parents([str(r.point_id) for r in results if r.point_id is not None]) \
            if hasattr(self.store, "parents") else {}
        by_parent: dict[str, list[Result]] = {}
        for r in results:
            by_parent.setdefault(stored.get(str(r.point_id)) or parent_key(r.document), []).append(r)
        scored = []
        for parent, chunks in by_parent.items():
            best = chunks[:plan.passages]
            score = best[0].score if plan.document_score == "max" else float(sum(c.score for c in best))
            scored.append((score, parent, best))
        scored.sort(key=lambda s: -s[0])
        return [_document(parent, score, best) for score, parent, best in scored[:top_n]]

    def _with_evidence(self, plan: Plan, results: list[Result], done: int) -> list[Result]:
        """``results`` with their evidence when ``plan.evidence`` asks (see :mod:`recallrank.retrieval.evidence`).
        A document result's comes from its best passage (reading stored token vectors costs ~5 ms a passage)."""
        if not plan.evidence or not results:
            return results
        if not plan.documents:
            return self._chunk_evidence(plan, results, done)
        chunks = [[Result(Document(p.text, _passage_meta(r, p), p.id), p.score, point_id=p.point_id)
                   for p in r.passages[:1]] for r in results]
        flat = [c for group in chunks for c in group]
        found = iter(self._chunk_evidence(plan, flat, done, cross=[c is group[0] for group in chunks for c in group]))
        return [_with_passage_evidence(r, [next(found) for _ in group]) for r, group in zip(results, chunks,
                                                                                           strict=True)]

    def _chunk_evidence(self, plan: Plan, results: list[Result], done: int,
                        cross: Sequence[bool] | None = None) -> list[Result]:
        """Token evidence from the last late-interaction stage run (else any whose vectors are stored); after a
        cross-encoder, its best sentence first (for the results ``cross`` marks)."""
        last = self.stages[done] if 0 <= done < len(self.stages) else None
        late = [st for st in self.stages if _late_field(st, self.store)]
        ran = [st for st in self.stages[:done + 1] if st in late]
        late = ran[-1:] or late
        out = _token_evidence(late[0], self.store, plan.query, results) if late else list(results)
        if plan.evidence and last is not None and _is_cross(last):
            marked = [i for i in range(len(out)) if cross is None or cross[i]]
            scored = sentence_evidence(last.reranker, plan.query, [out[i] for i in marked], last.name)
            for i, r in zip(marked, scored, strict=True):
                out[i] = r
        return out


def _with_passage_evidence(result: Result, found: Sequence[Result]) -> Result:
    """A document result with its passages' evidence, and theirs in its joined text: the best passage's first, a
    snippet two overlapping passages share once."""
    passages = tuple(replace(p, evidence=c.evidence) for p, c in zip(result.passages, found, strict=False)) \
        + result.passages[len(found):]
    if all(p.evidence is None for p in passages):
        return replace(result, passages=passages)
    _, at = joined(passages)
    evidence, seen = [], set()
    for i, p in enumerate(passages):
        for e in sorted(p.evidence or (), key=lambda e: -e.score):
            key = (e.source_start, e.source_end, e.stage) if e.source_start is not None else (i, e.start, e.stage)
            if key not in seen:
                seen.add(key)
                evidence.append(replace(e, start=e.start + at[i], end=e.end + at[i],
                                        highlights=tuple((a + at[i], b + at[i]) for a, b in e.highlights)))
    return replace(result, passages=passages, evidence=tuple(evidence[:MAX_SNIPPETS]))


def _document(parent: str, score: float, best: Sequence[Result]) -> Result:
    top = best[0]
    passages = tuple(Passage(r.text, r.score, r.document.id, r.point_id, chunk_offset(r),
                             None if chunk_offset(r) is None else chunk_offset(r) + len(r.text),  # type: ignore[operator]
                             r.probability) for r in best)
    metadata = dict(top.document.metadata)
    book = metadata.get(BOOKKEEPING)
    if isinstance(book, dict):  # the document's bookkeeping, not its best chunk's (number and offsets)
        metadata[BOOKKEEPING] = {k: v for k, v in book.items() if k not in ("chunk", "start", "end")}
    document = Document(joined(passages)[0], metadata, parent)
    return replace(top, document=document, score=score, passages=passages, evidence=None)


def joined(passages: Sequence[Passage]) -> tuple[str, dict[int, int]]:
    """A document result's text, and where each passage (by its index) starts in it: the passages in document
    order, overlapping ones merged (the text they share appears once), the others joined by
    :data:`PASSAGE_JOIN`; in rank order where a passage's offset is unknown."""
    known = all(p.start is not None for p in passages)
    order = sorted(range(len(passages)), key=lambda i: passages[i].start or 0) if known else range(len(passages))
    text, at = "", {}
    seg_text = seg_source = end = 0  # where the current run of overlapping passages starts, in both, and its end
    for i in order:
        p = passages[i]
        if known and text and p.start < end:  # type: ignore[operator]
            at[i] = seg_text + p.start - seg_source  # type: ignore[operator]
            if p.end > end:  # type: ignore[operator]
                text += p.text[end - p.start:]  # type: ignore[operator]
                end = p.end  # type: ignore[assignment]
            continue
        text += PASSAGE_JOIN if text else ""
        seg_text, seg_source, end = len(text), p.start or 0, p.end or 0
        at[i] = len(text)
        text += p.text
    return text, at


def _passage_meta(result: Result, passage: Passage) -> dict[str, Any]:
    meta = dict(result.document.metadata)
    book = dict(meta.get(BOOKKEEPING) or {})
    if passage.start is not None:
        book["start"] = passage.start
    meta[BOOKKEEPING] = book
    return meta


def _is_cross(stage: Stage) -> bool:
    return hasattr(stage.reranker, "score_pairs")


def _late_field(stage: Stage, store: Any) -> bool:
    """A late-interaction stage (zero-shot MaxSim or a trained ColBERT) whose token vectors ``store`` holds."""
    field = getattr(stage.reranker, "field", None)
    return (field is not None and hasattr(getattr(stage.reranker, "encoder", None), "encode_queries")
            and getattr(store, "supports_multivectors", False) and field in store.multivector_fields())


def _token_evidence(stage: Stage, store: Any, query: str, results: list[Result]) -> list[Result]:
    encoder, field = stage.reranker.encoder, stage.reranker.field
    q = encoder.encode_queries([query])[0]
    q_spans = token_spans(encoder, query, "query") or []
    stored = store.token_vectors(field, [r.point_id for r in results if r.point_id is not None])
    out = []
    for r in results:
        vectors = stored.get(str(r.point_id))
        spans = token_spans(encoder, r.text) if vectors is not None else None
        if vectors is None or spans is None or len(spans) != len(vectors) or len(q_spans) > len(q):
            out.append(r)  # no evidence rather than evidence pointing at the wrong words
            continue
        found = matched(q, q_spans, query, vectors, spans)
        out.append(replace(r, evidence=snippets(r.text, spans, found, chunk_offset(r), stage.name)))
    return out
