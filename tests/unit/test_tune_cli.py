"""``recallrank tune`` and the calibrated fields of ``recallrank search``, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recallrank.datasets import load_dataset
from tests.unit.test_cli import one_line_error, run


@pytest.fixture(scope="module")
def faq(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A collection of FAQ answers (the dev split's judged ones and 60 others) and its 58 labelled questions."""
    root = tmp_path_factory.mktemp("tune")
    ds = load_dataset("faq-en", "dev")
    judged = {d for rels in ds.qrels.values() for d in rels}
    keep = [d for d in ds.corpus if d in judged] + [d for d in ds.corpus if d not in judged][:60]
    (root / "faq.jsonl").write_text("".join(json.dumps({"id": d, "text": ds.corpus[d]}) + "\n" for d in keep))
    (root / "labels.jsonl").write_text("".join(json.dumps({"query": ds.queries[q], "positive_id": d}) + "\n"
                                               for q, rels in ds.qrels.items() for d in rels))
    out = run("index", str(root / "faq.jsonl"), "--path", str(root / "index"), "--no-progress",
              "--chunk-size", "0")
    assert out.returncode == 0, out.stderr
    return root / "index", root / "labels.jsonl"


def test_search_json_carries_probability_and_abstention(faq: tuple[Path, Path]) -> None:
    index, _ = faq
    data = json.loads(run("search", "How do I encrypt a disk partition?", "--path", str(index), "--json").stdout)
    assert {"abstained", "best_probability", "calibration", "min_probability", "skipped"} <= set(data)
    assert data["calibration"].startswith("shipped") and data["min_probability"] == 0.15
    assert all(0.15 <= r["probability"] <= 1 for r in data["results"])
    off = json.loads(run("search", "what is the boiling point of olive oil in a frying pan", "--path", str(index),
                         "--json").stdout)
    assert off["abstained"] is True and off["results"] == [] and off["best_probability"] < 0.15
    text = run("search", "what is the boiling point of olive oil in a frying pan", "--path", str(index)).stdout
    assert "abstained: no result reaches min_probability 0.15" in text
    shown = run("search", "what is the boiling point of olive oil in a frying pan", "--path", str(index),
                "--min-probability", "0", "--top-n", "2").stdout
    assert shown.count("p 0.") == 2 and "calibrated probability of relevance, shipped" in shown


def test_tune_refuses_too_few_labels_and_writes_nothing(faq: tuple[Path, Path], tmp_path: Path) -> None:
    index, labels = faq
    few = tmp_path / "few.jsonl"
    few.write_text("".join(labels.read_text().splitlines(keepends=True)[:10]))
    one_line_error(run("tune", str(few), "--path", str(index)), "give at least 45")


def test_tune_prints_before_after_and_stores_with_the_collection(faq: tuple[Path, Path]) -> None:
    index, labels = faq
    out = run("tune", str(labels), "--path", str(index), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["queries"] == 58 and report["fit"] + report["held_out"] == 58
    assert report["pipeline"] == "all-MiniLM-L6-v2 > maxsim(zero-shot:all-MiniLM-L6-v2)"
    before, after = report["before"], report["after"]
    assert after["ndcg@10"] >= before["ndcg@10"]  # never a worse ranking on the held-out part
    if report["written"]:
        assert "calibration" in report["kept"] or "ranking" in report["kept"]
        data = json.loads(run("search", "How can R be installed?", "--path", str(index), "--json").stdout)
        if "calibration" in report["kept"]:
            assert data["calibration"].startswith("tuned on this collection")
        if "ranking" in report["kept"]:
            assert data["recalled"] == report["settings"]["top_k"]
    else:
        assert report["settings"] == {}
