"""Files to documents: text, Markdown and reStructuredText files, folders of them, and JSONL records, chunked.

Every chunk gets a deterministic id ``<source>#<n>``, so indexing the same files again writes nothing, and a file
that shrank leaves no stale chunks behind (see :func:`stale_chunk_ids`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recallrank.documents import Document
from recallrank.errors import InvalidInputError
from recallrank.index.base import VectorStore, point_id

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
#: characters per chunk: about 200 English tokens, inside all-MiniLM-L6-v2's 256-token window
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 120
_SEPARATORS = ("\n\n", "\n", "。", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")


@dataclass(frozen=True)
class Source:
    """One unit that is chunked: a file, or a JSONL record. ``key`` is its stable identity."""

    key: str
    text: str
    metadata: dict[str, Any]


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


def iter_sources(paths: Sequence[str | Path], text_field: str = "text") -> Iterator[Source]:
    """Text files, folders (searched recursively, hidden entries skipped) and JSONL files, in a stable order.

    A JSONL line is an object with ``text_field``; an ``id`` names it (else its line number does), a
    ``metadata`` object and any other scalar fields become metadata.
    """
    for path in _files(paths):
        if path.suffix.lower() in JSONL_SUFFIXES:
            yield from _jsonl(path, text_field)
        else:
            yield Source(str(path), _read(path), {"source": str(path)})


def _files(paths: Sequence[str | Path]) -> Iterator[Path]:
    if not paths:
        raise InvalidInputError("no sources given; pass files or folders to index")
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"no such file or folder: {raw}")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _supported(p)
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise InvalidInputError(f"folder {raw} holds no {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES)} files")
            yield from (p.resolve() for p in found)
        elif _supported(path):
            yield path.resolve()
        else:
            raise InvalidInputError(f"{raw}: unsupported file type '{path.suffix}'; pass text ("
                                    f"{', '.join(TEXT_SUFFIXES)}) or JSONL ({', '.join(JSONL_SUFFIXES)}) files")


def _supported(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it "
                                "to UTF-8 or leave it out") from exc


def _jsonl(path: Path, text_field: str) -> Iterator[Source]:
    for lineno, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove that line") from exc
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise InvalidInputError(f"{path}:{lineno}: expected an object with a string '{text_field}' field; "
                                    "name the text field with --text-field")
        record_id = record.get("id", record.get("_id"))
        metadata = {k: v for k, v in record.items()
                    if k not in (text_field, "id", "_id", "metadata") and isinstance(v, (str, int, float, bool))}
        if isinstance(record.get("metadata"), dict):
            metadata.update(record["metadata"])
        key = str(record_id) if record_id is not None else f"{path}:{lineno}"
        metadata.update({"source": str(path)} | ({"doc_id": str(record_id)} if record_id is not None else {}))
        yield Source(key, record[text_field], metadata)


def chunk_documents(sources: Sequence[Source], size: int = DEFAULT_CHUNK_SIZE,
                    overlap: int = DEFAULT_CHUNK_OVERLAP) -> tuple[list[Document], dict[str, int]]:
    """Chunks of every source as documents with ids ``<key>#<n>``, and the number of chunks per source key."""
    docs: list[Document] = []
    counts: dict[str, int] = {}
    for src in sources:
        chunks = chunk_text(src.text, size, overlap)
        counts[src.key] = len(chunks)
        docs.extend(Document(c, metadata={**src.metadata, "chunk": i}, id=chunk_id(src.key, i))
                    for i, c in enumerate(chunks))
    return docs, counts


def chunk_id(key: str, n: int) -> str:
    return f"{key}#{n}"


def stale_chunk_ids(store: VectorStore, counts: dict[str, int]) -> list[str]:
    """Point ids of chunks stored for these sources beyond their current chunk count (a file that shrank).

    A source's chunks are always stored as ``#0 .. #n-1``, so probing upward from ``#n`` finds them all.
    """
    stale: list[str] = []
    frontier = dict(counts)
    while frontier:
        probe = {point_id(Document(".", id=chunk_id(key, n))): key for key, n in frontier.items()}
        found = store.existing_hashes(list(probe))
        stale.extend(found)
        frontier = {probe[pid]: frontier[probe[pid]] + 1 for pid in found}
    return stale
