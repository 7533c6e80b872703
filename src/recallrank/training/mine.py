"""Hard negatives for a user's labelled queries, from their own collection's recall (nothing in it is modified).

Each query is recalled from the collection as at search time; candidates other than the positive become negatives
unless they score too close to it (a likely unlabelled relevant document: ``margin`` below the positive's score, or
above ``ratio`` times it). With a ``reranker`` the cross-encoder is the judge of that, else the bi-encoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError
from recallrank.filters import Filter, MatchAny
from recallrank.index.base import VectorStore
from recallrank.pipeline import TwoStageRetriever
from recallrank.training.inputs import LabelledPair


def positives(store: VectorStore | None, pairs: Sequence[LabelledPair]) -> dict[int, tuple[str, str | None]]:
    """Line -> (positive text, its document id), looking ``positive_id`` up in the collection; unknown ids are
    one error listing them with their lines. Pairs without a positive (distillation queries) are left out."""
    ids = sorted({p.positive_id for p in pairs if p.positive_id is not None})
    found: dict[str, str] = {}
    if ids and store is None:
        raise InvalidInputError(f"{len(ids)} pair(s) name a positive_id but no index was given to look them up in; "
                                "pass the index (--path/--url and --collection) or give each positive's text")
    if ids and store is not None:
        for start in range(0, len(ids), 500):
            flt = Filter(must=(MatchAny("@doc_id", tuple(ids[start:start + 500])),))
            found.update({str(pl.get("doc_id")): str(pl.get("text", ""))
                          for _, pl in store.scroll(["doc_id", "text"], flt)})
    missing = [(p.line, p.positive_id) for p in pairs if p.positive_id is not None and p.positive_id not in found]
    if missing:
        shown = ", ".join(f"line {n}: {i!r}" for n, i in missing[:5])
        raise InvalidInputError(f"{len(missing)} positive_id(s) are not in the collection ({shown}"
                                f"{', ...' if len(missing) > 5 else ''}); index those documents or give the text "
                                "as 'positive'")
    return {p.line: (p.positive, None) if p.positive is not None else (found[str(p.positive_id)], p.positive_id)
            for p in pairs if p.positive is not None or p.positive_id is not None}


def mine(retriever: TwoStageRetriever, pairs: Sequence[LabelledPair], *, negatives: int = 5, depth: int = 30,
         margin: float = 0.05, ratio: float | None = None, reranker: Any = None) -> Iterator[dict[str, Any]]:
    """For each pair, up to ``negatives`` hard negatives from the top ``depth`` of the collection's recall, as
    ``{"query", "positive", "positive_id", "negatives": [text...], "negative_ids", "negative_scores",
    "positive_score", "line"}``. A candidate is skipped when it is the positive (same id or same text) or scores
    within ``margin`` of the positive (or above ``ratio`` x its score)."""
    if negatives < 1 or depth < negatives:
        raise InvalidInputError(f"need 1 <= negatives <= depth, got negatives={negatives}, depth={depth}")
    pos = positives(retriever.store, pairs)
    encoder = retriever.encoder
    queries = encoder.encode_queries([p.query for p in pairs])  # in batches, once
    positive_vectors = encoder.encode_documents([pos[p.line][0] for p in pairs]) if reranker is None \
        else np.empty((0, 0))  # the teacher scores the positives instead
    for i, p in enumerate(pairs):
        text, pid = pos[p.line]
        q = queries[i]
        hits = retriever.store.search(q, depth)
        candidates = [h for h in hits if not (pid is not None and str(h.document.id) == pid)
                      and h.document.text.strip() != text.strip()]
        if reranker is not None:
            scores = np.asarray(reranker.score(p.query, [text, *[h.document.text for h in candidates]]))
            pos_score, cand_scores = float(scores[0]), [float(s) for s in scores[1:]]
        else:  # the positive scored as the store scores the candidates
            pos_score = similarity(q, positive_vectors[i], getattr(encoder, "similarity", "cosine"))
            cand_scores = [float(h.score) for h in candidates]
        kept = [(h, s) for h, s in zip(candidates, cand_scores, strict=True)
                if s <= pos_score - margin and (ratio is None or s <= ratio * pos_score)][:negatives]
        yield {"query": p.query, "positive": text, "positive_id": pid, "positive_score": pos_score,
               "negatives": [h.document.text for h, _ in kept],
               "negative_ids": [h.document.id for h, _ in kept], "negative_scores": [s for _, s in kept],
               "line": p.line}


def similarity(q: np.ndarray, d: np.ndarray, kind: str) -> float:
    """The store's score for one pair: cosine, dot, or negative euclidean distance."""
    q, d = np.asarray(q, dtype=np.float64), np.asarray(d, dtype=np.float64)
    if kind == "dot":
        return float(q @ d)
    if kind == "euclidean":
        return -float(np.linalg.norm(q - d))
    return float(q @ d / ((np.linalg.norm(q) * np.linalg.norm(d)) or 1.0))


def write_jsonl(rows: Iterator[dict[str, Any]], out: str | Path) -> int:
    """Write mined rows as JSONL (readable by :func:`recallrank.training.inputs.read_pairs` after dropping the
    score fields); returns how many."""
    n = 0
    with Path(out).open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
