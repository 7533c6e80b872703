"""Files to documents: text, Markdown and reStructuredText files, folders of them, and JSONL records, chunked.

Every chunk gets a deterministic id ``<source>#<n>`` (a JSONL record's source is ``<file>::<id>``, so ids are scoped
to their file), so indexing the same files again writes nothing, and chunks of files that shrank, were emptied or
were deleted are found by :func:`stale_ids`.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    """What :func:`read_sources` (or :func:`scan_sources`) found: the sources (``[]`` from a scan, which keeps no
    text), the roots they were searched under, the files read (even empty ones) in reading order, the files or
    folders skipped, each with the reason, and (from a scan) how many chunks the sources make."""

    sources: list[Source]
    roots: list[Path]
    files: set[str]
    skipped: list[tuple[str, str]]
    order: list[str] = field(default_factory=list)
    chunks: int = 0
    text_field: str = "text"
    count: int = 0  # sources (files and JSONL records) read


def read_sources(paths: Sequence[str | Path], text_field: str = "text", skip_errors: bool = False) -> Sources:
    """Read text files, folders (searched recursively, hidden entries skipped) and JSONL files, in a stable order.

    A JSONL line is an object with ``text_field``; an ``id`` names it within its file (else its line number
    does), a ``metadata`` object and any other scalar fields become metadata. A file or folder that cannot be read
    (permissions, encoding, a malformed line, an id used twice) is an error naming it, raised before anything is
    indexed; with ``skip_errors`` it is skipped and listed in :attr:`Sources.skipped` instead.
    """
    return _scan(paths, text_field, skip_errors, keep=True)


def scan_sources(paths: Sequence[str | Path], text_field: str = "text", skip_errors: bool = False,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP) -> Sources:
    """Check every source as :func:`read_sources` does and count its chunks, keeping no text: the first pass of
    a streaming ingest (:func:`stream_chunks` is the second), so bad input is reported before anything is
    written and memory does not grow with the collection."""
    return _scan(paths, text_field, skip_errors, keep=False, chunking=(chunk_size, chunk_overlap))


def stream_chunks(found: Sources, size: int = DEFAULT_CHUNK_SIZE,
                  overlap: int = DEFAULT_CHUNK_OVERLAP) -> Iterator[Document]:
    """The chunks of the files a scan read, file by file and record by record (one source in memory at a time),
    as :func:`chunk_documents` makes them."""
    for file in found.order:
        for src in _file_sources(Path(file), found.text_field):
            yield from _chunks(src, size, overlap)


def _scan(paths: Sequence[str | Path], text_field: str, skip_errors: bool, keep: bool,
          chunking: tuple[int, int] | None = None) -> Sources:
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
    order: list[str] = []
    chunks = count = 0
    for file in dict.fromkeys(files):  # a file named twice (or under two roots) is read once
        try:
            kept: list[Source] = []
            n = 0
            in_file = 0
            for src in _file_sources(file, text_field):
                in_file += 1
                if keep:
                    kept.append(src)
                if chunking is not None:
                    n += len(chunk_text(src.text, *chunking))
            sources.extend(kept)
            chunks += n
            count += in_file
            order.append(str(file))
        except InvalidInputError as exc:
            skipped.append((str(file), str(exc)))
    if skipped and not skip_errors:
        shown = "; ".join(reason for _, reason in skipped[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise InvalidInputError(f"{len(skipped)} source(s) cannot be read: {shown}{more}. Nothing was indexed: fix "
                                "them, or pass --skip-errors to index the rest")
    return Sources(sources, roots, set(order), skipped, order, chunks, text_field, count)


def _file_sources(file: Path, text_field: str) -> Iterator[Source]:
    if file.suffix.lower() in JSONL_SUFFIXES:
        yield from _jsonl_iter(file, text_field)
    else:
        yield Source(str(file), _read(file), {"source": str(file)})


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
    return list(_jsonl_iter(path, text_field))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file, read line by line: a file of any size takes one line's memory."""
    lineno = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                yield lineno, line
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason} near line {lineno + 1}); convert it "
                                "to UTF-8 or leave it out") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from exc


def _jsonl_iter(path: Path, text_field: str) -> Iterator[Source]:
    """The records of a JSONL file, line by line. Ids are checked for uniqueness in 12 bytes a record (a 64-bit
    hash and the line number; the lines are re-read only when two hashes match), and a repeat is raised after the
    last record: consumers validate a whole file (:func:`scan_sources`) before writing any of it."""
    hashes, linenos = array("Q"), array("L")
    for lineno, line in _lines(path):
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
            hashes.append(IdSet._hash(rid))
            linenos.append(lineno)
        # ids are scoped to their file: the same id in two files names two records
        key = f"{path}::{record_id}" if record_id is not None else f"{path}:{lineno}"
        metadata.update({"source": str(path)} | ({"doc_id": str(record_id)} if record_id is not None else {}))
        yield Source(key, record[text_field], check_metadata(metadata, where))
    _check_unique_ids(path, hashes, linenos)


def _check_unique_ids(path: Path, hashes: array[int], linenos: array[int]) -> None:
    if len(hashes) < 2:
        return
    h = np.frombuffer(hashes, dtype=np.uint64)
    order = np.argsort(h, kind="stable")
    same = np.nonzero(h[order][1:] == h[order][:-1])[0]
    if not same.size:
        return
    wanted = {int(linenos[i]) for k in same for i in (order[k], order[k + 1])}
    ids = {n: str(json.loads(line).get("id", json.loads(line).get("_id"))) for n, line in _lines(path)
           if n in wanted}
    repeats = [(int(linenos[order[k]]), int(linenos[order[k + 1]])) for k in same
               if ids[int(linenos[order[k]])] == ids[int(linenos[order[k + 1]])]]
    if repeats:
        first, second = min(repeats, key=lambda pair: pair[1])
        raise InvalidInputError(f"{path}: id {ids[second]!r} is used on lines {first} and {second}; ids must be "
                                "unique within a file")


def chunk_documents(sources: Sequence[Source], size: int = DEFAULT_CHUNK_SIZE,
                    overlap: int = DEFAULT_CHUNK_OVERLAP) -> tuple[list[Document], dict[str, int]]:
    """Chunks of every source as documents with ids ``<key>#<n>``, and the number of chunks per source key."""
    docs: list[Document] = []
    counts: dict[str, int] = {}
    for src in sources:
        chunks = list(_chunks(src, size, overlap))
        counts[src.key] = len(chunks)
        docs.extend(chunks)
    return docs, counts


def _chunks(src: Source, size: int, overlap: int) -> Iterator[Document]:
    for i, c in enumerate(chunk_text(src.text, size, overlap)):
        yield Document(c, metadata={**src.metadata, "chunk": i}, id=chunk_id(src.key, i))


class IdSet:
    """A set of ids kept as sorted 64-bit hashes (8 bytes an id, against ~100 for a ``set`` of str): the chunk ids
    a streaming ingest wrote, for :func:`stale_ids`. A hash collision could only keep a stale chunk (about one
    chance in 10^7 at 1M ids), never remove a current one."""

    def __init__(self) -> None:
        self._new = array("Q")
        self._sorted = np.zeros(0, dtype=np.uint64)

    @staticmethod
    def _hash(key: str) -> int:
        return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")

    def add(self, key: str) -> None:
        self._new.append(self._hash(key))

    def __len__(self) -> int:
        self._merge()
        return len(self._sorted)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        self._merge()
        h = np.uint64(self._hash(key))
        i = int(np.searchsorted(self._sorted, h))
        return i < len(self._sorted) and self._sorted[i] == h

    def _merge(self) -> None:
        if len(self._new):
            self._sorted = np.unique(np.concatenate([self._sorted, np.frombuffer(self._new, dtype=np.uint64)]))
            self._new = array("Q")


def chunk_id(key: str, n: int) -> str:
    return f"{key}#{n}"


def stale_ids(store: VectorStore, found: Sources, current: Container[str], prune: bool = True) -> list[str]:
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
