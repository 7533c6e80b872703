"""The default reranker's recipe (recipes/reranker_minilm.py) runs end to end on a tiny mixture (mining from Qdrant,
BCE, checkpoint, resume)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from recallrank import CrossEncoderReranker
from recipes.data.build import write_pairs
from recipes.data.pairs import Pair
from recipes.reranker_minilm import build_training_rows, parser, train

#: these tests are about training: see tests/conftest.py (trained models run on torch)
pytestmark = pytest.mark.usefixtures("trained_models_run_on_torch")


TOPICS = ["vector database", "green tea", "python packaging", "rust compiler", "apple orchard", "jazz piano",
          "linux kernel", "chess opening", "solar panel", "bread baking"]


def _pairs(domain: str) -> list[Pair]:
    return [Pair(f"{domain}:{i}", f"about {t}", f"A long text explaining {t} in {domain} terms, number {i}.",
                 f"g{i}") for i, t in enumerate(TOPICS)]


def test_rows_mix_positives_hard_and_random_negatives(tmp_path: Path) -> None:
    for d in ("a", "b"):
        write_pairs(_pairs(d), tmp_path / d / "train.jsonl")
    rows = build_training_rows(tmp_path, ("a", "b"), queries_per_domain=4, corpus_per_domain=10, n_hard=2,
                               n_random=1, seed=1, mining_max_length=64)
    assert len(rows["label"]) == 2 * 4 * 4
    assert sum(rows["label"]) == 8
    for q, t, y in zip(rows["query"], rows["text"], rows["label"], strict=True):
        topic = q.removeprefix("about ")
        assert (topic in t) == (y == 1.0), (q, t, y)  # every negative is another topic's text


def test_two_steps_train_save_and_load(tmp_path: Path) -> None:
    write_pairs(_pairs("a"), tmp_path / "pairs" / "a" / "train.jsonl")
    args = parser().parse_args(["--pairs", str(tmp_path / "pairs"), "--output", str(tmp_path / "run"),
                                "--domains", "a", "--layers", "1", "--queries-per-domain", "4",
                                "--corpus-per-domain", "10", "--max-steps", "2", "--batch-size", "4",
                                "--save-steps", "1", "--max-length", "64"])
    assert isinstance(args, argparse.Namespace)
    final = train(args)
    log = json.loads((tmp_path / "run" / "training_log.json").read_text())
    assert log["steps"] == 2 and log["rows"] == 16
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())[-1] == "checkpoint-2"
    scores = CrossEncoderReranker(str(final)).score("about green tea", ["text one", "text two"])
    assert scores.shape == (2,) and ((scores > 0) & (scores < 1)).all()
    again = train(args)  # resumes from checkpoint-2: nothing left to do, same model written
    assert again == final
