"""The sparse BM25 field of a collection, written once for both stores (the half of the collection core that holds
keyword recall): term weights come from Qdrant's own ``Bm25`` model (``qdrant-edge``, multilingual tokenizer that
segments Chinese, English stemming and stopwords), computed on the client for both backends so that both index the
same tokens; Qdrant applies the IDF (``Modifier.IDF`` on the field) at query time, so a point's score is its BM25.

A collection records its field and the BM25 settings it was written with (``{"sparse": {"bm25": {...}}}`` beside
the models that built it): a query is tokenised as the documents were, and a collection made before the field
existed is reported with the way to add it (:meth:`SparseFields.add_sparse`, ``recallrank index --add-sparse``)
instead of answering nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import Hit, MetadataFilter, StoredPoint
from recallrank.index.query import Fuse, Query, Sparse, dense

log = logging.getLogger(__name__)

#: the sparse field's name in every collection recallrank makes
FIELD = "bm25"
#: fusion methods of a hybrid query: reciprocal rank fusion, distribution-based score fusion
FUSIONS = ("rrf", "dbsf")
#: the RRF constant: Qdrant's own default, given explicitly so that both backends fuse alike
RRF_K = 2


def bm25_record() -> dict[str, Any]:
    """The record of a new BM25 field: the model and its settings (Qdrant's BM25 defaults, multilingual tokens)."""
    return {"model": "qdrant-bm25", "tokenizer": "multilingual", "language": "english", "k": 1.2, "b": 0.75,
            "avg_len": 256.0, "modifier": "idf", "filled": True}


@functools.lru_cache(maxsize=4)
def _model(tokenizer: str, language: str, k: float, b: float, avg_len: float) -> Any:
    try:
        import qdrant_edge as qe
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("BM25 vectors need qdrant-edge-py: pip install qdrant-edge-py") from exc
    return qe.Bm25(qe.Bm25Config(k=k, b=b, avg_len=avg_len, tokenizer=getattr(qe.TokenizerType, tokenizer.title()),
                                 language=language))


def bm25(record: Mapping[str, Any]) -> Any:
    """The ``qdrant_edge.Bm25`` model a field's ``record`` describes."""
    return _model(str(record.get("tokenizer", "multilingual")), str(record.get("language", "english")),
                  float(record.get("k", 1.2)), float(record.get("b", 0.75)), float(record.get("avg_len", 256.0)))


def embed_documents(record: Mapping[str, Any], texts: Sequence[str]) -> list[Sparse]:
    """BM25 term weights (no IDF: Qdrant applies it) of each of ``texts``."""
    model = bm25(record)
    return [_sparse(model.embed_document(t)) for t in texts]


def embed_query(record: Mapping[str, Any], text: str) -> Sparse:
    """The query's tokens, weight 1 each (Qdrant multiplies them by their IDF)."""
    return _sparse(bm25(record).embed_query(text))


def _sparse(vector: Any) -> Sparse:
    return Sparse([int(i) for i in vector.indices], [float(v) for v in vector.values])


def check_fusion(fusion: str) -> str:
    if fusion not in FUSIONS:
        raise InvalidInputError(f"fusion={fusion!r}: use 'rrf' (reciprocal rank fusion) or 'dbsf' "
                                "(distribution-based score fusion)")
    return fusion


class SparseFieldMissingError(StoreError):
    """The collection has no (complete) BM25 field: it was made before recallrank wrote one, or its backfill was
    stopped; the message says how to add it."""


class SparseFields:
    """The BM25 field of :class:`~recallrank.index.collection.QdrantCollection`: created with a new collection,
    written with each point, backfilled into an older collection, and queried alone or fused with the dense vector
    in one Qdrant query. A backend implements :meth:`_add_sparse` and :meth:`_write_sparse`."""

    #: both backends hold the BM25 field (see :class:`recallrank.index.base.VectorStore`)
    supports_sparse = True
    _sparse_record: dict[str, Any] | None = None
    # the collection core's members this half uses

    @property
    def where(self) -> str:
        raise NotImplementedError

    @property
    def cli_options(self) -> str:
        return ""

    exists: Callable[[], bool]
    _record: Callable[[], dict[str, Any]]
    _update_record: Callable[[Mapping[str, Any]], None]
    _filter: Callable[[MetadataFilter | None], Any]
    _search_params: Callable[[bool], Any]
    _query: Callable[[Query], list[Any]]
    _lacks_vector: Callable[[str], Any]
    _begin_write: Callable[[], None]
    _hits: Callable[..., list[Hit]]
    pages: Callable[..., Any]

    def _add_sparse(self, name: str) -> None:
        """Add the sparse field ``name`` (IDF modifier) to the existing collection; nothing if it has one."""
        raise NotImplementedError

    def _write_sparse(self, name: str, vectors: Mapping[str, Sparse]) -> None:
        """Set the ``name`` sparse vectors of existing points."""
        raise NotImplementedError

    async def _aquery(self, query: Query) -> list[Any]:
        raise NotImplementedError

    # -- the record ---------------------------------------------------------------------------------------------
    def sparse_field(self) -> dict[str, Any] | None:
        """The record of the collection's BM25 field (model, tokenizer, ``k``, ``b``, ``avg_len``, ``filled``), or
        ``None`` when it has none (made before recallrank wrote one, or not created yet)."""
        if self._sparse_record is not None:
            return dict(self._sparse_record)
        if not self.exists():
            return None
        found = (self._record().get("sparse") or {}).get(FIELD)
        if not isinstance(found, dict):
            return None
        if found.get("filled"):  # fields are never removed: a complete one is remembered
            self._sparse_record = found
        return dict(found)

    def _record_sparse(self, record: Mapping[str, Any]) -> None:
        self._sparse_record = None
        self._update_record({"sparse": {FIELD: dict(record)}})

    def with_sparse(self, points: Sequence[StoredPoint]) -> list[StoredPoint]:
        """``points`` with their BM25 vectors, where the collection has the field (an older one is left as is)."""
        record = self.sparse_field()
        if record is None:
            return list(points)
        vectors = embed_documents(record, [str(p.payload.get("text", "")) for p in points])
        return [replace(p, sparse={FIELD: v}) for p, v in zip(points, vectors, strict=True)]

    def add_sparse(self, batch: int = 256, progress: Callable[[int], object] | None = None) -> int:
        """Add the BM25 field to a collection made before recallrank wrote one and write the BM25 vector of every
        point that lacks it (from the stored text; no model to load); returns how many points were filled.
        Running it again is a no-op, and resumes a stopped backfill."""
        if not self.exists():
            raise StoreError(f"{self.where} does not exist yet; index some documents first (a new collection gets "
                             "its BM25 field as it is created)")
        record = self.sparse_field()
        if record is None:
            record = {**bm25_record(), "filled": False}
            self._add_sparse(FIELD)
            self._record_sparse(record)
        filled = 0
        for records in self.pages(self._lacks_vector(FIELD), ["text"], batch):
            if not records:
                continue
            texts = [str((r.payload or {}).get("text", "")) for r in records]
            self._begin_write()
            self._write_sparse(FIELD, dict(zip((str(r.id) for r in records), embed_documents(record, texts),
                                               strict=True)))
            filled += len(records)
            if progress is not None:
                progress(len(records))
        if not record.get("filled"):
            self._record_sparse({**record, "filled": True})
        return filled

    def _ready_record(self) -> dict[str, Any]:
        record = self.sparse_field()
        fix = (f"`recallrank index --add-sparse{self.cli_options or ' (with its --path or --url, and --collection)'}`"
               ", or store.add_sparse() in Python")
        if record is None:
            raise SparseFieldMissingError(
                f"{self.where} has no BM25 field (it was made before recallrank wrote one), so sparse and hybrid "
                f"recall cannot search it; add the field with {fix} (the stored texts are read, nothing is "
                "re-embedded), or search with recall='dense'")
        if not record.get("filled"):
            raise SparseFieldMissingError(f"{self.where}: adding the BM25 field was stopped before every point had "
                                          f"one; finish it with {fix}")
        return record

    # -- queries (``Hit.score``: BM25 for sparse, the fused score for hybrid) -----------------------------------
    def _sparse_leg(self, text: str, limit: int, condition: Any) -> Query:
        return Query(embed_query(self._ready_record(), text), limit, condition, using=FIELD)

    def _sparse_only(self, text: str, limit: int, flt: MetadataFilter | None) -> Query | None:
        """The BM25 query; ``None`` when the text holds no word BM25 indexes (numbers alone and common words
        such as 'the' are left out): it matches nothing, as a keyword search for stop words does."""
        leg = self._sparse_leg(text, limit, self._filter(flt))
        if isinstance(leg.vector, Sparse) and not leg.vector.indices:
            log.info("the query %r has no word BM25 indexes: sparse recall finds nothing", text[:80])
            return None
        return leg

    def _hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None, exact: bool,
                fusion: str) -> Query:
        method = check_fusion(fusion)
        condition = self._filter(flt)  # inside both legs: a filtered-out point is never fused in
        sparse = self._sparse_leg(text, limit, condition)
        dense_leg = Query(dense(vector), limit, condition, self._search_params(exact))
        return Query(Fuse(method, RRF_K), limit, legs=(dense_leg, sparse))

    def search_sparse(self, text: str, limit: int, flt: MetadataFilter | None = None) -> list[Hit]:
        """The ``limit`` best points by BM25 on the ``bm25`` field (``Hit.score``: the BM25 score, IDF over the
        whole collection), best first; ``flt`` applies inside the query."""
        query = self._sparse_only(text, limit, flt)
        return [] if query is None else self._hits(self._query(query), sign=1.0)

    async def asearch_sparse(self, text: str, limit: int, flt: MetadataFilter | None = None) -> list[Hit]:
        """Async :meth:`search_sparse`."""
        query = self._sparse_only(text, limit, flt)
        return [] if query is None else self._hits(await self._aquery(query), sign=1.0)

    def search_hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False, fusion: str = "rrf") -> list[Hit]:
        """The dense nearest neighbours of ``vector`` and the BM25 best of ``text`` (``limit`` each, ``flt`` applied
        inside both), fused in one Qdrant query; the best ``limit``. ``Hit.score`` is the fused score: with
        ``"rrf"`` the sum over both lists of ``1 / (2 + rank)`` (rank 0 first: at most 1.0), with ``"dbsf"`` the
        sum of each list's scores normalised by their mean and 3 standard deviations."""
        return _tied_by_id(self._hits(self._query(self._hybrid(vector, text, limit, flt, exact, fusion)), sign=1.0))

    async def asearch_hybrid(self, vector: np.ndarray, text: str, limit: int, flt: MetadataFilter | None = None,
                             exact: bool = False, fusion: str = "rrf") -> list[Hit]:
        """Async :meth:`search_hybrid`."""
        return _tied_by_id(self._hits(await self._aquery(self._hybrid(vector, text, limit, flt, exact, fusion)),
                                      sign=1.0))


def _tied_by_id(hits: list[Hit]) -> list[Hit]:
    """Equal fused scores (RRF gives the first of each list the same score) in point-id order, so that a query
    returns one order every time, through every front end."""
    return sorted(hits, key=lambda h: (-h.score, h.id))
