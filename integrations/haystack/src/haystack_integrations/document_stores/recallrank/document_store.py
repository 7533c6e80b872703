"""A Haystack DocumentStore over recallrank's Qdrant stores: embedded Qdrant Edge by default, a server by URL.

How a Haystack document becomes a point is in :mod:`.converters`, how a Haystack filter becomes recallrank's filter
model in :mod:`.filters`; this module is the DocumentStore protocol over them.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from haystack import Document, default_from_dict, default_to_dict
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret, deserialize_secrets_inplace
from haystack_integrations.document_stores.recallrank.converters import (
    PAYLOAD_FIELDS,
    point_of,
    to_haystack,
    to_points,
    with_meta,
    write_order,
    write_seq,
)
from haystack_integrations.document_stores.recallrank.filters import embedded_only, to_filter

from recallrank.documents import Result
from recallrank.errors import InvalidInputError
from recallrank.filters import MAX_FILTER_VALUES, Filter, MatchAny
from recallrank.index.base import VectorStore, check_points, from_payload, to_payload
from recallrank.index.open import open_store
from recallrank.redact import has_secret, redact_url
from recallrank.rerank.registry import make_stage
from recallrank.retrieval import tokens

#: Haystack's similarity names -> recallrank's
SIMILARITIES = {"cosine": "cosine", "dot_product": "dot", "l2": "euclidean"}
#: the server API key, read from the environment when the store connects (never serialised as a value)
DEFAULT_API_KEY = Secret.from_env_var("QDRANT_API_KEY", strict=False)


@functools.cache
def _maxsim() -> Any:
    """The default MaxSim stage (its encoder loads on first use), shared by every store in the process."""
    return make_stage("maxsim")


class RecallrankDocumentStore:
    """Haystack documents in a Qdrant collection that recallrank's own retrievers, CLI and LangChain adapters read too.

    Args:
        path: folder of the embedded Qdrant Edge store (default ``.recallrank/index``); or
        url: a Qdrant server (``http://host:6333``), with ``api_key`` as a Haystack ``Secret`` (read from
            ``QDRANT_API_KEY`` by default, never serialised). A URL holding credentials
            (``http://user:password@host``, ``?api_key=``) is refused by :meth:`to_dict`, as a token secret is: pass
            it as ``Secret.from_env_var("QDRANT_URL")`` (read when the store connects; serialised as the variable's
            name), or the URL without them and the key as ``api_key``.
        location: ``":memory:"`` for qdrant-client's local mode (a test double, not for production).
        collection: the collection name.
        embedding_dim: length of the documents' embeddings (384 for recallrank's default bi-encoder).
        similarity: ``"cosine"``, ``"dot_product"`` or ``"l2"``.
        return_embedding: whether ``filter_documents`` and retrieval return embeddings.
        exact_embeddings: also keep each embedding's float64 values in the payload, so that it comes back exactly
            as written (Qdrant keeps vectors as float32); costs about 11 bytes per dimension per document.
        token_vectors: write the token vectors of recallrank's default rerank stage (zero-shot MaxSim over
            all-MiniLM-L6-v2 tokens, field ``maxsim``) for each document with text, as ``recallrank index`` does, so
            that ``RecallrankRetriever`` scores them inside Qdrant instead of encoding every candidate per query.
            Costs one MiniLM forward pass per document at write time; ``False`` skips it.

    Documents without an embedding are stored too (``filter_documents`` returns them); embedding retrieval never
    returns them. Nothing is opened until the store is first used.

    Example:
        >>> from haystack import Document
        >>> store = RecallrankDocumentStore(path="./index", embedding_dim=3)          # doctest: +SKIP
        >>> store.write_documents([Document(content="hi", embedding=[0.1, 0.2, 0.3])])  # doctest: +SKIP
        1
    """

    def __init__(self, path: str | None = None, url: str | Secret | None = None, *,
                 api_key: Secret | None = DEFAULT_API_KEY,
                 location: str | None = None, collection: str = "haystack", embedding_dim: int = 384,
                 similarity: str = "cosine", return_embedding: bool = False, exact_embeddings: bool = False,
                 token_vectors: bool = True) -> None:
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity={similarity!r}: use one of {', '.join(SIMILARITIES)}")
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(f"embedding_dim must be a positive int, got {embedding_dim!r}")
        if sum(x is not None for x in (path, url, location)) > 1:
            raise ValueError("pass one of path= (embedded), url= (server) or location=':memory:' (test double)")
        self.path, self.url, self.api_key, self.location = path, url, api_key, location
        self.collection, self.embedding_dim, self.similarity = collection, embedding_dim, similarity
        self.return_embedding, self.exact_embeddings = return_embedding, exact_embeddings
        self.token_vectors = token_vectors
        self._store: VectorStore | None = None

    # -- plumbing -------------------------------------------------------------------------------------------------
    @property
    def store(self) -> VectorStore:
        """The recallrank store (opened on first use)."""
        if self._store is None:
            if self.location is not None:
                from recallrank.index.server import QdrantServerStore

                self._store = QdrantServerStore(location=self.location, name=self.collection)
            else:
                url = self.url.resolve_value() if isinstance(self.url, Secret) else self.url
                if isinstance(self.url, Secret) and not url:
                    raise InvalidInputError("url is a Secret that resolved to nothing; set its environment variable "
                                            "to the Qdrant server's URL")
                key = self.api_key.resolve_value() if self.api_key is not None and url is not None else None
                self._store = open_store(self.path, url, self.collection, api_key=key)  # path None: the default
        return self._store

    def close(self) -> None:
        """Release the store's files, locks and connections."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def to_dict(self) -> dict[str, Any]:
        """The store's settings; secrets only as the names of their environment variables (a URL holding
        credentials, like a token secret, refuses to serialise)."""
        if isinstance(self.url, str) and has_secret(self.url):
            raise InvalidInputError(f"url {redact_url(self.url)!r} holds credentials, which to_dict() would write "
                                    "out; pass url=Secret.from_env_var('QDRANT_URL') to read the URL from the "
                                    "environment, or the URL without them and api_key=Secret.from_env_var("
                                    "'QDRANT_API_KEY')")
        url = self.url.to_dict() if isinstance(self.url, Secret) else self.url
        return default_to_dict(self, path=self.path, url=url,
                               api_key=self.api_key.to_dict() if self.api_key is not None else None,
                               location=self.location, collection=self.collection, embedding_dim=self.embedding_dim,
                               similarity=self.similarity, return_embedding=self.return_embedding,
                               token_vectors=self.token_vectors,
                               exact_embeddings=self.exact_embeddings)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecallrankDocumentStore:
        data = copy.deepcopy(data)  # the caller's dict is left as it was
        params = data["init_parameters"]
        deserialize_secrets_inplace(params, keys=["api_key", *(["url"] if isinstance(params.get("url"), dict) else [])])
        return default_from_dict(cls, data)

    def to_filter(self, filters: Mapping[str, Any] | None) -> Filter | None:
        """Haystack filters as recallrank's filter model; a malformed one raises Haystack's ``FilterError``."""
        return to_filter(filters)

    def _scroll(self, flt: Filter | None) -> list[tuple[str, dict[str, Any]]]:
        return list(self.store.scroll(PAYLOAD_FIELDS, flt)) if self.store.exists() else []

    # -- the DocumentStore protocol -------------------------------------------------------------------------------
    def count_documents(self) -> int:
        """Number of documents stored."""
        return self.store.count() if self.store.exists() else 0

    def filter_documents(self, filters: dict[str, Any] | None = None) -> list[Document]:
        """The documents matching Haystack ``filters`` (all when ``None``), in the order they were written; the
        filter runs inside Qdrant."""
        rows = sorted(self._scroll(self.to_filter(filters)), key=lambda r: write_seq(r[1]))
        vectors = self.store.vectors([pid for pid, _ in rows]) if self.return_embedding and rows else {}
        return [to_haystack(payload, vectors.get(pid), with_embedding=self.return_embedding) for pid, payload in rows]

    def write_documents(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        """Write ``documents``; ``NONE`` and ``FAIL`` raise ``DuplicateDocumentError`` for an id already stored (or
        given twice), ``SKIP`` keeps what is stored, ``OVERWRITE`` replaces it. Every document is checked before
        anything is written. Returns how many were written."""
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise ValueError("write_documents expects a list of haystack Documents, got "
                             f"{type(documents).__name__}: {documents!r:.60}")
        if not isinstance(policy, DuplicatePolicy):
            raise ValueError(f"policy must be a DuplicatePolicy, got {policy!r}")
        policy = DuplicatePolicy.FAIL if policy == DuplicatePolicy.NONE else policy
        unique: dict[str, Document] = {}
        for d in documents:
            if d.id in unique:
                if policy == DuplicatePolicy.FAIL:
                    raise DuplicateDocumentError(f"document id {d.id!r} is given twice; nothing was written")
                if policy == DuplicatePolicy.SKIP:
                    continue
            unique[d.id] = d
        if not unique:
            return 0
        pids = {point_of(i): i for i in unique}
        stored = set(self.store.existing_hashes(list(pids))) if self.store.exists() else set()
        if stored and policy == DuplicatePolicy.FAIL:
            ids = sorted(pids[p] for p in stored)
            raise DuplicateDocumentError(f"{len(ids)} document id(s) already stored, e.g. {ids[0]!r}; nothing was "
                                         "written (pass policy=DuplicatePolicy.OVERWRITE or SKIP)")
        todo = [d for d in unique.values() if policy != DuplicatePolicy.SKIP or point_of(d.id) not in stored]
        order = dict(zip([d.id for d in todo], write_order(len(todo)), strict=True))
        points = to_points(todo, order, self.embedding_dim, self.exact_embeddings)
        self.store.ensure_collection(self.embedding_dim, SIMILARITIES[self.similarity])
        self.store.upsert(points)
        self._write_token_vectors([(point_of(d.id), d.content) for d in todo
                                   if d.content and d.content.strip() and d.embedding is not None])
        self.store.finish_ingest()
        return len(points)

    def _write_token_vectors(self, points: list[tuple[str, str]]) -> None:
        """The default MaxSim stage's token vectors for ``(point id, text)`` pairs (see ``token_vectors``)."""
        if not self.token_vectors or not points or not self.store.supports_multivectors:
            return
        stage = _maxsim()
        tokens.prepare(self.store, stage)
        tokens.write(self.store, stage, tokens.readable(stage, points, warn=False))

    def delete_documents(self, document_ids: list[str]) -> None:
        """Delete documents by Haystack id; unknown ids are ignored."""
        if self.store.exists() and document_ids:
            self.store.delete([point_of(i) for i in document_ids])
            self.store.finish_ingest()

    # -- beyond the protocol --------------------------------------------------------------------------------------
    def count_documents_by_filter(self, filters: dict[str, Any]) -> int:
        """Number of documents matching ``filters`` (counted inside Qdrant)."""
        return self.store.count(self.to_filter(filters)) if self.store.exists() else 0

    def delete_by_filter(self, filters: dict[str, Any]) -> int:
        """Delete the documents matching ``filters``; returns how many."""
        ids = [pid for pid, _ in self._scroll(self.to_filter(filters))]
        if ids:
            self.store.delete(ids)
            self.store.finish_ingest()
        return len(ids)

    def delete_all_documents(self, recreate_index: bool = False) -> None:
        """Delete every document. The collection and its settings are kept either way (``recreate_index`` is
        accepted for Haystack compatibility; to change the embedding size use another collection)."""
        self.delete_by_filter({})

    def update_by_filter(self, filters: dict[str, Any], meta: dict[str, Any]) -> int:
        """Merge ``meta`` into the metadata of every document matching ``filters``; returns how many. Embeddings,
        ids and write order are kept."""
        if not isinstance(meta, Mapping):
            raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
        rows = self._scroll(self.to_filter(filters))
        if not rows:
            return 0
        vectors = self.store.vectors([pid for pid, _ in rows])
        points = [with_meta(pid, payload, vectors[pid], meta) for pid, payload in rows]
        check_points(points)
        self.store.upsert(points)
        self.store.finish_ingest()
        return len(points)

    # -- metadata introspection: over the documents the filter selects inside Qdrant ------------------------------
    def _metadata(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [dict(from_payload(payload).metadata) for _, payload in self._scroll(self.to_filter(filters))]

    def count_unique_metadata_by_filter(self, filters: dict[str, Any] | None,
                                        metadata_fields: list[str]) -> dict[str, int]:
        """Field -> number of distinct values among the documents matching ``filters`` (``1``, ``1.0``, ``"1"`` and
        ``True`` are four values)."""
        rows = self._metadata(filters)
        return {f: len({_distinct(m[_field(f)]) for m in rows if m.get(_field(f)) is not None})
                for f in metadata_fields}

    def get_metadata_fields_info(self) -> dict[str, dict[str, str]]:
        """Metadata field -> ``{"type": ...}`` (``keyword``, ``long``, ``float``, ``boolean`` or ``object``; the type
        of its first non-null value)."""
        out: dict[str, dict[str, str]] = {}
        for m in self._metadata():
            for key, value in m.items():
                if value is not None and key not in out:
                    out[key] = {"type": _TYPES.get(type(value), "object")}
        return out

    def get_metadata_field_min_max(self, metadata_field: str) -> dict[str, Any]:
        """``{"min": ..., "max": ...}`` of a field's numbers (of its strings when it has no numbers); ``None`` both
        when no document has it."""
        values = [m.get(_field(metadata_field)) for m in self._metadata()]
        numbers: list[Any] = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        chosen = numbers or [v for v in values if isinstance(v, str)]
        return {"min": min(chosen), "max": max(chosen)} if chosen else {"min": None, "max": None}

    def get_metadata_field_unique_values(self, metadata_field: str, search_term: str | None = None, from_: int = 0,
                                         size: int = 10, filters: dict[str, Any] | None = None
                                         ) -> tuple[list[Any], int]:
        """A page (``from_``, ``size``) of a field's distinct values, in a stable order, and how many there are;
        ``search_term`` keeps values containing it (case-insensitive)."""
        seen: dict[Any, Any] = {}
        for m in self._metadata(filters):
            value = m.get(_field(metadata_field))
            if value is None or (search_term is not None and search_term.lower() not in str(value).lower()):
                continue
            seen.setdefault(_distinct(value), value)
        ordered = [seen[k] for k in sorted(seen, key=lambda k: (k[0], str(k[1])))]
        return ordered[from_:from_ + size], len(ordered)

    def embedding_retrieval(self, query_embedding: list[float], *, filters: dict[str, Any] | None = None,
                            top_k: int = 10, score_threshold: float | None = None,
                            return_embedding: bool | None = None) -> list[Document]:
        """The ``top_k`` documents nearest ``query_embedding`` (filters applied inside Qdrant), best first, with
        ``score`` (cosine or dot product; negative distance for ``l2``)."""
        if len(query_embedding) != self.embedding_dim:
            raise ValueError(f"the query embedding is {len(query_embedding)}-d but the store holds "
                             f"{self.embedding_dim}-d embeddings; embed the query with the documents' model")
        if not self.store.exists():
            return []
        flt = embedded_only(self.to_filter(filters))
        hits = self.store.search(np.asarray(query_embedding, dtype=np.float32), top_k, flt)
        embed = return_embedding if return_embedding is not None else self.return_embedding
        vectors = self.store.vectors([h.id for h in hits]) if embed and hits else {}
        hits = [h for h in hits if score_threshold is None or h.score >= score_threshold]
        rows = self._payloads([str(h.document.id) for h in hits])
        return [to_haystack(rows.get(h.id, to_payload(h.document)), vectors.get(h.id), h.score, embed) for h in hits]

    def retrieval_filter(self, filters: dict[str, Any] | None) -> Filter:
        """Haystack ``filters`` as the filter a retrieval over this store runs with (``TwoStageRetriever`` included):
        documents written without an embedding, which hold a placeholder vector, are left out."""
        return embedded_only(self.to_filter(filters))

    def from_results(self, results: Sequence[Result]) -> list[Document]:
        """The Haystack documents of a recallrank search over this store, in its order: each as it was written
        (blob, sparse embedding; the embedding with ``return_embedding``), ``score`` the final ranking score, and
        ``meta`` carrying the score fields every recallrank front end gives (``Result.score_fields``)."""
        pids = [r.point_id or point_of(str(r.document.id)) for r in results]
        rows = self._payloads([str(r.document.id) for r in results])
        vectors = self.store.vectors(pids) if self.return_embedding and pids else {}
        out = []
        for pid, r in zip(pids, results, strict=True):
            row = to_payload(r.document) if r.passages else rows.get(pid, to_payload(r.document))  # a document
            d = to_haystack(row, vectors.get(pid), r.score, self.return_embedding)  # result: its passages, joined
            out.append(dataclasses.replace(d, meta={**d.meta, **r.score_fields(), **r.found_fields()}))
        return out

    def _payloads(self, document_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Point id -> full payload (blob, sparse and exact embeddings) of the documents ``document_ids``."""
        rows: dict[str, dict[str, Any]] = {}
        for start in range(0, len(document_ids), MAX_FILTER_VALUES):  # a filter's list holds at most that many
            chunk = tuple(document_ids[start:start + MAX_FILTER_VALUES])
            rows.update(self.store.scroll(PAYLOAD_FIELDS, Filter(must=(MatchAny("@doc_id", chunk),))))
        return rows

    # -- async twins: the same logic in a worker thread -----------------------------------------------------------
    async def count_documents_async(self) -> int:
        return await asyncio.to_thread(self.count_documents)

    async def filter_documents_async(self, filters: dict[str, Any] | None = None) -> list[Document]:
        return await asyncio.to_thread(self.filter_documents, filters)

    async def write_documents_async(self, documents: list[Document],
                                    policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        return await asyncio.to_thread(self.write_documents, documents, policy)

    async def delete_documents_async(self, document_ids: list[str]) -> None:
        await asyncio.to_thread(self.delete_documents, document_ids)

    async def count_documents_by_filter_async(self, filters: dict[str, Any]) -> int:
        return await asyncio.to_thread(self.count_documents_by_filter, filters)

    async def delete_by_filter_async(self, filters: dict[str, Any]) -> int:
        return await asyncio.to_thread(self.delete_by_filter, filters)

    async def delete_all_documents_async(self, recreate_index: bool = False) -> None:
        await asyncio.to_thread(self.delete_all_documents, recreate_index)

    async def update_by_filter_async(self, filters: dict[str, Any], meta: dict[str, Any]) -> int:
        return await asyncio.to_thread(self.update_by_filter, filters, meta)

    async def count_unique_metadata_by_filter_async(self, filters: dict[str, Any] | None,
                                                    metadata_fields: list[str]) -> dict[str, int]:
        return await asyncio.to_thread(self.count_unique_metadata_by_filter, filters, metadata_fields)

    async def get_metadata_fields_info_async(self) -> dict[str, dict[str, str]]:
        return await asyncio.to_thread(self.get_metadata_fields_info)

    async def get_metadata_field_min_max_async(self, metadata_field: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.get_metadata_field_min_max, metadata_field)

    async def get_metadata_field_unique_values_async(self, metadata_field: str, search_term: str | None = None,
                                                     from_: int = 0, size: int = 10,
                                                     filters: dict[str, Any] | None = None) -> tuple[list[Any], int]:
        return await asyncio.to_thread(self.get_metadata_field_unique_values, metadata_field, search_term, from_,
                                       size, filters)

    async def embedding_retrieval_async(self, query_embedding: list[float], *, filters: dict[str, Any] | None = None,
                                        top_k: int = 10, score_threshold: float | None = None,
                                        return_embedding: bool | None = None) -> list[Document]:
        return await asyncio.to_thread(self.embedding_retrieval, query_embedding, filters=filters, top_k=top_k,
                                       score_threshold=score_threshold, return_embedding=return_embedding)


_TYPES = {str: "keyword", bool: "boolean", int: "long", float: "float"}


def _field(name: str) -> str:
    return name[5:] if name.startswith("meta.") else name


def _distinct(value: Any) -> tuple[str, Any]:
    """A key that keeps 1, 1.0, "1" and True apart (and makes lists and dicts hashable)."""
    return type(value).__name__, value if isinstance(value, (str, int, float)) else json.dumps(value, sort_keys=True)
