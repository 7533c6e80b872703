"""MaxSim reranking over token vectors (ColBERT late interaction): zero-shot from the bi-encoder or trained."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from recallrank.documents import Result, check_text
from recallrank.errors import InvalidInputError
from recallrank.models._batching import no_words
from recallrank.models.late_interaction import LateInteractionEncoder, maxsim
from recallrank.rerank.base import candidates_of, ranked

log = logging.getLogger(__name__)


class MaxSimReranker:
    """A rerank stage: scores each candidate by MaxSim between the query's and the document's token vectors.

    Args:
        encoder: a :class:`LateInteractionEncoder` (``None``: zero-shot over the default bi-encoder).
        field: the name of the token-vector field in the store (e.g. ``"colbert"``). With a field, a retriever
            writes the documents' token vectors at ingest and this stage scores candidates inside Qdrant from
            them (milliseconds); without one, or on a store that lacks the field, candidates are encoded on the
            fly (seconds per query).

    Results carry ``relevance_score`` (the MaxSim score) and keep the recall stage's ``retrieval_score``; inputs
    are never mutated.

    Example:
        >>> MaxSimReranker().rerank("fruit", ["Apples are fruit.", "Qdrant is a database."], top_n=1)  # doctest: +SKIP
    """

    #: the retriever passes its store to rerank(): this stage reads vectors stored there
    uses_store = True

    def __init__(self, encoder: LateInteractionEncoder | None = None, *, field: str | None = None,
                 fuse: float | None = None) -> None:
        if field is not None and (not isinstance(field, str) or not field.isidentifier()):
            raise InvalidInputError(f"field {field!r}: use letters, digits and _, e.g. 'colbert'")
        if fuse is not None and (isinstance(fuse, bool) or not isinstance(fuse, (int, float)) or not 0 <= fuse < 1e6):
            raise InvalidInputError(f"fuse must be a non-negative weight or None, got {fuse!r}")
        self.encoder = encoder if encoder is not None else LateInteractionEncoder()
        self.field, self.fuse = field, fuse
        self.last_seconds = 0.0
        self._warned: set[str] = set()

    def warm_up(self) -> None:
        self.encoder.warm_up()

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """MaxSim of ``query`` against each text (encoded now)."""
        q = self.encoder.encode_queries([check_text(query, "query")])[0]
        return self._scores(q, texts)

    def _scores(self, q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        docs = self.encoder.encode_documents(list(texts))
        return np.array([maxsim(q, d) for d in docs], dtype=np.float32)

    def stored_scores(self, q: np.ndarray, candidates: Sequence[Any], store: Any) -> np.ndarray | None:
        """Scores from the store's token vectors (``None`` when the store has no such field); candidates whose
        vectors are missing (written before the field existed, or an interrupted ingest) are encoded now."""
        if self.field is None or store is None or not getattr(store, "supports_multivectors", False):
            return None
        if self.field not in store.multivector_fields():
            if store.name not in self._warned:
                self._warned.add(store.name)
                log.warning("collection '%s' has no '%s' token vectors, so MaxSim encodes every candidate now "
                            "(slow); add them once with TwoStageRetriever.add_stage_vectors() or "
                            "`recallrank index --stages ...` over the same sources", store.name, self.field)
            return None
        ids = [c.id for c in candidates]
        stored = store.maxsim_scores(self.field, q, ids)
        missing = [i for i, pid in enumerate(ids) if pid not in stored]
        if missing:
            docs = self.encoder.encode_documents([candidates[i].document.text for i in missing])
            stored.update({ids[i]: maxsim(q, d) for i, d in zip(missing, docs, strict=True)})
        return np.array([stored[pid] for pid in ids], dtype=np.float32)

    def rerank(self, query: str, candidates: Sequence[Any], top_n: int | None = None,
               score_threshold: float | None = None, store: Any = None) -> list[Result]:
        """Order ``candidates`` (texts, :class:`Document` s or recall hits) by MaxSim; keep ``top_n``.

        With ``fuse=w`` and recall scores on every candidate, results are ordered by MaxSim per query token plus
        ``w`` times the recall score (both cosines for normalised vectors); ``relevance_score`` stays the MaxSim.
        """
        start = time.perf_counter()
        docs, recall, ids = candidates_of(candidates)
        if not docs:
            return []
        q = self.encoder.encode_queries([check_text(query, "query")])[0]
        if not len(q):
            raise InvalidInputError(no_words("the query", query) + "; type some words")
        scores = self.stored_scores(q, candidates, store) if all(i is not None for i in ids) else None
        if scores is None:
            scores = self._scores(q, [d.text for d in docs])
        final = scores
        if self.fuse is not None and all(r is not None for r in recall):
            final = scores / max(1, len(q)) + self.fuse * np.asarray(recall, dtype=np.float32)
        results = ranked(docs, recall, ids, final, top_n, score_threshold, relevance=scores)
        self.last_seconds = time.perf_counter() - start
        return results

    def config(self) -> dict[str, Any]:
        return {"kind": "maxsim", "field": self.field, "fuse": self.fuse, **self.encoder.config()}
