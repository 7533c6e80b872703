"""The one filter model: every front end's dialect reads into it, with clear errors; execution is tested in the
store contract (tests/store_contract.py) on every backend."""

from __future__ import annotations

from datetime import datetime

import pytest

from recallrank.cli.commands import parse_filters
from recallrank.errors import InvalidInputError
from recallrank.filters import (
    Filter,
    IsEmpty,
    Match,
    MatchAny,
    Nothing,
    Range,
    as_filter,
    from_haystack,
    from_mongo,
    payload_schema,
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
    assert from_haystack({"field": "meta.n", "operator": "==", "value": None}) == Filter(must=(IsEmpty("n"),))
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


def test_payload_schema_follows_the_values_compared() -> None:
    flt = as_filter({"lang": "en", "n": 3, "flag": True, "year": {"gte": 2020}, "day": {"lt": "2024-01-01"}})
    assert payload_schema(flt) == {"lang": "keyword", "n": "integer", "flag": "bool", "year": "float",
                                   "day": "datetime"}
