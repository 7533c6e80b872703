"""Property-based: any texts, metadata, ids and filters either raise a RecallrankError with nothing written, or are
stored so that they come back exactly (values, types, counts) and filters select exactly the expected documents.
Run on the embedded engine and on qdrant-client's local mode."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recallrank import Document, EdgeStore, QdrantServerStore, RecallrankError, TwoStageRetriever
from recallrank.documents import MAX_METADATA_DEPTH, key_problem
from recallrank.index.base import VectorStore, from_payload, point_id
from tests.fakes import HashEncoder

BACKENDS = ["edge", "local"]
#: RECALLRANK_PROPERTY_EXAMPLES=400 for a deeper run (the suite uses 40 per test)
SETTINGS = settings(max_examples=int(os.environ.get("RECALLRANK_PROPERTY_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def store_for(backend: str) -> Iterator[VectorStore]:
    if backend == "edge":
        with tempfile.TemporaryDirectory() as tmp:
            store: VectorStore = EdgeStore(tmp, "prop")
            yield store
            store.close()
    else:
        store = QdrantServerStore(location=":memory:", name=f"prop-{uuid.uuid4().hex[:8]}")
        yield store
        store.close()


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def stored(store: VectorStore) -> dict[str, Document]:
    """What a search returns for each point, read back through the same code path."""
    return {pid: from_payload(p) for pid, p in store.scroll(["text", "metadata", "metadata_json", "doc_id"])}


# -- values: mostly valid, some that no backend can store exactly -----------------------------------------------
valid_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
bad_scalars = st.integers(min_value=2**63, max_value=2**70) | st.sampled_from([float("nan"), float("inf")]) | \
    st.just("lone \ud800 surrogate") | st.builds(tuple, st.lists(st.integers(), max_size=2)) | \
    st.just(b"bytes") | st.just({1, 2})


def json_like(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=3),
                        max_leaves=8)


def nested(depth: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


#: keys a filter can name (the others are refused when written: see recallrank.documents.key_problem)
valid_keys = st.text(min_size=1, max_size=6).filter(lambda k: key_problem(k) is None)
valid_metadata = st.dictionaries(valid_keys, json_like(valid_scalars, valid_keys), max_size=4)
any_metadata = st.one_of(
    valid_metadata,
    st.dictionaries(st.text(max_size=4) | st.integers() | st.just("\udc80"), json_like(valid_scalars | bad_scalars,
                    st.text(max_size=4) | st.integers()), max_size=4),
    st.integers(MAX_METADATA_DEPTH - 2, MAX_METADATA_DEPTH + 3).map(lambda d: {"deep": nested(d)}),
    st.none(),
)
texts = st.text(min_size=1, max_size=30).filter(lambda t: t.strip() != "") | \
    st.sampled_from(["", "  ", "bad \udcff byte"])
ids = st.none() | st.text(max_size=6) | st.sampled_from(["same", "same", "\ud83d"])
documents = st.lists(st.builds(Document, texts, any_metadata, ids), min_size=1, max_size=5)
valid_documents = st.lists(st.builds(Document, st.text(min_size=1, max_size=30).filter(lambda t: t.strip() != ""),
                                     valid_metadata, st.none() | st.uuids().map(str)), min_size=1, max_size=5)

SEED = Document("a document stored before every example", {"kept": [True, 1, 1.0, "1"]}, id="seed")


def check_round_trip_or_nothing_written(backend: str, docs: list[Document], must_succeed: bool) -> None:
    with store_for(backend) as store:
        retriever = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
        retriever.add_documents([SEED])
        before = stored(store)
        try:
            retriever.add_documents(docs, batch_size=2)
        except RecallrankError:
            assert not must_succeed, "valid documents were refused"
            after = stored(store)
            assert after.keys() == before.keys()
            assert all(same(dict(after[k].metadata), dict(before[k].metadata)) for k in before)
            return
        expected: dict[str, Document] = {}
        for d in docs:
            d = Document(d.text, d.metadata if d.metadata is not None else {}, d.id)
            expected.setdefault(point_id(d), d)
        after = stored(store)
        assert store.count() == len(expected) + 1 == len(after)
        for pid, doc in expected.items():
            back = after[pid]
            assert back.text == doc.text and back.id == doc.id
            assert same(dict(back.metadata), dict(doc.metadata)), (back.metadata, doc.metadata)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(docs=documents)
def test_any_input_is_refused_with_nothing_written_or_comes_back_exactly(backend: str, docs: list[Document]) -> None:
    check_round_trip_or_nothing_written(backend, docs, must_succeed=False)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(docs=valid_documents)
def test_valid_documents_are_stored_and_come_back_exactly(backend: str, docs: list[Document]) -> None:
    check_round_trip_or_nothing_written(backend, docs, must_succeed=True)


# -- filters: a small pool of look-alike values, so that type confusions would show -----------------------------
POOL = [True, False, 0, 1, -5, 2139, 2**63 - 1, "1", "true", "02139", "2139", ""]
payload_values = st.sampled_from([*POOL, 1.0, None]) | st.lists(st.sampled_from(POOL), max_size=3)
filter_values = st.sampled_from(POOL) | st.lists(st.sampled_from(POOL), min_size=1, max_size=3)
KEYS = ["a", "b"]


def matches(meta: dict[str, Any], flt: dict[str, Any]) -> bool:
    """Qdrant's semantics, typed: every key must have a value equal (same type) to one of the accepted ones;
    a list in the payload matches when any of its elements does."""
    for key, accepted in flt.items():
        accepted = accepted if isinstance(accepted, list) else [accepted]
        have = meta.get(key)
        values = have if isinstance(have, list) else [have]
        if not any(v is not None and same(v, a) for v in values for a in accepted):
            return False
    return True


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(metas=st.lists(st.dictionaries(st.sampled_from(KEYS), payload_values), min_size=1, max_size=8),
       flt=st.dictionaries(st.sampled_from(KEYS), filter_values, min_size=1, max_size=2))
def test_filters_select_exactly_the_expected_documents(backend: str, metas: list[dict[str, Any]],
                                                       flt: dict[str, Any]) -> None:
    with store_for(backend) as store:
        retriever = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
        retriever.add_documents([Document(f"doc {i}", m, id=str(i)) for i, m in enumerate(metas)])
        expected = {str(i) for i, m in enumerate(metas) if matches(m, flt)}
        assert store.count(flt) == len(expected)
        got = {h.document.id for h in store.search(np.ones(8), 50, flt, exact=True)}
        assert got == expected, (flt, metas)
