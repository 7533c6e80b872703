"""Files to documents: text, Markdown and reStructuredText files, folders of them, and JSONL records, chunked.

Every chunk gets a deterministic id ``<source>#<n>`` (a JSONL record's source is ``<file>::<id>``, so ids are scoped
to their file), so indexing the same files again writes nothing, and chunks of files that shrank, were emptied or
were deleted are found by :func:`stale_ids`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recallrank.documents import Document, check_metadata, check_unicode
from recallrank.errors import InvalidInputError
from recallrank.index.base import VectorStore

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


@dataclass
class Sources:
    """What :func:`read_sources` found: the sources, the roots they were searched under, the files read (even
    empty ones) and the files or folders skipped, each with the reason."""

    sources: list[Source]
    roots: list[Path]
    files: set[str]
    skipped: list[tuple[str, str]]


def read_sources(paths: Sequence[str | Path], text_field: str = "text", skip_errors: bool = False) -> Sources:
    """Read text files, folders (searched recursively, hidden entries skipped) and JSONL files, in a stable order.

    A JSONL line is an object with ``text_field``; an ``id`` names it within its file (else its line number
    does), a ``metadata`` object and any other scalar fields become metadata. A file or folder that cannot be read
    (permissions, encoding, a malformed line, an id used twice) is an error naming it, raised before anything is
    indexed; with ``skip_errors`` it is skipped and listed in :attr:`Sources.skipped` instead.
    """
    if not paths:
        raise InvalidInputError("no sources given; pass files or folders to index")
    roots: list[Path] = []
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"no such file or folder: {raw}")
        roots.append(path.resolve())
        if path.is_dir():
            found = _walk(path.resolve(), skipped)
            if not found and not skipped:
                raise InvalidInputError(f"folder {raw} holds no {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES)} files")
            files.extend(found)
        elif _supported(path):
            files.append(path.resolve())
        else:
            raise InvalidInputError(f"{raw}: unsupported file type '{path.suffix}'; pass text ("
                                    f"{', '.join(TEXT_SUFFIXES)}) or JSONL ({', '.join(JSONL_SUFFIXES)}) files")
    sources: list[Source] = []
    read: set[str] = set()
    for file in dict.fromkeys(files):  # a file named twice (or under two roots) is read once
        try:
            sources.extend(_jsonl(file, text_field) if file.suffix.lower() in JSONL_SUFFIXES
                           else [Source(str(file), _read(file), {"source": str(file)})])
            read.add(str(file))
        except InvalidInputError as exc:
            skipped.append((str(file), str(exc)))
    if skipped and not skip_errors:
        shown = "; ".join(reason for _, reason in skipped[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise InvalidInputError(f"{len(skipped)} source(s) cannot be read: {shown}{more}. Nothing was indexed: fix "
                                "them, or pass --skip-errors to index the rest")
    return Sources(sources, roots, read, skipped)


def iter_sources(paths: Sequence[str | Path], text_field: str = "text") -> Iterator[Source]:
    """The sources of :func:`read_sources` (errors raised)."""
    yield from read_sources(paths, text_field).sources


def _walk(root: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    def unreadable(exc: OSError) -> None:
        skipped.append((str(exc.filename), f"{exc.filename}: cannot be read ({exc.strerror})"))

    found: list[Path] = []
    for folder, dirs, names in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder, n) for n in names if not n.startswith(".") and _supported(Path(n))
                     and Path(folder, n).is_file())
    return sorted(found)


def _supported(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it "
                                "to UTF-8 or leave it out") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from exc
    return text


def _jsonl(path: Path, text_field: str) -> list[Source]:
    out: list[Source] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
            raise InvalidInputError(f"{where}: not valid JSON ({reason}); fix or remove that line") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise InvalidInputError(f"{where}: expected an object with a string '{text_field}' field; "
                                    "name the text field with --text-field")
        check_unicode(record[text_field], f"{where}: '{text_field}'")
        record_id = record.get("id", record.get("_id"))
        if record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, (str, int))):
            raise InvalidInputError(f"{where}: id {record_id!r:.40} must be a string or an integer")
        metadata = {k: v for k, v in record.items()
                    if k not in (text_field, "id", "_id", "metadata") and isinstance(v, (str, int, float, bool))}
        if isinstance(record.get("metadata"), dict):
            metadata.update(record["metadata"])
        if record_id is not None:
            rid = check_unicode(str(record_id), f"{where}: id")
            if rid in seen:
                raise InvalidInputError(f"{path}: id {rid!r} is used on lines {seen[rid]} and {lineno}; ids must be "
                                        "unique within a file")
            seen[rid] = lineno
        # ids are scoped to their file: the same id in two files names two records
        key = f"{path}::{record_id}" if record_id is not None else f"{path}:{lineno}"
        metadata.update({"source": str(path)} | ({"doc_id": str(record_id)} if record_id is not None else {}))
        out.append(Source(key, record[text_field], check_metadata(metadata, where)))
    return out


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


def stale_ids(store: VectorStore, found: Sources, current: set[str], prune: bool = True) -> list[str]:
    """Point ids of stored chunks that the sources no longer hold.

    Always: chunks of a file read this run that are not among ``current`` (document ids), e.g. a file that shrank
    or was emptied, or a JSONL record that was removed. With ``prune``: chunks of files under the roots indexed
    that no longer exist (deleted or renamed). Files skipped for errors keep their chunks. Only chunks written by
    :func:`chunk_documents` (id ``...#<n>`` with metadata ``chunk = n``) are considered; documents added any other
    way that merely name a ``source`` are left alone.
    """
    skipped = [Path(path) for path, _ in found.skipped]
    stale = []
    for pid, payload in store.scroll(["metadata.source", "metadata.chunk", "doc_id"]):
        meta, doc_id = payload.get("metadata") or {}, payload.get("doc_id")
        source, chunk = meta.get("source"), meta.get("chunk")
        if not isinstance(source, str) or doc_id in current:
            continue
        if not (isinstance(chunk, int) and isinstance(doc_id, str) and doc_id.endswith(f"#{chunk}")):
            continue  # not a chunk `recallrank index` wrote (e.g. added through the API): never ours to remove
        if source in found.files or (prune and _under(Path(source), found.roots)
                                     and not _under(Path(source), skipped)):
            stale.append(pid)
    return stale


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)
