"""Hard negatives for a user's labelled queries, from their own collection's recall (nothing in it is modified).

Each query is recalled from the collection as at search time; candidates other than the positive become negatives
unless they score too close to it (a likely unlabelled relevant document: ``margin`` below the positive's score, or
above ``ratio`` times it). With a ``reranker`` the cross-encoder is the judge of that, else the bi-encoder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import Document
from recallrank.errors import InvalidInputError
from recallrank.filters import Filter, MatchAny
from recallrank.index.base import StoredPoint, VectorStore, point_id, to_payload
from recallrank.index.embedded.store import EdgeStore
from recallrank.retrieval.pipeline import TwoStageRetriever
from recallrank.training.inputs import LabelledPair


def positives(store: VectorStore | None, pairs: Sequence[LabelledPair]) -> dict[int, tuple[str, str | None]]:
    """Line -> (positive text, its document id), looking ``positive_id`` up in the collection; unknown ids are
    one error listing them with their files and lines, the stored id each most likely meant, and an example of
    the stored ids. Pairs without a positive (distillation queries) are left out."""
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
    missing = [p for p in pairs if p.positive_id is not None and p.positive_id not in found]
    if missing:
        raise InvalidInputError(_unknown_ids(store, missing))
    return {p.line: (p.positive, None) if p.positive is not None else (found[str(p.positive_id)], p.positive_id)
            for p in pairs if p.positive is not None or p.positive_id is not None}


#: stored ids read, at most, to suggest the id a user meant
SUGGEST_SCAN = 100_000


def _unknown_ids(store: VectorStore | None, missing: Sequence[LabelledPair]) -> str:
    """Which positive_ids are not in the collection (file, line, id), the id each most likely meant, and what
    the stored ids look like."""
    stored = [str(pl["doc_id"]) for _, pl in islice(store.scroll(["doc_id"]), SUGGEST_SCAN)
              if pl.get("doc_id") is not None] if store is not None else []
    shown = []
    for p in missing[:5]:
        guess = _closest(str(p.positive_id), stored)
        shown.append(f"{p.where}: {p.positive_id!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    example = f"e.g. {min(stored, key=lambda i: (not i.endswith('#0'), i))!r}" if stored \
        else "and the collection holds none"
    return (f"{len(missing)} positive_id(s) are not in the collection ({'; '.join(shown)}"
            f"{'; ...' if len(missing) > 5 else ''}); a positive_id is a stored document id, {example} (`recallrank "
            "index` names a chunk <file>#<n>, and a JSONL record's <file>::<id>#<n>, with the file's absolute "
            "path); fix the ids, index those documents, or give the text as 'positive'")


def _closest(given: str, stored: Sequence[str]) -> str | None:
    """The stored id that ends in ``given`` (chunk number aside), first chunk and shortest first."""
    if not given:
        return None
    ends = tuple(f"{sep}{given}" for sep in ("::", "/", ":"))
    found = [i for i in stored if i.endswith(ends) or re.sub(r"#\d+$", "", i).endswith(ends)]
    return min(found, key=lambda i: (not i.endswith("#0"), len(i), i)) if found else None


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


def search_corpus(corpus: dict[str, str], queries: Sequence[str], encoder: Any, depth: int = 30
                  ) -> list[list[tuple[str, str, float]]]:
    """Each query's exact top ``depth`` over ``corpus`` (id -> text) as (id, text, score), best first: for texts
    that are not in an index yet. The corpus is embedded by ``encoder`` into a temporary embedded Qdrant store,
    searched as recallrank searches at query time, and deleted."""
    with tempfile.TemporaryDirectory(prefix="recallrank-mine-") as tmp:
        store = EdgeStore(tmp, "mining")
        try:
            store.ensure_collection(encoder.dimension, encoder.similarity)
            docs = [Document(text, id=key) for key, text in corpus.items()]
            vectors = encoder.encode_documents([d.text for d in docs], show_progress_bar=True)
            store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(docs, vectors, strict=True)])
            store.finish_ingest()
            return [[(str(h.document.id), h.document.text, float(h.score)) for h in store.search(qv, depth, exact=True)]
                    for qv in encoder.encode_queries(list(queries))]
        finally:
            store.close()


def similarity(q: np.ndarray, d: np.ndarray, kind: str) -> float:
    """The store's score for one pair: cosine, dot, or negative euclidean distance."""
    q, d = np.asarray(q, dtype=np.float64), np.asarray(d, dtype=np.float64)
    if kind == "dot":
        return float(q @ d)
    if kind == "euclidean":
        return -float(np.linalg.norm(q - d))
    return float(q @ d / ((np.linalg.norm(q) * np.linalg.norm(d)) or 1.0))


def write_jsonl(rows: Iterator[dict[str, Any]], out: str | Path, *, overwrite: bool = False) -> int:
    """Write mined rows as JSONL (readable by :func:`recallrank.training.inputs.read_pairs` after dropping the
    score fields); returns how many. The file appears whole or not at all: rows go to a temporary file beside it,
    renamed over ``out`` once all are written. An existing ``out`` is refused unless ``overwrite``."""
    out = Path(out)
    check_out(out, overwrite)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        check_out(out, overwrite)  # nothing appeared there while mining
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def check_out(out: str | Path, overwrite: bool) -> None:
    """Refuse to write ``out`` over a folder, or over a file unless ``overwrite``."""
    out = Path(out)
    if out.is_dir():
        raise InvalidInputError(f"{out} is a folder; give a file name to write the mined pairs to")
    if out.exists() and not overwrite:
        raise InvalidInputError(f"{out} exists; pass another file name, or --overwrite (overwrite=True) to replace "
                                "it")
