"""Poly-encoder reranking: the query's code vectors attend over each candidate's stored dense vector."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from recallrank.documents import Result, check_text
from recallrank.errors import InvalidInputError
from recallrank.models.poly_encoder import PolyEncoder
from recallrank.rerank.base import candidates_of, ranked


class PolyReranker:
    """A rerank stage: the Poly-encoder scores recalled hits from the dense vectors the store already holds.

    Args:
        encoder: a :class:`PolyEncoder` trained over the retriever's bi-encoder (its vectors are what it reads).

    Candidates are recall hits (their vectors are read from the ``store`` the retriever passes) or
    ``(Document, vector)`` pairs.

    Example:
        >>> poly = PolyReranker(PolyEncoder("path/to/poly"))                    # doctest: +SKIP
        >>> poly.rerank("mail server", hits, top_n=10, store=store)           # doctest: +SKIP
    """

    #: the retriever passes its store to rerank(): this stage reads vectors stored there
    uses_store = True

    def __init__(self, encoder: PolyEncoder) -> None:
        self.encoder = encoder
        self.last_seconds = 0.0

    def warm_up(self) -> None:
        self.encoder.warm_up()

    def rerank(self, query: str, candidates: Sequence[Any], top_n: int | None = None,
               score_threshold: float | None = None, store: Any = None) -> list[Result]:
        start = time.perf_counter()
        pairs = [c for c in candidates if isinstance(c, tuple)]
        if pairs and len(pairs) != len(candidates):
            raise InvalidInputError("pass either (Document, vector) pairs or recall hits, not both")
        if pairs:
            docs, recall, ids = candidates_of([d for d, _ in pairs])
            vectors = [np.asarray(v, dtype=np.float32) for _, v in pairs]
        else:
            docs, recall, ids = candidates_of(candidates)
            if docs and (store is None or any(i is None for i in ids)):
                raise InvalidInputError("the Poly-encoder scores the vectors the store holds: pass recall hits and "
                                        "store=..., or (Document, vector) pairs")
            stored = store.vectors([i for i in ids if i is not None]) if docs else {}
            lost = [i for i in ids if i not in stored]
            if lost:
                raise InvalidInputError(f"{len(lost)} candidates have no stored vector (e.g. {lost[0]}); were they "
                                        "deleted during the search?")
            vectors = [stored[i] for i in ids if i is not None]
        if docs:
            q = self.encoder.encode_queries([check_text(query, "query")])[0]
            scores = self.encoder.score(q, np.stack(vectors))
        else:
            scores = np.zeros(0, dtype=np.float32)
        results = ranked(docs, recall, ids, scores, top_n, score_threshold)
        self.last_seconds = time.perf_counter() - start
        return results

    def config(self) -> dict[str, Any]:
        return {"kind": "poly", "model": str(self.encoder.path)}
