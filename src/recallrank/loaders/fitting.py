"""Chunks that fit the model: sizes measured in the bi-encoder's own tokens, never over its input limit.

``recallrank index`` and :func:`recallrank.chunk` cut texts with the same rule: at most ``size`` tokens of the
bi-encoder (default 256, capped at the model's input limit), consecutive chunks sharing ``overlap`` tokens, cut at
paragraph, line, sentence, then word boundaries. A size over the limit is an error before anything is read or
written: its chunks would be truncated. Each chunk keeps the id of what it was cut from (``parent``) and its
character offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from recallrank.documents import Document
from recallrank.errors import InvalidInputError
from recallrank.index.base import point_id
from recallrank.loaders.chunks import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNK_TOKEN_OVERLAP,
    DEFAULT_CHUNK_TOKENS,
    Measure,
    Source,
    chunk_spans,
    source_chunks,
)
from recallrank.models.identity import registry_name


def measure_of(encoder: Any) -> Measure:
    """What chunks are measured in for ``encoder``: its tokens (start offsets from its tokenizer alone), or
    ``None`` (characters) for a model without a tokenizer recallrank can read."""
    spans = getattr(encoder, "token_spans", None)
    if spans is None or getattr(encoder, "token_limit", None) is None:
        return None
    return lambda text: [a for _, a, _ in spans([text])[0]]


def input_limit(encoder: Any) -> int | None:
    """The most tokens of a document's own text ``encoder`` reads (its limit less the special tokens and any
    document prefix, such as e5's ``passage: ``); ``None`` without a tokenizer."""
    limit = getattr(encoder, "token_limit", None)
    if limit is None:
        return None
    prefix = getattr(encoder, "document_prefix", "")
    return int(limit) - (len(encoder.token_spans([prefix])[0]) if prefix else 0)


#: query tokens a cross-encoder stage leaves room for when it caps the default chunk size
QUERY_TOKENS = 32


def chunk_settings(encoder: Any, size: int | None = None, overlap: int | None = None,
                   stages: Sequence[Any] = ()) -> tuple[int, int, Measure]:
    """``(size, overlap, measure)`` for chunking for ``encoder``: ``None`` takes the default (256 tokens, or the
    model's input limit if smaller; a quarter of that, at most 32 tokens, shared). With a cross-encoder among
    ``stages`` (rerankers or stages), the default also leaves room for a :data:`QUERY_TOKENS`-token query in its
    pair limit. Without a tokenizer, sizes are characters (800 / 120). A ``size`` over the model's input limit is
    refused, saying the limit; ``size=0`` keeps each text whole (one point; the model reads its first tokens and
    logs how many texts it truncated)."""
    measure = measure_of(encoder)
    if measure is None:
        chars = (size if size is not None else DEFAULT_CHUNK_SIZE,
                 overlap if overlap is not None else DEFAULT_CHUNK_OVERLAP)
        chunk_spans("", *chars)  # a bad size or overlap is refused here, before any source is read
        return (*chars, None)
    limit = input_limit(encoder)
    assert limit is not None
    name = registry_name(encoder)
    if size is None:
        size = min(DEFAULT_CHUNK_TOKENS, limit, *(pair - QUERY_TOKENS for pair in _pair_limits(stages)))
    elif isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInputError(f"chunk size must be a positive number of tokens (0: each text whole), got {size!r}")
    elif size == 0:  # asked for: texts whole, the model truncates them and its warning counts them
        return 0, 0, measure
    elif size > limit:
        raise InvalidInputError(
            f"chunk size {size} is over the {limit} tokens {name} reads of a text: every longer chunk would be "
            f"truncated. Chunk sizes count the bi-encoder's tokens (not characters); pass at most {limit}, or 0 to "
            "keep each text whole and let the model truncate it")
    if overlap is None:
        overlap = min(DEFAULT_CHUNK_TOKEN_OVERLAP, size // 4)
    chunk_spans("", size, overlap)  # a bad overlap is refused here, before any source is read
    return size, overlap, measure


def _pair_limits(stages: Sequence[Any]) -> list[int]:
    """The tokens of its own text each cross-encoder among ``stages`` reads of a pair (its limit less 3 special
    tokens); loads those cross-encoders."""
    out = []
    for stage in stages:
        reranker = getattr(stage, "reranker", stage)
        if hasattr(reranker, "score_pairs") and hasattr(reranker, "warm_up"):
            limit = getattr(reranker.warm_up(), "max_seq_length", None)
            if limit:
                out.append(int(limit) - 3)
    return out


def chunk(documents: Iterable[Document], encoder: Any, size: int | None = None,
          overlap: int | None = None) -> Iterator[Document]:
    """Each document cut into chunks that fit ``encoder`` (a bi-encoder, or a retriever: its bi-encoder and its
    stages; see :func:`chunk_settings`), as documents with ids
    ``<parent>#<n>``, where ``parent`` is the document's own id (or, without one, its stored point id). Metadata is
    kept; under ``_recallrank`` each chunk also records ``parent``, its number ``chunk`` and its ``start``/``end``
    character offsets in the document's text. A document short enough is still one chunk (``#0``), so every
    chunk of a collection groups the same way.

    Example:
        >>> chunks = list(chunk([Document(long_text, id="manual")], retriever))   # doctest: +SKIP
        >>> retriever.add_documents(chunks)                                       # doctest: +SKIP
        >>> retriever.search("...", documents=True)                               # doctest: +SKIP
    """
    if getattr(encoder, "choosing_encoder", False):  # a new collection: its first documents choose the model
        documents = list(documents)
        encoder.choose_encoder([d.text for d in documents if isinstance(d, Document)])
    stages = getattr(encoder, "stages", ())
    encoder = getattr(encoder, "encoder", encoder)
    size, overlap, measure = chunk_settings(encoder, size, overlap, stages)
    for i, doc in enumerate(documents):
        if not isinstance(doc, Document):
            raise InvalidInputError(f"document {i} is a {type(doc).__name__}; pass recallrank.Document objects")
        key = doc.id if doc.id is not None else point_id(doc)
        yield from source_chunks(Source(key, doc.text, dict(doc.metadata)), size, overlap, measure)
