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

from recallrank.loaders.chunks import (
    BOOKKEEPING,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    Source,
    chunk_documents,
    chunk_id,
    chunk_text,
)
from recallrank.loaders.files import JSONL_SUFFIXES, TEXT_SUFFIXES
from recallrank.loaders.ids import IdSet
from recallrank.loaders.sources import Sources, iter_sources, read_sources, scan_sources, stream_chunks
from recallrank.loaders.stale import stale_ids

__all__ = ["BOOKKEEPING", "DEFAULT_CHUNK_OVERLAP", "DEFAULT_CHUNK_SIZE", "JSONL_SUFFIXES", "TEXT_SUFFIXES", "IdSet",
           "Source", "Sources", "chunk_documents", "chunk_id", "chunk_text", "iter_sources", "read_sources",
           "scan_sources", "stale_ids", "stream_chunks"]
