"""Mining hard negatives from a user's own collection: never the positive, likely false negatives skipped,
clear errors for bad input, and nothing in the index modified."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from recallrank import Document, EdgeStore, InvalidInputError, TwoStageRetriever
from recallrank.training.inputs import LabelledPair, read_pairs
from recallrank.training.mine import mine, write_jsonl
from tests.fakes import HashEncoder

TEXTS = [f"document number {i} about topic {i % 7}" for i in range(60)]


@pytest.fixture
def retriever(tmp_path: Path) -> Iterator[TwoStageRetriever]:
    store = EdgeStore(tmp_path / "index", "docs")
    r = TwoStageRetriever(store, HashEncoder(), False)  # type: ignore[arg-type]
    r.add_documents([Document(t, {"n": i}, id=f"d{i}") for i, t in enumerate(TEXTS)])
    yield r
    store.close()


def snapshot(r: TwoStageRetriever) -> dict[str, dict]:
    return dict(r.store.scroll(["text", "metadata", "doc_id", "content_hash"]))


def test_mining_never_returns_the_positive_and_leaves_the_index_alone(retriever: TwoStageRetriever,
                                                                      tmp_path: Path) -> None:
    before = snapshot(retriever)
    pairs = [LabelledPair(TEXTS[i], positive_id=f"d{i}", line=i + 1) for i in range(10)] + \
            [LabelledPair("a query", positive=TEXTS[3], line=11)]
    rows = list(mine(retriever, pairs, negatives=5, depth=30, margin=0.0))
    assert len(rows) == 11
    for row, pair in zip(rows, pairs, strict=True):
        assert row["positive"] not in row["negatives"] and row["positive_id"] not in row["negative_ids"]
        assert len(row["negatives"]) <= 5 and row["line"] == pair.line
        assert all(s <= row["positive_score"] for s in row["negative_scores"])
    assert snapshot(retriever) == before  # nothing written, changed or deleted
    out = tmp_path / "mined.jsonl"
    assert write_jsonl(iter(rows), out) == 11 and len(out.read_text().splitlines()) == 11


def test_margin_skips_likely_false_negatives(retriever: TwoStageRetriever) -> None:
    pair = [LabelledPair("a query", positive_id="d0", line=1)]
    loose = next(mine(retriever, pair, negatives=20, depth=40, margin=-10.0))  # accept anything
    strict = next(mine(retriever, pair, negatives=20, depth=40, margin=0.2))
    assert all(s <= strict["positive_score"] - 0.2 for s in strict["negative_scores"])
    assert len(strict["negatives"]) <= len(loose["negatives"])
    assert any(s > loose["positive_score"] - 0.2 for s in loose["negative_scores"])  # so the margin did skip some


def test_unknown_ids_and_bad_settings(retriever: TwoStageRetriever) -> None:
    with pytest.raises(InvalidInputError, match=r"2 positive_id\(s\) are not in the collection \(line 1: 'nope'"):
        list(mine(retriever, [LabelledPair("q", positive_id="nope", line=1),
                              LabelledPair("q", positive_id="gone", line=2)]))
    with pytest.raises(InvalidInputError, match="negatives <= depth"):
        list(mine(retriever, [LabelledPair("q", positive="x", line=1)], negatives=10, depth=5))


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"pairs.jsonl:2: not valid JSON"),
    ('["q", "p"]', r":2: a line must be a JSON object"),
    ('{"query": "q"}', r":2: give exactly one of 'positive'"),
    ('{"query": "q", "positive": "p", "positive_id": "d"}', r":2: give exactly one"),
    ('{"query": "", "positive": "p"}', r":2: 'query' must be a non-empty string"),
    ('{"query": "q", "positive": "p", "negatives": "n"}', r":2: 'negatives' must be a list"),
    ('{"query": "q", "positive": "p", "score": 3}', r":2: 'score' must be a number in \[0, 1\]"),
    ('{"query": "q", "positive": "p", "label": 1}', r":2: unknown field\(s\) \['label'\]"),
])
def test_malformed_lines_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"query": "fine", "positive": "ok"}) + "\n" + line + "\n")
    with pytest.raises(InvalidInputError, match=message):
        read_pairs(path)


def test_reads_valid_pairs_and_refuses_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "q", "positive_id": 7, "score": 0.5}\n\n{"query": "r", "positive": "p", '
                    '"negatives": ["n"]}\n')
    assert read_pairs(path) == [LabelledPair("q", positive_id="7", score=0.5, line=1),
                                LabelledPair("r", positive="p", negatives=("n",), line=3)]
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InvalidInputError, match="no pairs"):
        read_pairs(tmp_path / "empty.jsonl")
    with pytest.raises(InvalidInputError, match="no such file"):
        read_pairs(tmp_path / "missing.jsonl")
