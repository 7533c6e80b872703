"""Chunking: a source's text cut into overlapping chunks with deterministic ids ``<source key>#<n>``."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from recallrank.documents import BOOKKEEPING, Document
from recallrank.errors import InvalidInputError

#: characters per chunk where no tokenizer measures (a model without one); with one, chunks are measured in the
#: bi-encoder's tokens: :data:`DEFAULT_CHUNK_TOKENS` or its input limit, whichever is smaller
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 120
#: tokens per chunk by default (capped at the bi-encoder's input limit, so nothing is truncated)
DEFAULT_CHUNK_TOKENS = 256
#: tokens shared by consecutive chunks by default
DEFAULT_CHUNK_TOKEN_OVERLAP = 32
_SEPARATORS = ("\n\n", "\n", "。", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")


@dataclass(frozen=True)
class Source:
    """One unit that is chunked: a file, or a JSONL record. ``key`` is its stable identity; ``line`` the line a
    JSONL record is on."""

    key: str
    text: str
    metadata: dict[str, Any]
    line: int | None = None


#: what chunking measures a text in: ``None`` for characters, else a function giving the start offsets of a
#: text's tokens (e.g. ``lambda t: [a for _, a, _ in bi_encoder.token_spans([t])[0]]``)
Measure = Callable[[str], Sequence[int]] | None


def chunk_text(text: str, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP,
               measure: Measure = None) -> list[str]:
    """Split ``text`` into chunks of at most ``size`` characters (or tokens, with ``measure``), cut at paragraph,
    line, sentence, then word boundaries, each starting with up to ``overlap`` of the previous one.

    Example:
        >>> chunk_text("One. Two. Three.", size=10, overlap=0)
        ['One. Two.', 'Three.']
    """
    return [text[a:b] for a, b in chunk_spans(text, size, overlap, measure)]


def chunk_spans(text: str, size: int, overlap: int, measure: Measure = None) -> list[tuple[int, int]]:
    """The ``(start, end)`` character offsets in ``text`` of the chunks :func:`chunk_text` makes: at most ``size``
    units each (characters, or with ``measure`` the tokens starting inside the chunk), consecutive chunks sharing
    up to ``overlap`` units, no chunk starting or ending in whitespace. ``size=0`` keeps the text whole."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInputError(f"chunk size must be a positive number of {'tokens' if measure else 'characters'} "
                                f"(0: the whole text, one chunk), got {size!r}")
    if size == 0:  # no chunking: the text whole (the model reads what fits and says how many it truncated)
        whole = _strip(text, 0, len(text))
        return [whole] if whole[0] < whole[1] else []
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
        raise InvalidInputError(f"chunk overlap must be >= 0 and smaller than the chunk size {size}, got {overlap!r}")
    starts = list(measure(text)) if measure is not None else None

    def length(a: int, b: int) -> int:
        return b - a if starts is None else bisect_left(starts, b) - bisect_left(starts, a)

    a, b = _strip(text, 0, len(text))
    if a >= b:
        return []
    if length(a, b) <= size:
        return [(a, b)]
    spans: list[tuple[int, int]] = []
    window: list[tuple[int, int]] = []
    total = 0
    for piece in _pieces(text, a, b, size, _SEPARATORS, length, starts):
        n = length(*piece)
        if window and total + n > size:
            spans.append((window[0][0], window[-1][1]))
            while window and (total > overlap or total + n > size):
                total -= length(*window.pop(0))
        window.append(piece)
        total += n
    if window:
        spans.append((window[0][0], window[-1][1]))
    found = [s for s in (_strip(text, x, y) for x, y in spans) if s[0] < s[1]]
    return found if measure is None else _refit(text, found, size, measure)


def _refit(text: str, spans: list[tuple[int, int]], size: int, measure: Callable[[str], Sequence[int]],
           ) -> list[tuple[int, int]]:
    """``spans`` with each chunk tokenized on its own: a chunk cut inside a word can come out a token or two longer
    than its share of the whole text's tokens; such a chunk is cut again, smaller, so none exceeds ``size``."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        n = len(measure(text[a:b]))
        if n <= size:
            out.append((a, b))
            continue
        smaller = max(1, size - (n - size) - 1)
        out.extend((a + x, a + y) for x, y in chunk_spans(text[a:b], smaller, 0, measure))
    return out


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _pieces(text: str, a: int, b: int, size: int, separators: Sequence[str], length: Callable[[int, int], int],
            starts: Sequence[int] | None) -> list[tuple[int, int]]:
    """Consecutive spans covering ``text[a:b]``, each of at most ``size`` units and keeping its trailing
    separator."""
    if length(a, b) <= size:
        return [(a, b)]
    for i, sep in enumerate(separators):
        at = text.find(sep, a, b)
        if at < 0:
            continue
        out: list[tuple[int, int]] = []
        begin = a
        while at >= 0:
            out.extend(_pieces(text, begin, at + len(sep), size, separators[i + 1:], length, starts))
            begin = at + len(sep)
            at = text.find(sep, begin, b)
        if begin < b:
            out.extend(_pieces(text, begin, b, size, separators[i + 1:], length, starts))
        return out
    if starts is None:
        return [(x, min(x + size, b)) for x in range(a, b, size)]
    inside = starts[bisect_right(starts, a):bisect_left(starts, b)]
    cuts = inside[size - 1::size]  # a new piece at every size-th token
    edges = [a, *cuts, b]
    return [(x, y) for x, y in pairwise(edges) if x < y]


def chunk_documents(sources: Sequence[Source], size: int = DEFAULT_CHUNK_SIZE,
                    overlap: int = DEFAULT_CHUNK_OVERLAP, measure: Measure = None,
                    ) -> tuple[list[Document], dict[str, int]]:
    """Chunks of every source as documents with ids ``<key>#<n>``, and the number of chunks per source key."""
    docs: list[Document] = []
    counts: dict[str, int] = {}
    for src in sources:
        chunks = list(source_chunks(src, size, overlap, measure))
        counts[src.key] = len(chunks)
        docs.extend(chunks)
    return docs, counts

def source_chunks(src: Source, size: int, overlap: int, measure: Measure = None) -> Iterator[Document]:
    """The chunks of ``src`` as documents with ids ``<key>#<n>``; each keeps, under :data:`BOOKKEEPING`, its
    number (``chunk``), the key of what it was cut from (``parent``) and its ``start`` and ``end`` character offsets
    in that text."""
    book = src.metadata.get(BOOKKEEPING)
    book = dict(book) if isinstance(book, Mapping) else {}
    for i, (a, b) in enumerate(chunk_spans(src.text, size, overlap, measure)):
        yield Document(src.text[a:b], id=chunk_id(src.key, i), metadata={
            **src.metadata, BOOKKEEPING: {**book, "chunk": i, "parent": src.key, "start": a, "end": b}})

def chunk_id(key: str, n: int) -> str:
    return f"{key}#{n}"

def start_lines(text: str, pieces: Sequence[str]) -> list[int]:
    """The line each chunk of ``text`` starts on (chunks are pieces of it, in order)."""
    lines, pos = [], 0
    for piece in pieces:
        at = text.find(piece, pos)
        at = at if at >= 0 else max(text.find(piece), 0)
        lines.append(text.count("\n", 0, at) + 1)
        pos = at + 1
    return lines
