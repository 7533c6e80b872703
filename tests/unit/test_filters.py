"""The one filter model: every front end's dialect reads into it, with clear errors; execution is tested in the
store contract (tests/store_contract.py) on every backend."""

from __future__ import annotations

from datetime import datetime

import pytest

from recallrank.cli.filters import parse_filters
from recallrank.documents import check_metadata
from recallrank.errors import InvalidInputError
from recallrank.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    Exists,
    Filter,
    FilterValueError,
    IsNull,
    Match,
    MatchAny,
    MatchExcept,
    Nothing,
    Range,
    as_filter,
    from_haystack,
    from_mongo,
    missing_or_null,
)


def test_plain_dicts_qdrant_dicts_and_mongo_dicts_read_into_one_model() -> None:
    expected = Filter(must=(Match("lang", "en"), Range("year", gte=2020)))
    assert as_filter({"lang": "en", "year": {"gte": 2020}}) == expected
    assert as_filter({"must": [{"key": "lang", "match": {"value": "en"}},
                               {"key": "year", "range": {"gte": 2020}}]}) == Filter(must=expected.must)
    assert from_mongo({"$and": [{"lang": {"$eq": "en"}}, {"year": {"$gte": 2020}}]}) == \
        Filter(must=(Filter(must=(Filter(must=(Match("lang", "en"),)), Filter(must=(Range("year", gte=2020),)))),))
    assert as_filter({"year": {"$gte": 2020}}) == Filter(must=(Range("year", gte=2020),))  # LangChain dicts too
    assert as_filter({"tag": ["a", "b"]}) == Filter(must=(MatchAny("tag", ("a", "b")),))
    assert as_filter(None) is None and as_filter({}) is None and as_filter(Filter()) is None


def test_haystack_semantics() -> None:
    assert from_haystack({"field": "meta.n", "operator": "==", "value": None}) == Filter(must=(missing_or_null("n"),))
    assert missing_or_null("n") == Filter(should=(Filter(must_not=(Exists("n"),)), IsNull("n")))
    assert from_haystack({"field": "meta.n", "operator": ">", "value": None}) == Filter(must=(Nothing(),))
    assert from_haystack({"field": "meta.n", "operator": "!=", "value": 3}) == \
        Filter(must=(Filter(must_not=(Match("n", 3),)),))
    not_and = from_haystack({"operator": "NOT", "conditions": [{"field": "meta.a", "operator": "==", "value": 1}]})
    assert not_and == Filter(must=(Filter(must_not=(Filter(must=(Match("a", 1),)),)),))
    assert from_haystack({"field": "content", "operator": "==", "value": "x"}, {"content": "text"}) == \
        Filter(must=(Match("text", "x"),))
    date = from_haystack({"field": "meta.d", "operator": ">=", "value": "1972-12-11T19:54:58"})
    assert date is not None and isinstance(date.must[0], Range) and date.must[0].is_datetime


@pytest.mark.parametrize(("bad", "message"), [
    ({"field": "meta.n", "operator": ">", "value": "1"}, r"'meta.n' with operator '>'.*ISO 8601"),
    ({"field": "meta.n", "operator": ">", "value": [1]}, r"'meta.n' with operator '>'.*number"),
    ({"field": "meta.n", "operator": "in", "value": 9}, r"'in'.*must be a list"),
    ({"field": "meta.n", "operator": "in", "value": (1, 2)}, r"must be a list, got tuple"),
    ({"field": "meta.n", "operator": "~", "value": 1}, r"'~'.*unsupported; use one of ==, !="),
    ({"operator": "AND"}, r"needs a 'conditions' list"),
    ({"conditions": []}, r"missing 'operator'"),
    ({"operator": "AND", "conditions": [{"field": "meta.n", "value": 1}]}, r"missing 'operator'"),
    ({"operator": "XOR", "conditions": []}, r"'XOR' is not one of AND, OR, NOT"),
])
def test_haystack_errors_name_field_operator_and_what_is_accepted(bad: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        from_haystack(bad)


@pytest.mark.parametrize(("bad", "message"), [
    ({"n": 1.5}, r"match values must be str, int or bool.*range"),
    ({"n": {"gt": 1, "lt": datetime(2020, 1, 1)}}, r"mixes numbers and datetimes"),
    ({"n": {"$regex": "x"}}, r"'\$regex' is not supported; use one of"),
    ({"$nor": []}, r"'\$nor' is not supported"),
    ({"n": {"$exists": 1}}, r"\$exists: expects true or false"),
    ({"must": [{"key": "n"}]}, r"give 'match'.*or 'range'"),
    (["n"], r"filter must be a dict"),
])
def test_bad_filters(bad: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        as_filter(bad)


def test_cli_filter_items() -> None:
    assert parse_filters(["lang=en", "lang=zh", "year>=2020", "day<2024-06-01", "draft!:=true", "src!=faq"]) == \
        Filter(must=(MatchAny("lang", ("en", "zh")), Range("year", gte=2020), Range("day", lt="2024-06-01")),
               must_not=(Match("draft", True), Match("src", "faq")))
    assert parse_filters([]) is None
    with pytest.raises(InvalidInputError, match="ISO 8601"):
        parse_filters(["year>=soon"])
    with pytest.raises(InvalidInputError, match="KEY=VALUE"):
        parse_filters(["oops"])


def test_haystack_logic_of_no_conditions_follows_haystack() -> None:
    """Haystack's own filter code: AND of nothing is true, OR of nothing false, NOT of nothing (not AND) false."""
    def logic(op: str) -> object:
        return from_haystack({"operator": op, "conditions": []})

    assert logic("OR") == Filter(must=(Nothing(),))
    assert logic("NOT") == Filter(must=(Nothing(),))
    assert logic("AND") == Filter(must=(Filter(),))
    assert from_haystack({"field": "meta.n", "operator": "in", "value": []}) == Filter(must=(Nothing(),))
    assert from_haystack({"field": "meta.n", "operator": "not in", "value": []}) == Filter(must=(Filter(),))


def test_langchain_exists_asks_whether_the_key_is_there() -> None:
    assert from_mongo({"zip": {"$exists": True}}) == Filter(must=(Exists("zip"),))
    assert from_mongo({"zip": {"$exists": False}}) == Filter(must=(Filter(must_not=(Exists("zip"),)),))
    assert from_mongo({"zip": {"$eq": None}}) == Filter(must=(missing_or_null("zip"),))
    with pytest.raises(InvalidInputError, match=r"\$or: expects a non-empty list"):
        from_mongo({"$or": []})


def test_match_except_takes_values_of_one_type_as_qdrant() -> None:
    assert MatchExcept("zip", ("02139",)).values == ("02139",)
    with pytest.raises(FilterValueError, match=r"one type.*must_not=\(MatchAny"):
        MatchExcept("zip", ("02139", 2139))
    with pytest.raises(FilterValueError, match="one type"):
        as_filter({"must": [{"key": "flag", "match": {"except": [True]}}]})


def nest(depth: int, leaf: object, wrap: object) -> object:
    for _ in range(depth):
        leaf = wrap(leaf)  # type: ignore[operator]
    return leaf


@pytest.mark.parametrize(("name", "parse", "flt"), [
    ("$not 200 deep", as_filter, nest(200, {"a": 1}, lambda f: {"$not": f})),
    ("Qdrant must 400 deep", as_filter, nest(400, {"key": "a", "match": {"value": 1}}, lambda f: {"must": [f]})),
    ("Haystack NOT 2,000 deep", from_haystack, nest(2000, {"field": "meta.a", "operator": "==", "value": 1},
                                                    lambda f: {"operator": "NOT", "conditions": [f]})),
    ("Filter 400 deep", as_filter, "filter"),
])
def test_deep_filters_are_refused_with_the_depth_cap_not_a_recursion_error(name: str, parse: object,
                                                                          flt: object) -> None:
    message = rf"nested more than {MAX_FILTER_DEPTH} levels deep"
    with pytest.raises(FilterValueError, match=message):
        if flt == "filter":
            inner: object = Match("a", 1)
            for _ in range(400):
                inner = Filter(must_not=(inner,))  # type: ignore[arg-type]
        else:
            parse(flt)  # type: ignore[operator]
    assert as_filter(nest(10, {"a": 1}, lambda f: {"$not": f})) is not None  # a translated NOT may take 2 levels
    assert as_filter(nest(MAX_FILTER_DEPTH - 1, {"key": "a", "match": {"value": 1}}, lambda f: {"must": [f]}))


@pytest.mark.parametrize("flt", [
    {"n": list(range(100_000))},
    {"n": [True, 1] * 50_000},
    {"n": {"$in": list(range(MAX_FILTER_VALUES + 1))}},
    {"n": {"$nin": ["x"] * (MAX_FILTER_VALUES + 1)}},
    {"must": [{"key": "n", "match": {"any": list(range(MAX_FILTER_VALUES + 1))}}]},
    {"must": [{"key": "n", "match": {"except": list(range(MAX_FILTER_VALUES + 1))}}]},
])
def test_long_value_lists_are_refused_naming_the_cap(flt: dict) -> None:
    with pytest.raises(FilterValueError, match=rf"over the {MAX_FILTER_VALUES:,} a list may hold"):
        as_filter(flt)
    with pytest.raises(FilterValueError, match=rf"over the {MAX_FILTER_VALUES:,}"):
        from_haystack({"field": "meta.n", "operator": "in", "value": list(range(MAX_FILTER_VALUES + 1))})
    assert as_filter({"n": list(range(MAX_FILTER_VALUES))}) is not None


@pytest.mark.parametrize(("metadata", "message"), [
    ({"a.b": 1}, r"'a.b', which holds '.'.*rename it \(e.g. 'a_b'\) or nest it \(\{'a': \{'b': ...\}\}\)"),
    ({"author": {"first.name": "ann"}}, r"metadata.author has the key 'first.name'"),
    ({"tags": [{"x.y": 1}]}, r"metadata.tags\[0\] has the key 'x.y'"),
    ({"a[]": 1}, r"holds '\[' and '\]'"),
    ({"@text": "x"}, r"starts with '@'"),
    ({"$or": 1}, r"starts with '\$'"),
    ({" ": 1}, r"is blank"),
    ({"a\\b": 1}, r"holds '\\\\'"),
])
def test_metadata_keys_no_filter_could_name_are_refused(metadata: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_metadata(metadata, "document 0")
    assert check_metadata({"the kind": 1, "a": {"@b": {"$c": 2}}, "ключ": [{"x-y": None}]}, "document 0")
