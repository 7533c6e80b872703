"""Ingest: documents validated whole before anything is written, batched without reading ahead."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from recallrank.documents import Document, check_metadata, check_text, check_unicode
from recallrank.errors import InvalidInputError
from recallrank.index.base import point_id, to_payload
from recallrank.models._batching import no_words


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: new points, replaced points (same id, new content) and unchanged ones skipped;
    ``truncated``: texts longer than the bi-encoder reads, embedded from their first tokens only (a warning says so
    too; :func:`recallrank.chunk` cuts documents into chunks that fit instead)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    truncated: int = 0


def chunked(documents: Iterable[Document], size: int) -> Iterator[tuple[int, list[Document]]]:
    """(index of the first, up to ``size`` documents) from any iterable, without reading ahead."""
    batch: list[Document] = []
    offset = 0
    for doc in documents:
        batch.append(doc)
        if len(batch) == size:
            yield offset, batch
            offset += size
            batch = []
    if batch:
        yield offset, batch


def validated(documents: Iterable[Document], offset: int = 0,
               unreadable: Callable[[Sequence[str]], list[int]] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(point id, payload) of every document, validated before anything is written (``offset``: the first one's
    position in the caller's input, for messages; :meth:`TwoStageRetriever.add_documents` has already refused a
    single document passed alone; ``unreadable``: :meth:`TwoStageRetriever.unreadable`)."""
    out: dict[str, dict[str, Any]] = {}
    first: dict[str, int] = {}
    for i, doc in enumerate(documents, offset):
        if isinstance(doc, str):
            doc = Document(doc)
        if not isinstance(doc, Document):
            raise InvalidInputError(f"document {i} is a {type(doc).__name__}; pass recallrank.Document or str")
        check_text(doc.text, f"document {i} text")
        metadata = check_metadata(doc.metadata, f"document {i}")
        if doc.id is not None:
            if not isinstance(doc.id, str):
                raise InvalidInputError(f"document {i} id must be a str, got {type(doc.id).__name__}")
            check_unicode(doc.id, f"document {i} id")
        if doc.metadata is None:
            doc = Document(doc.text, metadata, doc.id)  # None -> {}; the caller's object is left as it was
        pid, payload = point_id(doc), to_payload(doc)
        if pid in out and out[pid]["content_hash"] != payload["content_hash"]:
            raise InvalidInputError(f"documents {first[pid]} and {i} have the same id {doc.id!r} but different "
                                    "text or metadata; give each document its own id")
        first.setdefault(pid, i)
        out.setdefault(pid, payload)  # the same document twice in one call is stored once
    if unreadable is not None and out:
        pids = list(out)
        bad = unreadable([out[pid]["text"] for pid in pids])
        if bad:
            i, text = first[pids[bad[0]]], out[pids[bad[0]]]["text"]
            more = f" ({len(bad) - 1} more document(s) like it)" if len(bad) > 1 else ""
            written = f"documents before {offset} were stored, none after" if offset else "nothing was written"
            raise InvalidInputError(f"{no_words(f'document {i}', text)}{more}; fix or leave out such texts "
                                    f"({written})")
    return list(out.items())


#: an ingest of this many documents or more shows a progress bar on a terminal (``show_progress_bar=None``)
LONG_INGEST = 1000


def progress_bar(show: bool | None, total: int | None) -> Any:
    """A tqdm bar over documents: forced on or off by ``show``; with ``None`` on a terminal only, and only for a
    stream or a long list."""
    from tqdm.auto import tqdm

    if show is None:
        show = None if total is None or total >= LONG_INGEST else False  # tqdm: None hides it off a terminal
    return tqdm(total=total, unit="doc", desc="indexing", disable=None if show is None else not show,
                leave=False)
