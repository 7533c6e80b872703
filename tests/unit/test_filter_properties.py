"""Every filter dialect against a Python predicate written from that framework's documented semantics, on both
backends (the embedded Qdrant Edge store and qdrant-client's local mode), over random metadata: nulls, ``[]``,
lists, objects, look-alike values of mixed types (``2139`` / ``"2139"`` / ``"02139"``, ``True`` / ``1`` / ``1.0``),
nested objects, lists of objects and odd keys (spaces, Cyrillic, ``-``). Each search and count must select exactly
the documents the predicate selects. Issue 21 items 8 and 9 have their named cases at the end.

The predicates follow each framework's documentation, with the rules recallrank documents for all of them
(:mod:`recallrank.filters`): types are never mixed (``True`` is not ``1``, ``1`` is not ``1.0``, ``"5"`` is not
``5``; a float compared for equality matches any number of that value, since Qdrant cannot match floats exactly);
a list in the metadata matches a comparison when one of its items does (a single value counts as a list of one);
ranges compare numbers with numbers and ISO 8601 strings as instants. (Haystack's and LlamaIndex's in-memory
reference stores compare with Python's ``==``, where ``True == 1 == 1.0``: recallrank deliberately does not.)
``is_empty`` / ``is_null`` are not generated on ``objs[].k`` (a key projected through a list of objects), whose
emptiness Qdrant does not document.

The suite runs a few dozen examples per dialect and backend against one store per backend (a few tens of seconds
in all). The deeper run is one command (thousands of examples per dialect and backend; the corpus seed and size
can be changed too)::

    RECALLRANK_FILTER_EXAMPLES=5000 .venv/bin/python -m pytest -q tests/unit/test_filter_properties.py

(``RECALLRANK_FILTER_SEED`` and ``RECALLRANK_FILTER_DOCS`` pick another random corpus.)
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recallrank import Document, EdgeStore, InvalidInputError, QdrantServerStore, TwoStageRetriever
from recallrank.cli.filters import parse_filters
from recallrank.documents import check_metadata
from recallrank.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    Filter,
    FilterValueError,
    InexactFilterError,
    MatchExcept,
    as_filter,
    from_haystack,
)
from recallrank.index.base import StoredPoint, VectorStore, point_id, to_payload
from tests.fakes import HashEncoder

EXAMPLES = int(os.environ.get("RECALLRANK_FILTER_EXAMPLES", "40"))
SEED = int(os.environ.get("RECALLRANK_FILTER_SEED", "21"))
DOCS = int(os.environ.get("RECALLRANK_FILTER_DOCS", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
BACKENDS = ["edge", "local"]
HAYSTACK_FIELDS = {"content": "@text", "id": "@doc_id"}  # as RecallrankDocumentStore maps them

# -- the corpus: random metadata over a few keys, so that filters select some documents and not others ---------
EXACT: list[Any] = [True, False, 0, 1, -5, 2139, 2**63 - 1, "1", "true", "02139", "2139", "", "x"]
FLOATS = [1.0, 0.5, -0.0, 2139.0]
DATES = ["2024-01-05T00:00:00", "2024-01-05", "2024-06-01T12:30:00Z", "2023-12-31T23:00:00-02:00"]
SCALARS: list[Any] = [*EXACT, *FLOATS, *DATES, None]
TOP = ["zip", "n", "the kind", "ключ", "x-y"]
#: filter keys: top-level ones, a nested object's key, a key inside a list of objects, and one no document has
KEYS = [*TOP, "nest.k", "objs[].k", "never"]
FLAT_KEYS = [k for k in KEYS if "[]" not in k]  # where is_empty / is_null / == None are generated
NUMERIC_BOUNDS: list[Any] = [-5, 0, 0.5, 1, 2139, 1e19]
DATE_BOUNDS = ["2024-01-05T00:00:00", "2024-01-01", "2024-06-01T12:30:00+00:00", "2024-01-05T01:00:00+02:00"]


def random_value(r: random.Random) -> Any:
    roll = r.random()
    if roll < 0.5:
        return r.choice(SCALARS)
    if roll < 0.85:
        return [r.choice(SCALARS) for _ in range(r.randint(0, 3))]
    if roll < 0.92:
        return {"a": r.choice(SCALARS)}
    return r.choice([[[r.choice(EXACT)]], [{"a": 1}], {}])


def random_metadata(r: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {k: random_value(r) for k in TOP if r.random() < 0.7}
    if r.random() < 0.6:
        meta["nest"] = r.choice([{"k": random_value(r)}, {"k": random_value(r)}, {}, None])
    if r.random() < 0.6:
        meta["objs"] = r.choice([[r.choice([{"k": random_value(r)}, {}]) for _ in range(r.randint(0, 3))], None, []])
    return meta


CORPUS = [Document(f"doc {i}", random_metadata(random.Random(SEED * 100_003 + i)), id=f"d{i}") for i in range(DOCS)]
QUERY = np.ones(8, dtype=np.float32)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, VectorStore]]:
    out: dict[str, VectorStore] = {"edge": EdgeStore(tmp_path_factory.mktemp("filters"), "props"),
                                   "local": QdrantServerStore(location=":memory:", name="props")}
    for store in out.values():
        TwoStageRetriever(store, HashEncoder(), False).add_documents(CORPUS)  # type: ignore[arg-type]
    yield out
    for store in out.values():
        store.close()


@pytest.fixture(scope="module")
def key_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, VectorStore]]:
    out: dict[str, VectorStore] = {"edge": EdgeStore(tmp_path_factory.mktemp("keys"), "keys"),
                                   "local": QdrantServerStore(location=":memory:", name="keys")}
    for store in out.values():
        store.ensure_collection(len(QUERY), "cosine")
    yield out
    for store in out.values():
        store.close()


def selected(store: VectorStore, flt: Any) -> set[str]:
    """The ids a filtered search returns, after checking that the count agrees."""
    got = {str(h.document.id) for h in store.search(QUERY, len(CORPUS) + 5, flt, exact=True)}
    assert store.count(flt) == len(got), flt
    return got


def check(store: VectorStore, flt: Any, predicate: Callable[[dict[str, Any]], bool]) -> None:
    expected = {str(d.id) for d in CORPUS if predicate(dict(d.metadata))}
    got = selected(store, flt)
    assert got == expected, (flt, sorted(got - expected)[:5], sorted(expected - got)[:5])


# -- the predicates' vocabulary: what a key holds, from the metadata alone --------------------------------------
def resolve(meta: dict[str, Any], key: str) -> tuple[bool, list[Any]]:
    """(whether the document has ``key``, the raw values there: one, or one per object of a list)."""
    if key == "nest.k":
        nest = meta.get("nest")
        return (True, [nest["k"]]) if isinstance(nest, dict) and "k" in nest else (False, [])
    if key == "objs[].k":
        objs = meta.get("objs")
        raws = [o["k"] for o in objs if isinstance(o, dict) and "k" in o] if isinstance(objs, list) else []
        return bool(raws), raws
    return (key in meta, [meta[key]] if key in meta else [])


def items(meta: dict[str, Any], key: str) -> list[Any]:
    """The values a comparison sees: a list's items, or the value itself."""
    out: list[Any] = []
    for raw in resolve(meta, key)[1]:
        out.extend(raw if isinstance(raw, list) else [raw])
    return out


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def instant(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
    if not isinstance(v, str):
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def equal(e: Any, v: Any) -> bool:
    """Equality as documented: exact types, but a float value equals any number of that value."""
    return number(e) and float(e) == v if isinstance(v, float) else same(e, v)


def in_range(e: Any, bounds: dict[str, Any]) -> bool:
    dated = any(isinstance(b, str) for b in bounds.values())
    x = instant(e) if dated else (float(e) if number(e) else None)
    if x is None:
        return False
    b = {op: instant(v) if dated else float(v) for op, v in bounds.items()}
    return all({"gt": x > b[op] if op == "gt" else True, "gte": x >= b[op] if op == "gte" else True,
                "lt": x < b[op] if op == "lt" else True, "lte": x <= b[op] if op == "lte" else True}[op]
               for op in b)


def has_equal(meta: dict[str, Any], key: str, v: Any) -> bool:
    return any(equal(e, v) for e in items(meta, key))


def missing_or_null(meta: dict[str, Any], key: str) -> bool:
    present = resolve(meta, key)[0]
    return not present or any(e is None for e in items(meta, key))


def is_empty(meta: dict[str, Any], key: str) -> bool:  # Qdrant: missing, null or []
    present, raws = resolve(meta, key)
    return not present or raws[0] is None or raws[0] == []


def is_null(meta: dict[str, Any], key: str) -> bool:  # Qdrant: null (a list holding a null too)
    return any(r is None or (isinstance(r, list) and None in r) for r in resolve(meta, key)[1])


Pred = Callable[[dict[str, Any]], bool]
Case = tuple[Any, Pred]
keys = st.sampled_from(KEYS)
flat_keys = st.sampled_from(FLAT_KEYS)
exact_values = st.sampled_from(EXACT)
numeric_bounds = st.sampled_from(NUMERIC_BOUNDS)
date_bounds = st.sampled_from(DATE_BOUNDS)


def bounds_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(["gt", "gte", "lt", "lte"]), values, min_size=1, max_size=2)


ranges = bounds_of(numeric_bounds) | bounds_of(date_bounds)


# -- Qdrant-shaped dicts (the Python API), with Qdrant's documented semantics ---------------------------------
@st.composite
def qdrant_condition(draw: st.DrawFn) -> Case:
    key = draw(keys)
    kind = draw(st.sampled_from(["value", "any", "except", "range", "is_empty", "is_null"]))
    if kind == "value":
        v = draw(exact_values)
        return {"key": key, "match": {"value": v}}, lambda m: has_equal(m, key, v)
    if kind == "any":
        vs = draw(st.lists(exact_values, min_size=1, max_size=3))
        return {"key": key, "match": {"any": vs}}, lambda m: any(has_equal(m, key, v) for v in vs)
    if kind == "except":  # "at least one value not matching any of the given values"
        vs = draw(st.lists(st.sampled_from([v for v in EXACT if isinstance(v, str)]), min_size=1, max_size=3) |
                  st.lists(st.sampled_from([v for v in EXACT if number(v)]), min_size=1, max_size=3))
        return ({"key": key, "match": {"except": vs}},
                lambda m: any(e is not None and not any(same(e, v) for v in vs) for e in items(m, key)))
    if kind == "range":
        b = draw(ranges)
        return {"key": key, "range": b}, lambda m: any(in_range(e, b) for e in items(m, key))
    flat = draw(flat_keys)
    if kind == "is_empty":
        return {"is_empty": {"key": flat}}, lambda m: is_empty(m, flat)
    return {"is_null": {"key": flat}}, lambda m: is_null(m, flat)


def qdrant_clause(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    parts = st.lists(children, max_size=3)

    def build(must: list[Case], should: list[Case], must_not: list[Case]) -> Case:
        flt = {"must": [c for c, _ in must], "should": [c for c, _ in should], "must_not": [c for c, _ in must_not]}
        return flt, lambda m: (all(p(m) for _, p in must) and (not should or any(p(m) for _, p in should))
                               and not any(p(m) for _, p in must_not))

    return st.builds(build, parts, parts, parts)


qdrant_filters = qdrant_clause(st.recursive(qdrant_condition(), qdrant_clause, max_leaves=6))


# -- plain dicts (the Python API) ---------------------------------------------------------------------------------
@st.composite
def plain_filters(draw: st.DrawFn) -> Case:
    chosen = draw(st.lists(keys, min_size=1, max_size=3, unique=True))
    flt: dict[str, Any] = {}
    preds: list[Pred] = []
    for key in chosen:
        kind = draw(st.sampled_from(["value", "list", "range"]))
        if kind == "value":
            v = draw(exact_values)
            flt[key] = v
            preds.append(lambda m, key=key, v=v: has_equal(m, key, v))
        elif kind == "list":
            vs = draw(st.lists(exact_values, min_size=1, max_size=3))
            flt[key] = vs
            preds.append(lambda m, key=key, vs=vs: any(has_equal(m, key, v) for v in vs))
        else:
            b = draw(ranges)
            flt[key] = b
            preds.append(lambda m, key=key, b=b: any(in_range(e, b) for e in items(m, key)))
    return flt, lambda m: all(p(m) for p in preds)


# -- LangChain's $-operators, with MongoDB's semantics ---------------------------------------------------------
comparable = st.sampled_from([*EXACT, *FLOATS])


@st.composite
def mongo_field(draw: st.DrawFn) -> Case:
    key = draw(keys)
    op = draw(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "plain"]))
    if op in ("$eq", "$ne"):
        v = draw(comparable | (st.just(None) if key in FLAT_KEYS else comparable))

        def eq(m: dict[str, Any], key: str = key, v: Any = v) -> bool:
            return missing_or_null(m, key) if v is None else has_equal(m, key, v)

        return {key: {op: v}}, (eq if op == "$eq" else lambda m: not eq(m))
    if op in ("$gt", "$gte", "$lt", "$lte"):
        b = draw(numeric_bounds | date_bounds)
        return {key: {op: b}}, lambda m: any(in_range(e, {op[1:]: b}) for e in items(m, key))
    if op in ("$in", "$nin"):
        vs = draw(st.lists(comparable | (st.just(None) if key in FLAT_KEYS else comparable), max_size=3))

        def in_(m: dict[str, Any], key: str = key, vs: list[Any] = vs) -> bool:
            return any(missing_or_null(m, key) if v is None else has_equal(m, key, v) for v in vs)

        return {key: {op: vs}}, (in_ if op == "$in" else lambda m: not in_(m))
    if op == "$exists":  # MongoDB: the document has the field, whatever its value (null included)
        flag = draw(st.booleans())
        return {key: {"$exists": flag}}, lambda m: resolve(m, key)[0] == flag
    v = draw(exact_values)
    return {key: v}, lambda m: has_equal(m, key, v)


def mongo_logic(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    def both(parts: list[Case]) -> Case:  # several keys in one dict: all hold (parts sharing a key are left out)
        flt: dict[str, Any] = {}
        kept: list[Case] = []
        for c, p in parts:
            if not set(c) & set(flt):
                flt.update(c)
                kept.append((c, p))
        return flt, lambda m: all(p(m) for _, p in kept)

    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(
            lambda cs: ({"$and": [c for c, _ in cs]}, lambda m: all(p(m) for _, p in cs))),
        st.lists(children, min_size=1, max_size=3).map(
            lambda cs: ({"$or": [c for c, _ in cs]}, lambda m: any(p(m) for _, p in cs))),
        children.map(lambda c: ({"$not": c[0]}, lambda m: not c[1](m))),
        st.lists(children, min_size=2, max_size=3).map(both),
    )


mongo_filters = st.recursive(mongo_field(), mongo_logic, max_leaves=6)


# -- Haystack, with Haystack's documented semantics ------------------------------------------------------------
@st.composite
def haystack_comparison(draw: st.DrawFn) -> Case:
    key = draw(keys)
    op = draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<=", "in", "not in"]))
    field = f"meta.{key}"
    none = st.just(None) if key in FLAT_KEYS else comparable
    if op in ("==", "!="):
        v = draw(comparable | none)

        def eq(m: dict[str, Any], key: str = key, v: Any = v) -> bool:
            return missing_or_null(m, key) if v is None else has_equal(m, key, v)

        return {"field": field, "operator": op, "value": v}, (eq if op == "==" else lambda m: not eq(m))
    if op in ("in", "not in"):
        vs = draw(st.lists(comparable | none, max_size=3))

        def in_(m: dict[str, Any], key: str = key, vs: list[Any] = vs) -> bool:
            return any(missing_or_null(m, key) if v is None else has_equal(m, key, v) for v in vs)

        return {"field": field, "operator": op, "value": vs}, (in_ if op == "in" else lambda m: not in_(m))
    b = draw(numeric_bounds | date_bounds | st.just(None))
    name = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
    return ({"field": field, "operator": op, "value": b},
            lambda m: b is not None and any(in_range(e, {name: b}) for e in items(m, key)))


def haystack_logic(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    def build(op: str, cs: list[Case]) -> Case:  # Haystack: AND all, OR any, NOT not all (of none: false)
        flt = {"operator": op, "conditions": [c for c, _ in cs]}
        if op == "AND":
            return flt, lambda m: all(p(m) for _, p in cs)
        if op == "OR":
            return flt, lambda m: any(p(m) for _, p in cs)
        return flt, lambda m: not all(p(m) for _, p in cs)

    return st.builds(build, st.sampled_from(["AND", "OR", "NOT"]), st.lists(children, max_size=3))


haystack_filters = st.recursive(haystack_comparison(), haystack_logic, max_leaves=6)


# -- LlamaIndex MetadataFilters, with LlamaIndex's semantics ---------------------------------------------------
def llama_case(draw: st.DrawFn) -> Case:
    from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter

    key = draw(keys)
    scalars = st.sampled_from([v for v in [*EXACT, *FLOATS] if not isinstance(v, bool)])
    homogeneous = st.sampled_from([str, int, float]).flatmap(
        lambda t: st.lists(st.sampled_from([v for v in [*EXACT, *FLOATS] if type(v) is t]), max_size=3))
    op = draw(st.sampled_from(list(FilterOperator)))
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        op = FilterOperator.EQ
    if op in (FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY, FilterOperator.ALL):
        raw: Any = draw(homogeneous.filter(lambda vs: bool(vs) or op != FilterOperator.ALL))
    elif op in (FilterOperator.GT, FilterOperator.GTE, FilterOperator.LT, FilterOperator.LTE):
        raw = draw(st.sampled_from([b for b in NUMERIC_BOUNDS if b != 1e19]))
    elif op == FilterOperator.IS_EMPTY:
        key, raw = draw(flat_keys), None
    else:  # None: == never matches and != always does, as LlamaIndex's own store (contains takes a value)
        raw = draw(scalars | (st.just(None) if op != FilterOperator.CONTAINS else scalars))
    f = MetadataFilter(key=key, value=raw, operator=op)
    v: Any = f.value  # as LlamaIndex normalised it

    def pred(m: dict[str, Any]) -> bool:
        if op == FilterOperator.IS_EMPTY:  # "the field is not exist or empty (null or empty array)"
            return is_empty(m, key)
        if op == FilterOperator.NE:
            return not (v is not None and has_equal(m, key, v))
        if op == FilterOperator.NIN:
            return not any(has_equal(m, key, x) for x in v)
        if op in (FilterOperator.EQ, FilterOperator.CONTAINS):
            return v is not None and has_equal(m, key, v)
        if op in (FilterOperator.IN, FilterOperator.ANY):
            return any(has_equal(m, key, x) for x in v)
        if op == FilterOperator.ALL:
            return all(has_equal(m, key, x) for x in v)
        return any(in_range(e, {op.name.lower(): v}) for e in items(m, key))

    return f, pred


def llama_filters_of(children: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    from llama_index.core.vector_stores.types import FilterCondition, MetadataFilters

    def build(condition: Any, cs: list[Case]) -> Case:
        flt = MetadataFilters(filters=[c for c, _ in cs], condition=condition)
        if not cs:
            return flt, lambda m: True
        if condition == FilterCondition.OR:
            return flt, lambda m: any(p(m) for _, p in cs)
        if condition == FilterCondition.NOT:  # as LlamaIndex's own store: none of them matches
            return flt, lambda m: not any(p(m) for _, p in cs)
        return flt, lambda m: all(p(m) for _, p in cs)

    return st.builds(build, st.sampled_from(list(FilterCondition)), st.lists(children, max_size=3))


@st.composite
def llama_filters(draw: st.DrawFn) -> Case:
    leaf = st.composite(lambda d: llama_case(d))()
    return draw(llama_filters_of(st.recursive(leaf, llama_filters_of, max_leaves=5)))


# -- the CLI's --filter items, as the README documents them ----------------------------------------------------
CLI_KEYS = [k for k in KEYS if not re.search(r"[=!<>:]", k)]


@st.composite
def cli_filters(draw: st.DrawFn) -> Case:
    items_: list[str] = []
    equal_to: dict[str, list[Any]] = {}
    preds: list[Pred] = []
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(CLI_KEYS))
        op = draw(st.sampled_from(["=", ":=", "!=", "!:=", ">=", ">", "<=", "<"]))
        if op in ("=", "!="):  # the string VALUE exactly
            v: Any = draw(st.sampled_from([s for s in EXACT if isinstance(s, str) and s]))
            items_.append(f"{key}{op}{v}")
        elif op in (":=", "!:="):  # a number, boolean or quoted string
            v = draw(exact_values)
            items_.append(f"{key}{op}{json.dumps(v)}")
        else:
            v = draw(numeric_bounds | date_bounds)
            items_.append(f"{key}{op}{v}")
            name = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
            preds.append(lambda m, key=key, name=name, v=v: any(in_range(e, {name: v}) for e in items(m, key)))
            continue
        if op.startswith("!"):  # excludes the value (documents without KEY stay in)
            preds.append(lambda m, key=key, v=v: not has_equal(m, key, v))
        else:
            equal_to.setdefault(key, []).append(v)
    for key, vs in equal_to.items():  # a key given twice accepts either value
        preds.append(lambda m, key=key, vs=vs: any(has_equal(m, key, v) for v in vs))
    return items_, lambda m: all(p(m) for p in preds)


# -- the properties ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=qdrant_filters)
def test_qdrant_shaped_dicts(stores: dict[str, VectorStore], backend: str, case: Case) -> None:
    check(stores[backend], case[0], case[1])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=plain_filters())
def test_plain_dicts(stores: dict[str, VectorStore], backend: str, case: Case) -> None:
    check(stores[backend], case[0], case[1])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=mongo_filters)
def test_langchain_operators(stores: dict[str, VectorStore], backend: str, case: Case) -> None:
    check(stores[backend], case[0], case[1])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=haystack_filters)
def test_haystack_filters(stores: dict[str, VectorStore], backend: str, case: Case) -> None:
    check(stores[backend], from_haystack(case[0], HAYSTACK_FIELDS), case[1])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=llama_filters())
def test_llamaindex_metadata_filters(stores: dict[str, VectorStore], backend: str, case: Case) -> None:
    from llama_index.retrievers.recallrank.base import from_metadata_filters

    check(stores[backend], from_metadata_filters(case[0]), case[1])


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=cli_filters())
def test_cli_filter_items(stores: dict[str, VectorStore], backend: str, case: Case) -> None:
    check(stores[backend], parse_filters(case[0]), case[1])


# -- keys: each is refused when written, or every dialect reaches it ---------------------------------------------
_written = {"n": 0}


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(key=st.text(min_size=1, max_size=6) |
       st.sampled_from(["a.b", "@x", "$x", "a[]", 'q"', "a\\b", " ", "x y", "0\n", "a-b", "ключ"]),
       nested=st.booleans())
def test_a_key_is_refused_when_written_or_every_dialect_reaches_it(key_stores: dict[str, VectorStore],
                                                                   backend: str, key: str, nested: bool) -> None:
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
    from llama_index.retrievers.recallrank.base import from_metadata_filters

    _written["n"] += 1
    value = f"value {_written['n']}"
    meta = {"odd": {key: value}} if nested else {key: value}
    try:
        check_metadata(meta, "document")
    except InvalidInputError:
        return  # refused before anything is written, by every door (they all call check_metadata)
    store = key_stores[backend]
    doc = Document("odd key", meta, id=f"odd-{_written['n']}")
    store.upsert([StoredPoint(point_id(doc), QUERY.tolist(), to_payload(doc))])  # no index build per example
    path = f"odd.{key}" if nested else key
    dialects: list[Any] = [
        {"must": [{"key": path, "match": {"value": value}}]},
        {path: value},
        {path: {"$eq": value}},
        {"$and": [{path: {"$exists": True}}, {path: {"$in": [value]}}]},
        from_haystack({"field": f"meta.{path}", "operator": "==", "value": value}, HAYSTACK_FIELDS),
        from_metadata_filters(MetadataFilters(filters=[MetadataFilter(key=path, value=value)])),
    ]
    if not re.search(r"[=!<>:]", path) and path == path.strip():
        dialects.append(parse_filters([f"{path}={value}"]))
    try:
        for flt in dialects:
            assert selected(store, flt) == {doc.id}, (key, flt)
    finally:
        store.delete([point_id(doc)])  # the store stays small however many examples run


# -- issue 21, item 8: the cases as the issue describes them, on both backends -----------------------------------
@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    s: VectorStore = EdgeStore(tmp_path, "issue21") if request.param == "edge" else \
        QdrantServerStore(location=":memory:", name="issue21")
    yield s
    s.close()


def ingest(store: VectorStore, metas: list[dict[str, Any]]) -> None:
    TwoStageRetriever(store, HashEncoder(), False).add_documents(  # type: ignore[arg-type]
        [Document(f"doc {i}", m, id=f"d{i}") for i, m in enumerate(metas)])


def count_of(store: VectorStore, flt: Any) -> int:
    return len(selected(store, flt))


def test_match_except_keeps_documents_holding_another_type(store: VectorStore) -> None:
    """`match except ["02139"]` returned 16 of 32: the integer zip 2139 is not the string "02139"."""
    ingest(store, [{"zip": "02139"}] * 16 + [{"zip": 2139}] * 16 + [{"zip": "10001"}] * 16)
    flt = {"must": [{"key": "zip", "match": {"except": ["02139"]}}]}
    assert count_of(store, flt) == 32
    assert count_of(store, Filter(must=(MatchExcept("zip", (2139,)),))) == 32  # the string "02139" is not 2139
    assert count_of(store, {"must": [{"key": "zip", "match": {"except": ["02139", "10001"]}}]}) == 16


def test_langchain_exists_asks_whether_the_key_is_present(store: VectorStore) -> None:
    """$exists: true counts nulls and []; $exists: false counts only documents without the key."""
    ingest(store, [{"zip": "02139"}] * 47 + [{"zip": None}] * 4 + [{"zip": []}] * 6 + [{"other": 1}] * 32)
    assert count_of(store, {"zip": {"$exists": True}}) == 57
    assert count_of(store, {"zip": {"$exists": False}}) == 32
    assert count_of(store, {"$not": {"zip": {"$exists": True}}}) == 32


def test_exists_on_a_collection_written_before_the_record_is_refused_not_guessed(store: VectorStore) -> None:
    from recallrank.filters import PATHS_FIELD

    ingest(store, [{"zip": []}, {"zip": []}])
    old = point_id(Document("doc 1", {"zip": []}, id="d1"))
    if isinstance(store, EdgeStore):  # the point as an earlier release wrote it: no record
        import qdrant_edge as qe

        store.shard().update(qe.UpdateOperation.delete_payload([old], [PATHS_FIELD]))
    else:
        store.client.delete_payload(store.name, keys=[PATHS_FIELD], points=[old])  # type: ignore[attr-defined]
    with pytest.raises(InexactFilterError, match=r"1 points were written before.*\$exists on 'zip'.*--into NEW"):
        store.count({"zip": {"$exists": False}})
    assert store.count({"zip": {"$in": ["x"]}}) == 0  # filters that need no record still run


def test_haystack_or_of_no_conditions_matches_nothing(store: VectorStore) -> None:
    ingest(store, [{"n": i} for i in range(10)])
    assert count_of(store, from_haystack({"operator": "OR", "conditions": []}, HAYSTACK_FIELDS)) == 0
    assert count_of(store, from_haystack({"operator": "NOT", "conditions": []}, HAYSTACK_FIELDS)) == 0
    assert count_of(store, from_haystack({"operator": "AND", "conditions": []}, HAYSTACK_FIELDS)) == 10
    nested = {"operator": "AND", "conditions": [{"field": "meta.n", "operator": ">=", "value": 5},
                                                {"operator": "OR", "conditions": []}]}
    assert count_of(store, from_haystack(nested, HAYSTACK_FIELDS)) == 0


def test_haystack_document_store_or_of_no_conditions(tmp_path: Path) -> None:
    from haystack import Document as HaystackDocument
    from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore

    ds = RecallrankDocumentStore(path=str(tmp_path), embedding_dim=3)
    ds.write_documents([HaystackDocument(content=f"d{i}", meta={"n": i}, embedding=[1.0, 0.0, float(i)])
                        for i in range(4)])
    assert ds.filter_documents({"operator": "OR", "conditions": []}) == []
    assert ds.count_documents_by_filter({"operator": "OR", "conditions": []}) == 0
    assert ds.embedding_retrieval([1.0, 0.0, 0.0], filters={"operator": "OR", "conditions": []}) == []
    with pytest.raises(ValueError, match=r"'a.b', which holds '.'.*nest it"):
        ds.write_documents([HaystackDocument(content="dotted", meta={"a.b": 1})])
    assert ds.count_documents() == 4
    ds.close()


def test_haystack_retrieval_of_more_documents_than_a_filter_list_holds() -> None:
    """embedding_retrieval reads its hits' payloads by id: in lists within the cap, whatever top_k is."""
    from haystack import Document as HaystackDocument
    from haystack_integrations.document_stores.recallrank import RecallrankDocumentStore

    ds = RecallrankDocumentStore(location=":memory:", embedding_dim=2)
    n = MAX_FILTER_VALUES + 76
    ds.write_documents([HaystackDocument(content=f"d{i}", meta={"i": i}, embedding=[1.0, i / n]) for i in range(n)])
    got = ds.embedding_retrieval([1.0, 0.0], top_k=n)
    assert len(got) == n and {d.meta["i"] for d in got} == set(range(n))
    ds.close()


def test_a_dotted_key_is_refused_by_every_door_before_anything_is_written(store: VectorStore) -> None:
    ingest(store, [{"a": {"b": 1}}])
    with pytest.raises(InvalidInputError, match=r"'a.b', which holds '.'.*rename it \(e.g. 'a_b'\) or nest it"):
        ingest(store, [{"ok": 1}, {"a.b": 1}])
    bad = Document("raw", {"x.y": 1})
    with pytest.raises(InvalidInputError, match=r"'x.y', which holds '.'"):
        store.upsert([StoredPoint(point_id(bad), [1.0] * 8, to_payload(bad))])
    assert store.count() == 1
    assert count_of(store, {"a.b": 1}) == 1  # the nested key is the one a filter reads as a.b


def test_deep_filters_give_a_clear_error_through_search(store: VectorStore) -> None:
    ingest(store, [{"a": 1}])
    deep: Any = {"a": 1}
    for _ in range(200):
        deep = {"$not": deep}
    must: Any = {"key": "a", "match": {"value": 1}}
    for _ in range(400):
        must = {"must": [must]}
    hay: Any = {"field": "meta.a", "operator": "==", "value": 1}
    for _ in range(2000):
        hay = {"operator": "NOT", "conditions": [hay]}
    for flt in (deep, must):
        with pytest.raises(FilterValueError, match=rf"nested more than {MAX_FILTER_DEPTH} levels deep"):
            store.search(QUERY, 5, flt)
    with pytest.raises(FilterValueError, match=rf"nested more than {MAX_FILTER_DEPTH} levels deep"):
        from_haystack(hay, HAYSTACK_FIELDS)


# -- issue 21, item 9: a search never writes; lists are capped ---------------------------------------------------
def schema(store: VectorStore) -> dict[str, str] | None:
    from tests.store_contract import payload_indexes

    return payload_indexes(store)


def test_a_filter_on_new_keys_leaves_the_payload_schema_unchanged(store: VectorStore) -> None:
    ingest(store, [{"lang": "en", "year": 2020 + i % 5} for i in range(20)])
    before = schema(store)
    assert store.count({"lnag": "en"}) == 0  # a typo
    assert store.count({f"key{i}": i for i in range(200)}) == 0
    assert store.count({"lang": "en", "year": 2021}) == 4
    assert store.search(QUERY, 5, {"must": [{"key": "other", "match": {"except": ["x"]}}]}) == []
    assert store.count({"$or": [{"k": {"$exists": True}}, {"day": {"$gte": "2024-01-01"}}]}) == 0
    assert schema(store) == before
    assert before is None or {"metadata.lang", "metadata.year"} <= set(before)  # made when written


def test_a_long_list_is_refused_naming_the_cap(store: VectorStore) -> None:
    ingest(store, [{"flag": True}, {"flag": 1}])
    with pytest.raises(FilterValueError, match=rf"100,000 values, over the {MAX_FILTER_VALUES:,} a list may hold"):
        store.search(QUERY, 5, {"flag": [True, 1] * 50_000})
    assert count_of(store, {"flag": [True, 1]}) == 2


def test_an_old_integer_index_is_refused_where_it_would_answer_wrong(tmp_path: Path) -> None:
    """An earlier recallrank made an integer index from `{"n": 3}`; Qdrant then answers ranges from it and skips
    1.5. A search says so (and how to replace it) instead of returning fewer documents."""
    import qdrant_edge as qe

    store = EdgeStore(tmp_path, "old")
    ingest(store, [{"n": 1.5}, {"n": 3}, {"n": "3"}])
    store.shard().update(qe.UpdateOperation.create_field_index("metadata.n", qe.PayloadSchemaType.Integer))
    store._indexed = None  # as a store opened afresh reads it
    with pytest.raises(InexactFilterError, match=r"metadata.n has a integer payload index.*create_payload_index"):
        store.count({"n": {"gte": 1}})
    assert store.count({"n": "3"}) == 1  # a string match is answered exactly through it
    store.create_payload_index("n", "float")
    assert store.count({"n": {"gte": 1}}) == 2 and store.count({"n": 3}) == 1
    store.close()


def test_match_except_model_refuses_mixed_types() -> None:
    with pytest.raises(FilterValueError, match="one type"):
        as_filter({"must": [{"key": "zip", "match": {"except": ["02139", 2139]}}]})
