"""The writing side of :class:`~recallrank.retrieval.pipeline.TwoStageRetriever`: one batch embedded and written
(the dense vectors and a zero-shot stage's token vectors from one forward pass), texts no model can read, and the
vectors and records a collection written by an earlier version lacks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from recallrank.index.base import StoredPoint
from recallrank.retrieval import tokens
from recallrank.retrieval.stages import Stage

log = logging.getLogger("recallrank.retrieval.pipeline")


class Writing:
    """Mixed into the retriever: reads its ``store``, ``encoder``, ``stages`` and recall."""

    store: Any
    encoder: Any
    stages: list[Stage]
    _recall: Any
    _warned_fields: bool

    def _write_batch(self, batch: list[tuple[str, dict[str, Any]]], counts: list[int]) -> None:
        stored = self.store.existing_hashes([pid for pid, _ in batch])
        todo = [(pid, payload) for pid, payload in batch if stored.get(pid) != payload["content_hash"]]
        counts[2] += len(batch) - len(todo)
        counts[1] += sum(pid in stored for pid, _ in todo)
        counts[0] += sum(pid not in stored for pid, _ in todo)
        if todo:
            texts = [p["text"] for _, p in todo]
            stored_stages = self._stored_stages()
            shared = [r for r in stored_stages if getattr(r.encoder, "runner", None) is self.encoder]
            if shared:  # the dense vectors and the stage's token vectors from one forward pass
                vectors, token_vectors = self.encoder.encode_with_tokens(texts, skip=shared[0].encoder.document_skip)
            else:
                vectors, token_vectors = self.encoder.encode_documents(texts), None
            self.store.upsert([StoredPoint(pid, v, payload) for (pid, payload), v in zip(todo, vectors, strict=True)])
            for reranker in stored_stages:
                tokens.prepare(self.store, reranker)
                tokens.write(self.store, reranker, [(pid, p["text"]) for pid, p in todo],
                             token_vectors if reranker in shared else None)

    def unreadable(self, texts: Sequence[str]) -> list[int]:
        """Positions of the texts in which the bi-encoder, or a stage that stores token vectors, finds no word: a
        text of zero-width spaces, control characters or lone accents alone. Such a text would embed as an empty
        input and get no token vectors (a store cannot hold an empty multivector), so ingest refuses it before
        anything is written. Texts with a letter or digit are answered without running a model."""
        bad: set[int] = set()
        encoders = [self.encoder, *(reranker.encoder for reranker in self._stored_stages())]
        for encoder in encoders:
            has_tokens = getattr(encoder, "has_tokens", None)  # stand-ins without a tokenizer read everything
            if has_tokens is not None:
                bad.update(i for i, ok in enumerate(has_tokens(texts)) if not ok)
        return sorted(bad)

    def _stored_stages(self) -> list[Any]:
        """Stages whose document-side vectors live in the store (a token-vector ``field``)."""
        stored = [st.reranker for st in self.stages if getattr(st.reranker, "field", None)]
        if stored and not self.store.supports_multivectors:
            if not self._warned_fields:
                self._warned_fields = True
                log.warning("%s cannot hold token vectors: the MaxSim stage encodes its candidates at query "
                            "time instead (seconds per query); EdgeStore and QdrantServerStore score them inside "
                            "Qdrant", type(self.store).__name__)
            return []
        return stored

    def add_stage_vectors(self, batch_size: int = 64, progress: Callable[[int], object] | None = None) -> int:
        """Write the token vectors of every stored point that lacks them (a collection indexed before its MaxSim
        stage had a ``field``, or an interrupted ingest); returns how many points were filled. Running it again
        is a no-op. With sparse or hybrid recall, the BM25 field is added and filled too where it is missing, and
        points written before recallrank recorded their document (``parent``) get it (no re-embedding)."""
        filled = tokens.fill(self.store, self._stored_stages(), batch_size, progress) + self._recall.fill(self.store)
        return filled + (self.store.fill_parents() if hasattr(self.store, "fill_parents") else 0)

