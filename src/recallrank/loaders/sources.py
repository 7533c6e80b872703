"""Reading sources: files, folders and JSONL files checked whole (and their chunks counted) before anything is
indexed, then streamed chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recallrank.documents import Document
from recallrank.errors import InvalidInputError
from recallrank.loaders.chunks import (
    BOOKKEEPING,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    Measure,
    Source,
    chunk_id,
    chunk_text,
    source_chunks,
    start_lines,
)
from recallrank.loaders.files import JSONL_SUFFIXES, TEXT_SUFFIXES, FolderSearch, once, read_text, supported, under
from recallrank.loaders.jsonl import jsonl_sources
from recallrank.models._batching import no_words


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
    """Read text files, folders (searched recursively, hidden entries skipped, symlinks followed: see
    docstring) and JSONL files, in a stable order.

    A JSONL line is an object with ``text_field``; an ``id`` names it within its file (else its line number
    does), and its other fields become metadata (see :mod:`recallrank.loaders`). A file or folder that cannot be read
    (permissions, encoding, a malformed line, metadata that cannot be stored, an id used twice) is an error naming
    it, raised before anything is indexed; with ``skip_errors`` it is skipped and listed in :attr:`Sources.skipped`
    instead. Paths left out on purpose are listed in :attr:`Sources.ignored`.
    """
    return _scan(paths, text_field, skip_errors, keep=True)

def scan_sources(paths: Sequence[str | Path], text_field: str = "text", skip_errors: bool = False,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
                 unreadable: Callable[[Sequence[str]], Sequence[int]] | None = None,
                 measure: Measure = None) -> Sources:
    """Check every source as :func:`read_sources` does and count its chunks, keeping no text: the first pass of
    a streaming ingest (:func:`stream_chunks` is the second), so bad input is reported before anything is
    written and memory does not grow with the collection.

    ``unreadable`` (e.g. :meth:`TwoStageRetriever.unreadable <recallrank.TwoStageRetriever.unreadable>`) gives the
    positions of the chunks in which the models find no word; each is an error naming its file and line, or with
    ``skip_errors`` a chunk left out and listed in :attr:`Sources.skipped`.
    """
    return _scan(paths, text_field, skip_errors, keep=False, chunking=(chunk_size, chunk_overlap, measure),
                 unreadable=unreadable)

def stream_chunks(found: Sources, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP,
                  measure: Measure = None) -> Iterator[Document]:
    """The chunks of the files a scan read, file by file and record by record (one source in memory at a time),
    as :func:`chunk_documents` makes them."""
    for file in found.order:
        for src in file_sources(Path(file), found.text_field):
            for doc in source_chunks(src, size, overlap, measure):
                if doc.id not in found.dropped:
                    yield doc

def sample_texts(paths: Sequence[str | Path], text_field: str = "text", n: int = 64) -> list[str]:
    """The texts of the first ``n`` sources under ``paths`` (files and folders searched as a scan searches them;
    unreadable ones passed over), reading no further: what chooses a new collection's model before chunking."""
    files: list[Path] = []
    search = FolderSearch([], [])
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found: list[Path] = []
            search.tree(path.resolve(), found)
            files += sorted(found)
        elif path.is_file() and supported(path):
            files.append(path.resolve())
    out: list[str] = []
    for file in files:
        try:
            for src in file_sources(file, text_field):
                out.append(src.text)
                if len(out) >= n:
                    return out
        except InvalidInputError:
            continue
    return out


def iter_sources(paths: Sequence[str | Path], text_field: str = "text") -> Iterator[Source]:
    """The sources of :func:`read_sources` (errors raised)."""
    yield from read_sources(paths, text_field).sources

def _scan(paths: Sequence[str | Path], text_field: str, skip_errors: bool, keep: bool,
          chunking: tuple[int, int, Measure] | None = None,
          unreadable: Callable[[Sequence[str]], Sequence[int]] | None = None) -> Sources:
    if not paths:
        raise InvalidInputError("no sources given; pass files or folders to index")
    roots: list[Path] = []
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    ignored: list[tuple[str, str]] = []
    search = FolderSearch(skipped, ignored)
    buckets: list[tuple[str, Path, list[Path]]] = []  # (as given, root, files found under it)
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise InvalidInputError(f"no such file or folder: {raw}")
        roots.append(path.resolve())
        if path.is_dir():
            buckets.append((str(raw), path.resolve(), []))
            search.tree(path.resolve(), buckets[-1][2])
        elif supported(path):
            buckets.append((str(raw), path.resolve(), [path.resolve()]))
        else:
            raise InvalidInputError(f"{raw}: unsupported file type '{path.suffix}'; pass text ("
                                    f"{', '.join(TEXT_SUFFIXES)}) or JSONL ({', '.join(JSONL_SUFFIXES)}) files")
    search.follow_links()  # after every real tree: a folder reached both ways is read under its own path
    for raw, root, found in buckets:
        if root.is_dir() and not skipped and not any(under(f, [root]) for _, _, other in buckets for f in other):
            raise InvalidInputError(f"folder {raw} holds no {', '.join(TEXT_SUFFIXES + JSONL_SUFFIXES)} files"
                                    + _left_out_note([(p, r) for p, r in ignored if under(Path(p), [root])]))
        files.extend(sorted(found))
    sources: list[Source] = []
    order: list[str] = []
    dropped: set[str] = set()
    chunks = count = 0
    for file in once(files, ignored):  # a file named twice, or reached through a symlink too, is read once
        try:
            kept: list[Source] = []
            bad: list[tuple[str, str]] = []  # (chunk id, reason) of chunks the models find no word in
            pending: list[tuple[Source, list[str]]] = []  # chunks to check, a batch at a time
            n = 0
            in_file = 0
            for src in file_sources(file, text_field):
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

def _without_words(file: Path, pending: Sequence[tuple[Source, list[str]]],
                   unreadable: Callable[[Sequence[str]], Sequence[int]]) -> list[tuple[str, str]]:
    """(chunk id, why) of the chunks of ``pending`` sources in which the models find no word, naming file and line."""
    where = [(src, pieces, i) for src, pieces in pending for i in range(len(pieces))]
    out = []
    for k in unreadable([piece for _, pieces in pending for piece in pieces]):
        src, pieces, i = where[k]
        line = src.line if src.line is not None else start_lines(src.text, pieces)[i]
        what = "the text" if len(pieces) == 1 else f"chunk {i + 1} of {len(pieces)}"
        out.append((chunk_id(src.key, i), f"{file}:{line}: {no_words(what, pieces[i])}"))
    return out

def file_sources(file: Path, text_field: str) -> Iterator[Source]:
    if file.suffix.lower() in JSONL_SUFFIXES:
        yield from jsonl_sources(file, text_field)
    else:
        yield Source(str(file), read_text(file), {BOOKKEEPING: {"source": str(file)}})
