"""A search for documents: chunks grouped by the document they were cut from, inside Qdrant; and the stored
token vectors read back, for evidence.

Every point records its ``parent`` (:func:`recallrank.index.base.parent_key`: the document a chunk was cut from,
else the point's own id). A grouped search returns the best ``groups`` parents, each with its ``group_size`` best
chunks, so one long document's many chunks cannot crowd the others out of the candidates.

The server runs Qdrant's ``query_points_groups``. Qdrant Edge's Python binding (0.9) does not expose the grouping
its Rust crate has, so the embedded backend runs the same algorithm as Qdrant's ``GroupByDriver`` over its query
primitive: search, then search again with the groups already full excluded (``must_not`` on ``parent``), at most
:data:`MAX_GROUP_REQUESTS` times. Both skip points that have no ``parent``, as Qdrant does; a collection holding
such points (written before parents were recorded) is refused until :meth:`Groups.fill_parents` has run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from recallrank.documents import chunk_of, parent_of
from recallrank.errors import InvalidInputError
from recallrank.filters import Filter, as_filter
from recallrank.filters.model import IsEmpty, MatchAny
from recallrank.index.base import PARENT, Hit, MetadataFilter, from_payload, parent_key
from recallrank.index.query import Query, dense
from recallrank.index.tokens import record_vectors

#: requests the embedded backend spends finding enough groups (Qdrant's ``MAX_GET_GROUPS_REQUESTS``)
MAX_GROUP_REQUESTS = 5
#: at most this many groups are excluded per request (a filter's value list limit)
MAX_EXCLUDED = 1024
NO_PARENT = Filter(must=(IsEmpty(f"@{PARENT}"),))


class Groups:
    """Grouped search and the ``parent`` record, for :class:`~recallrank.index.collection.QdrantCollection`."""

    _parents_checked = False

    def search_groups(self, vector: np.ndarray, groups: int, group_size: int, flt: MetadataFilter | None = None,
                      exact: bool = False) -> list[list[Hit]]:
        """The best ``groups`` documents for ``vector``, each as its best ``group_size`` chunk hits (best first),
        documents in the order of their best chunk."""
        for name, value in (("groups", groups), ("group_size", group_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        self.check_parents()
        s: Any = self
        query = Query(dense(vector), groups * group_size, s._filter(flt), s._search_params(exact))
        parsed = as_filter(flt)

        def condition(keys: Sequence[str], keep: bool) -> Any:  # the caller's filter, and (not) these parents
            parent = MatchAny(f"@{PARENT}", tuple(keys))
            mine = (parsed,) if parsed else ()
            return s._compile(Filter(must=(*mine, parent)) if keep else Filter(must=mine, must_not=(parent,)))

        return [s._hits(points) for points in self._query_groups(query, groups, group_size, condition)]

    def _query_groups(self, query: Query, groups: int, group_size: int,
                      condition: Callable[[Sequence[str], bool], Any]) -> list[list[Any]]:
        """Groups of scored points, best group first (a backend primitive). This one is Qdrant's group-by over
        ``_query``: searches that leave out the groups already full find enough groups, then searches within the
        best groups not yet full fill them (each phase at most :data:`MAX_GROUP_REQUESTS` requests);
        ``condition(keys, keep)`` is the query's condition within (``keep``) or without those parents."""
        s: Any = self
        found: dict[str, list[Any]] = {}
        best_score: dict[str, float] = {}
        seen: set[str] = set()

        def add(points: Sequence[Any]) -> None:
            for p in points:
                key = (p.payload or {}).get(PARENT)
                if not isinstance(key, str) or str(p.id) in seen:
                    continue
                seen.add(str(p.id))
                hits = found.setdefault(key, [])
                best_score.setdefault(key, float(p.score))
                if len(hits) < group_size:
                    hits.append(p)

        def best() -> list[str]:
            return sorted(found, key=lambda k: -best_score[k] if s.similarity() != "euclidean" else best_score[k])

        for _ in range(MAX_GROUP_REQUESTS):  # find enough groups
            full = [k for k, hits in found.items() if len(hits) >= group_size][:MAX_EXCLUDED]
            points = s._query(Query(query.vector, query.limit, condition(full, False) if full else query.condition,
                                    query.params))
            add(points)
            if len(points) < query.limit or len(found) - len(full) >= groups:
                break
        for _ in range(MAX_GROUP_REQUESTS):  # fill the best groups
            short = [k for k in best()[:groups] if len(found[k]) < group_size]
            if not short:
                break
            points = s._query(Query(query.vector, group_size * len(short), condition(short, True), query.params))
            before = len(seen)
            add(points)
            if len(seen) == before:
                break
        return [found[k] for k in best()[:groups]]

    def check_parents(self) -> None:
        """Refuse a grouped search on a collection with points that record no ``parent`` (they would be left out
        of every group), saying how to record it; checked once per store object, by one count."""
        if self._parents_checked:
            return
        s: Any = self
        missing = s._count(s._compile(NO_PARENT)) if s.exists() else 0
        if missing:
            raise InvalidInputError(
                f"{missing} points of {s.where} were written before recallrank recorded the document each chunk "
                "came from, so a search for documents would leave them out; record it once (no re-embedding): "
                "run `recallrank index` over its sources again, or call TwoStageRetriever.add_stage_vectors()")
        self._parents_checked = True

    def fill_parents(self, batch: int = 256) -> int:
        """Record ``parent`` on the points written without it (from the chunk's bookkeeping, else the caller's
        id, else the point id); returns how many were filled. A no-op when none lack it."""
        s: Any = self
        if not s.exists():
            return 0
        filled = 0
        while True:  # each round re-reads the points still without a parent (the ones just set drop out)
            page, _ = s._scroll_page(s._compile(NO_PARENT), ["text", "metadata", "metadata_json", "doc_id",
                                                             "haystack"], batch, None)
            if not page:
                break
            s._begin_write()
            values = {str(r.id): _parent(r) for r in page}
            s._set_parents(values)
            filled += len(values)
        self._parents_checked = filled == 0 and self._parents_checked
        return filled

    def _set_parents(self, values: dict[str, str]) -> None:  # a backend primitive
        raise NotImplementedError

    def parents(self, ids: Sequence[str]) -> dict[str, str]:
        """The ``parent`` each of ``ids`` records (point id -> parent; points without one are absent)."""
        s: Any = self
        records = s._retrieve(list(ids), [PARENT], False) if ids and s.exists() else []
        return {str(r.id): r.payload[PARENT] for r in records if isinstance((r.payload or {}).get(PARENT), str)}

    def token_vectors(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored ``name`` token vectors of ``ids`` (point id -> ``(tokens, dimension)`` float32 array), as
        stored (a quantised field gives its approximation); points without them are absent. What evidence reads:
        which document token each query token matched, without running a model."""
        s: Any = self
        s._field(name)
        out: dict[str, np.ndarray] = {}
        for record in s._retrieve(list(ids), None, name) if ids else []:
            vectors = record_vectors(record)[1].get(name)
            if vectors:
                out[str(record.id)] = np.asarray(vectors, dtype=np.float32)
        return out


def _parent(record: Any) -> str:
    """The parent of a point written before parents were recorded: its chunking record's, else (a chunk written
    by an earlier ``recallrank index``: id ``<key>#<n>`` with ``chunk = n``) its key, else the ``source_id`` that
    Haystack's ``DocumentSplitter`` gave it (written through the Haystack store), else its own id."""
    doc = from_payload(record.payload)
    if parent_of(doc) is not None:
        return parent_key(doc)
    found = chunk_of(doc.metadata, doc.id)
    if found is not None:
        return found[1]
    source = doc.metadata.get("source_id")
    if "haystack" in (record.payload or {}) and isinstance(source, str) and source:
        return source
    return doc.id if doc.id is not None else str(record.id)  # without an id: its content's point id

