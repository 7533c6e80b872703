"""Files to documents: text, Markdown and reStructuredText files, folders of them, and JSONL records, chunked.

Every chunk gets a deterministic id ``<source>#<n>`` (a JSONL record's source is ``<file>::<id>``, or
``<file>:<line>`` without an id, so ids are scoped to their file), so indexing the same files again writes nothing,
and chunks of files that shrank, were emptied or were deleted are found by :func:`stale_ids`.

Metadata. A JSONL record's fields other than the text field and its id (``id``, else ``_id``) are the chunk's
metadata, kept as they are: strings, numbers, booleans, nulls, lists and objects, under the same rules as
:class:`~recallrank.documents.Document` metadata (:func:`~recallrank.documents.check_metadata`); a record that
breaks them is refused naming its file and line. A ``"metadata"`` object is merged with the other fields (a key
in both is an error: keep one); ``"metadata": null`` adds nothing; any other ``"metadata"`` value is refused.
recallrank's own bookkeeping lives under the one key :data:`BOOKKEEPING` (``"_recallrank"``), which a record may
not use: ``{"source": <file>, "chunk": <n>}``, plus ``"doc_id"`` (the record's id) for a JSONL record with one.
A text file's chunks carry that key alone. Chunks written before this layout (``source``/``chunk``/``doc_id`` at
the top of the metadata) keep their point ids, are still recognised by :func:`stale_ids`, and are rewritten in
the new layout the next time their file is indexed.

Folders are searched recursively in a stable order. Hidden entries are left out; symbolic links to files and
folders are followed, each real folder and file read once (under its own path when it is also reached directly);
links that lead nowhere, loops and duplicates are left out. Every path left out is listed with the reason in
:attr:`Sources.ignored`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from array import array
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import Document, check_metadata, check_unicode
from recallrank.errors import InvalidInputError
from recallrank.index.base import VectorStore
from recallrank.models._batching import no_words

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
#: characters per chunk: about 200 English tokens, inside all-MiniLM-L6-v2's 256-token window
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 120
_SEPARATORS = ("\n\n", "\n", "。", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")
#: the metadata key under which recallrank keeps a chunk's source file, record id and chunk number
BOOKKEEPING = "_recallrank"
_JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "an array"}


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


@dataclass
class Sources:
    """What :func:`read_sources` (or :func:`scan_sources`) found: the sources (``[]`` from a scan, which keeps no
    text), the roots they were searched under, the files read (even empty ones) in reading order, the files,
    folders or chunks skipped for errors (with ``skip_errors``), each with the reason, and (from a scan) how many
    chunks the sources make.

    ``ignored`` lists the paths left out on purpose while searching folders, each with the reason: ``hidden``,
    ``unsupported file type``, ``dangling symlink``, ``symlink loop``, ``duplicate`` (a second path to a file or
    folder already read) or ``not a regular file``. ``dropped`` holds the ids of chunks a scan skipped (with
    ``skip_errors``) because the model finds no word in them; :func:`stream_chunks` leaves them out.
    """

    sources: list[Source]
    roots: list[Path]
    files: set[str]
    skipped: list[tuple[str, str]]
    order: list[str] = field(default_factory=list)
    chunks: int = 0
    text_field: str = "text"
    count: int = 0  # sources (files and JSONL records) read
    ignored: list[tuple[str, str]] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)


def read_sources(paths: Sequence[str | Path], text_field: str = "text", skip_errors: bool = False) -> Sources:
    """Read text files, folders (searched recursively, hidden entries skipped, symlinks followed: see the module
    docstring) and JSONL files, in a stable order.

    A JSONL line is an object with ``text_field``; an ``id`` names it within its file (else its line number
    does), and its other fields become metadata (see the module docstring). A file or folder that cannot be read
    (permissions, encoding, a malformed line, metadata that cannot be stored, an id used twice) is an error naming
    it, raised before anything is indexed; with ``skip_errors`` it is skipped and listed in :attr:`Sources.skipped`
    instead. Paths left out on purpose are listed in :attr:`Sources.ignored`.
    """
    return _scan(paths, text_field, skip_errors, keep=True)


def scan_sources(paths: Sequence[str | Path], text_field: str = "text", skip_errors: bool = False,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
                 unreadable: Callable[[Sequence[str]], Sequence[int]] | None = None) -> Sources:
    """Check every source as :func:`read_sources` does and count its chunks, keeping no text: the first pass of
    a streaming ingest (:func:`stream_chunks` is the second), so bad input is reported before anything is
    written and memory does not grow with the collection.

    ``unreadable`` (e.g. :meth:`TwoStageRetriever.unreadable <recallrank.TwoStageRetriever.unreadable>`) gives the
    positions of the chunks in which the models find no word; each is an error naming its file and line, or with
    ``skip_errors`` a chunk left out and listed in :attr:`Sources.skipped`.
    """
    return _scan(paths, text_field, skip_errors, keep=False, chunking=(chunk_size, chunk_overlap),
                 unreadable=unreadable)


def stream_chunks(found: Sources, size: int = DEFAULT_CHUNK_SIZE,
                  overlap: int = DEFAULT_CHUNK_OVERLAP) -> Iterator[Document]:
    """The chunks of the files a scan read, file by file and record by record (one source in memory at a time),
    as :func:`chunk_documents` makes them."""
    for file in found.order:
        for src in _file_sources(Path(file), found.text_field):
            for doc in _chunks(src, size, overlap):
                if doc.id not in found.dropped:
                    yield doc


def _scan(paths: Sequence[str | Path], text_field: str, skip_errors: bool, keep: bool,
          chunking: tuple[int, int] | None = None,
          unreadable: Callable[[Sequence[str]], Sequence[int]] | None = None) -> Sources:
    if not paths:
        raise InvalidInputError("no sources given; pass files or folders to index")
    roots: list[Path] = []
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    search = _Search(skipped, ignored)
    buckets: list[tuple[str, Path, list[Path]]] = []  # (as given, root, files found under it)
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"no such file or folder: {raw}")
        roots.append(path.resolve())
        if path.is_dir():
            buckets.append((str(raw), path.resolve(), []))
            search.tree(path.resolve(), buckets[-1][2])
        elif _supported(path):
            buckets.append((str(raw), path.resolve(), [path.resolve()]))
        else:
            raise InvalidInputError(f"{raw}: unsupported file type '{path.suffix}'; pass text ("
                                    f"{', '.join(TEXT_SUFFIXES)}) or JSONL ({', '.join(JSONL_SUFFIXES)}) files")
    search.follow_links()  # after every real tree: a folder reached both ways is read under its own path
    for raw, root, found in buckets:
        if root.is_dir() and not skipped and not any(_under(f, [root]) for _, _, other in buckets for f in other):
            raise InvalidInputError(f"folder {raw} holds no {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES)} files"
                                    + _left_out_note([(p, r) for p, r in ignored if _under(Path(p), [root])]))
        files.extend(sorted(found))
    sources: list[Source] = []
    order: list[str] = []
    dropped: set[str] = set()
    chunks = count = 0
    for file in _once(files, ignored):  # a file named twice, or reached through a symlink too, is read once
        try:
            kept: list[Source] = []
            bad: list[tuple[str, str]] = []  # (chunk id, reason) of chunks the models find no word in
            pending: list[tuple[Source, list[str]]] = []  # chunks to check, a batch at a time
            n = 0
            in_file = 0
            for src in _file_sources(file, text_field):
                in_file += 1
                if keep:
                    kept.append(src)
                if chunking is not None:
                    pieces = chunk_text(src.text, *chunking)
                    n += len(pieces)
                    if unreadable is not None and pieces:
                        pending.append((src, pieces))
                        if sum(len(p) for _, p in pending) >= 512:
                            bad.extend(_without_words(file, pending, unreadable))
                            pending = []
            if pending and unreadable is not None:
                bad.extend(_without_words(file, pending, unreadable))
            sources.extend(kept)
            chunks += n - len(bad)
            count += in_file
            order.append(str(file))
            dropped.update(cid for cid, _ in bad)
            skipped.extend((str(file), reason) for _, reason in bad)
        except InvalidInputError as exc:
            skipped.append((str(file), str(exc)))
    if skipped and not skip_errors:
        shown = "; ".join(reason for _, reason in skipped[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise InvalidInputError(f"{len(skipped)} source(s) cannot be read: {shown}{more}. Nothing was indexed: fix "
                                "them, or pass --skip-errors to index the rest")
    return Sources(sources, roots, set(order), skipped, order, chunks, text_field, count, sorted(ignored), dropped)


def _left_out_note(ignored: Sequence[tuple[str, str]]) -> str:
    if not ignored:
        return ""
    shown = ", ".join(f"{Path(p).name} ({reason})" for p, reason in ignored[:3])
    return f" (left out: {shown}{' ...' if len(ignored) > 3 else ''})"


def _once(files: Sequence[Path], ignored: list[tuple[str, str]]) -> list[Path]:
    """Each real file once, in order: under its own path where it is also reached through a symlink; the other
    paths are listed in ``ignored``."""
    chosen: dict[str, Path] = {}
    for f in files:
        real = os.path.realpath(f)
        first = chosen.setdefault(real, f)
        if first == f:
            continue
        kept, other = (f, first) if str(f) == real else (first, f)
        chosen[real] = kept
        ignored.append((str(other), f"duplicate (the same file as {kept})"))
    return list(chosen.values())


def _without_words(file: Path, pending: Sequence[tuple[Source, list[str]]],
                   unreadable: Callable[[Sequence[str]], Sequence[int]]) -> list[tuple[str, str]]:
    """(chunk id, why) of the chunks of ``pending`` sources in which the models find no word, naming file and line."""
    where = [(src, pieces, i) for src, pieces in pending for i in range(len(pieces))]
    out = []
    for k in unreadable([piece for _, pieces in pending for piece in pieces]):
        src, pieces, i = where[k]
        line = src.line if src.line is not None else _start_lines(src.text, pieces)[i]
        what = "the text" if len(pieces) == 1 else f"chunk {i + 1} of {len(pieces)}"
        out.append((chunk_id(src.key, i), f"{file}:{line}: {no_words(what, pieces[i])}"))
    return out


def _start_lines(text: str, pieces: Sequence[str]) -> list[int]:
    """The line each chunk of ``text`` starts on (chunks are pieces of it, in order)."""
    lines, pos = [], 0
    for piece in pieces:
        at = text.find(piece, pos)
        at = at if at >= 0 else max(text.find(piece), 0)
        lines.append(text.count("\n", 0, at) + 1)
        pos = at + 1
    return lines


def _file_sources(file: Path, text_field: str) -> Iterator[Source]:
    if file.suffix.lower() in JSONL_SUFFIXES:
        yield from _jsonl_iter(file, text_field)
    else:
        yield Source(str(file), _read(file), {BOOKKEEPING: {"source": str(file)}})


def iter_sources(paths: Sequence[str | Path], text_field: str = "text") -> Iterator[Source]:
    """The sources of :func:`read_sources` (errors raised)."""
    yield from read_sources(paths, text_field).sources


class _Search:
    """Folders searched for supported files. Hidden entries are left out; symlinks to files are read like files,
    symlinks to folders are followed after every real tree has been searched; each real folder is searched once.
    Every path left out is listed in ``ignored`` with the reason, every folder that cannot be listed in
    ``skipped``."""

    def __init__(self, skipped: list[tuple[str, str]], ignored: list[tuple[str, str]]) -> None:
        self.skipped, self.ignored = skipped, ignored
        self.seen: dict[str, str] = {}  # real path of every folder searched -> the path it was searched as
        self.links: list[tuple[Path, list[Path]]] = []  # symlinked folders to follow, and where their files go

    def tree(self, top: Path, found: list[Path]) -> None:
        if os.path.realpath(top) in self.seen:
            return  # a folder named twice, or inside a folder named before: its files are found once
        self.seen[os.path.realpath(top)] = str(top)
        for folder, dirs, names in os.walk(top, onerror=self._unreadable):
            keep = []
            for d in sorted(dirs):
                path = Path(folder, d)
                real = os.path.realpath(path)
                if d.startswith("."):
                    self.ignored.append((str(path), "hidden"))
                elif path.is_symlink():
                    self.links.append((path, found))
                elif real not in self.seen:
                    self.seen[real] = str(path)
                    keep.append(d)
                elif self.seen[real] != str(path):  # else named as a folder of its own before: found once
                    self.ignored.append((str(path), f"duplicate (the same folder as {self.seen[real]})"))
            dirs[:] = keep
            for n in sorted(names):
                path = Path(folder, n)
                reason = "hidden" if n.startswith(".") else _link_problem(path) or _file_problem(path)
                if reason:
                    self.ignored.append((str(path), reason))
                else:
                    found.append(path)

    def follow_links(self) -> None:
        while self.links:
            link, found = self.links.pop(0)
            reason = _link_problem(link)
            if reason is None:
                target, here = os.path.realpath(link), os.path.realpath(link.parent)
                if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
                    reason = f"symlink loop (it points to {target}, a folder that holds it)"
                elif target in self.seen:
                    reason = f"duplicate (the same folder as {self.seen[target]})"
            if reason is not None:
                self.ignored.append((str(link), reason))
            else:
                self.tree(link, found)

    def _unreadable(self, exc: OSError) -> None:
        self.skipped.append((str(exc.filename), f"{exc.filename}: cannot be read ({exc.strerror})"))


def _link_problem(path: Path) -> str | None:
    """Why a symlink cannot be followed (``None`` for a path that is no symlink, or one that can)."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"dangling symlink (its target {os.readlink(path)} does not exist)"
    except RuntimeError:  # Python < 3.13 reports a chain of links that leads back to itself so
        return "symlink loop (it leads back to itself)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (it leads back to itself)"
        return f"symlink that cannot be followed ({exc.strerror})"
    return None


def _file_problem(path: Path) -> str | None:
    if not _supported(path):
        return f"unsupported file type ({path.suffix or 'no extension'})"
    if not path.is_file():
        return "not a regular file"
    return None


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
        id_field = "id" if "id" in record else "_id" if "_id" in record else None
        record_id = record[id_field] if id_field is not None else None
        if record_id is not None and (isinstance(record_id, bool) or not isinstance(record_id, (str, int))):
            raise InvalidInputError(f"{where}: id {record_id!r:.40} must be a string or an integer")
        metadata = _record_metadata(record, text_field, id_field, where)
        if record_id is not None:
            rid = check_unicode(str(record_id), f"{where}: id")
            hashes.append(IdSet._hash(rid))
            linenos.append(lineno)
        # ids are scoped to their file: the same id in two files names two records
        key = f"{path}::{record_id}" if record_id is not None else f"{path}:{lineno}"
        metadata[BOOKKEEPING] = {"source": str(path)} | ({"doc_id": str(record_id)} if record_id is not None else {})
        yield Source(key, record[text_field], check_metadata(metadata, where), lineno)
    _check_unique_ids(path, hashes, linenos)


def _record_metadata(record: dict[str, Any], text_field: str, id_field: str | None, where: str) -> dict[str, Any]:
    """A record's fields but its text and id, merged with its ``"metadata"`` object (see the module docstring)."""
    fields = {k: v for k, v in record.items() if k not in (text_field, id_field, "metadata")}
    nested = record.get("metadata") if text_field != "metadata" and id_field != "metadata" else None
    if isinstance(nested, dict):
        both = [k for k in nested if k in fields]
        if both:
            raise InvalidInputError(f"{where}: {both[0]!r} is both a field of the record and a key of its 'metadata' "
                                    "object, which are merged into one; keep one of the two")
        fields.update(nested)
    elif nested is not None:
        raise InvalidInputError(f"{where}: 'metadata' is {_JSON_TYPES.get(type(nested), type(nested).__name__)}, but "
                                "it must be an object (its keys are merged with the record's other fields) or null; "
                                "rename the field to store it as a value")
    if BOOKKEEPING in fields:
        raise InvalidInputError(f"{where}: the field {BOOKKEEPING!r} is reserved for recallrank's own bookkeeping "
                                "(source file, record id, chunk number); rename it")
    return fields


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
    book = src.metadata.get(BOOKKEEPING)
    book = dict(book) if isinstance(book, Mapping) else {}
    for i, c in enumerate(chunk_text(src.text, size, overlap)):
        yield Document(c, metadata={**src.metadata, BOOKKEEPING: {**book, "chunk": i}}, id=chunk_id(src.key, i))


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
    :func:`chunk_documents` (id ``...#<n>`` with bookkeeping ``chunk = n``: under :data:`BOOKKEEPING`, or at the top
    of the metadata for chunks written before that key existed) are considered; documents added any other way that
    merely name a ``source`` are left alone.
    """
    skipped = [Path(path) for path, _ in found.skipped]
    stale = []
    for pid, payload in store.scroll(["metadata.source", "metadata.chunk", f"metadata.{BOOKKEEPING}", "doc_id"]):
        meta, doc_id = payload.get("metadata") or {}, payload.get("doc_id")
        book = meta.get(BOOKKEEPING)
        book = book if isinstance(book, Mapping) else meta  # chunks written before the bookkeeping key
        source, chunk = book.get("source"), book.get("chunk")
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
