"""Chunking: a source's text cut into overlapping chunks with deterministic ids ``<source key>#<n>``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recallrank.documents import Document
from recallrank.errors import InvalidInputError

DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 120
_SEPARATORS = ("\n\n", "\n", "。", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")
#: the one metadata key under which recallrank keeps its own bookkeeping (source file, record id, chunk number)
BOOKKEEPING = "_recallrank"


@dataclass(frozen=True)
class Source:
    """One unit that is chunked: a file, or a JSONL record. ``key`` is its stable identity; ``line`` the line a
    JSONL record is on."""

    key: str
    text: str
    metadata: dict[str, Any]
    line: int | None = None

def chunk_text(text: str, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[str]:
    """Split ``text`` into chunks of at most ``size`` characters, cut at paragraph, line, sentence, then word
    boundaries, each starting with up to ``overlap`` characters of the previous one.

    Example:
        >>> chunk_text("One. Two. Three.", size=10, overlap=0)
        ['One.', 'Two.', 'Three.']
    """
    if not isinstance(size, int) or size < 1:
        raise InvalidInputError(f"chunk size must be a positive number of characters, got {size!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise InvalidInputError(f"chunk overlap must be >= 0 and smaller than the chunk size {size}, got {overlap!r}")
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks: list[str] = []
    window: list[str] = []
    length = 0
    for piece in _pieces(text, size, _SEPARATORS):
        if window and length + len(piece) > size:
            chunks.append("".join(window).strip())
            while window and (length > overlap or length + len(piece) > size):
                length -= len(window.pop(0))
        window.append(piece)
        length += len(piece)
    if window:
        chunks.append("".join(window).strip())
    return [c for c in chunks if c]

def _pieces(text: str, size: int, separators: Sequence[str]) -> list[str]:
    """Pieces of at most ``size`` characters, each keeping its trailing separator."""
    if len(text) <= size:
        return [text]
    for i, sep in enumerate(separators):
        if sep in text:
            parts = text.split(sep)
            out: list[str] = []
            for part in [p + sep for p in parts[:-1]] + [parts[-1]]:
                if part:
                    out.extend(_pieces(part, size, separators[i + 1:]))
            return out
    return [text[i:i + size] for i in range(0, len(text), size)]

def chunk_documents(sources: Sequence[Source], size: int = DEFAULT_CHUNK_SIZE,
                    overlap: int = DEFAULT_CHUNK_OVERLAP) -> tuple[list[Document], dict[str, int]]:
    """Chunks of every source as documents with ids ``<key>#<n>``, and the number of chunks per source key."""
    docs: list[Document] = []
    counts: dict[str, int] = {}
    for src in sources:
        chunks = list(source_chunks(src, size, overlap))
        counts[src.key] = len(chunks)
        docs.extend(chunks)
    return docs, counts

def source_chunks(src: Source, size: int, overlap: int) -> Iterator[Document]:
    book = src.metadata.get(BOOKKEEPING)
    book = dict(book) if isinstance(book, Mapping) else {}
    for i, c in enumerate(chunk_text(src.text, size, overlap)):
        yield Document(c, metadata={**src.metadata, BOOKKEEPING: {**book, "chunk": i}}, id=chunk_id(src.key, i))

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
