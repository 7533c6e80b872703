"""The user-facing training toolkit on one-layer models and a few steps: every loss trains and its loss falls, the
output folder loads as the model, an interrupted run resumes, the CLI prints the before/after table, and bad input
is refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recallrank import BiEncoder, CrossEncoderReranker, Document, EdgeStore, InvalidInputError, TwoStageRetriever
from recallrank.training.distill import distill_rows, train_distill
from recallrank.training.inputs import LabelledPair, read_training_input, split_held_out
from recallrank.training.runs import RunFolder, Schedule
from recallrank.training.train_bi_encoder import bi_encoder_rows, train_bi_encoder
from recallrank.training.train_reranker import reranker_rows, train_reranker

#: these tests are about training: see tests/conftest.py (trained models run on torch)
pytestmark = pytest.mark.usefixtures("trained_models_run_on_torch")


TOPICS = ["vector database", "green tea", "python packaging", "rust compiler", "apple orchard", "jazz piano",
          "linux kernel", "chess opening"]
EXAMPLES = [(f"about {t}", f"A text explaining {t} in detail.", (f"A text explaining {TOPICS[(i + 1) % 8]} too.",))
            for i, t in enumerate(TOPICS)]


def schedule(steps: int = 8, **kw: Any) -> Schedule:
    return Schedule(**{"steps": steps, "batch_size": 4, "save_steps": 2, "max_length": 32, "progress": False,
                       "learning_rate": 1e-4, **kw})


def losses_of(out: Path) -> list[float]:
    return [h["loss"] for h in json.loads((out / "recallrank_training" / "log.json").read_text())["history"]]


@pytest.mark.parametrize("loss", ["mnrl", "cached"])
def test_bi_encoder_trains_loads_and_loss_falls(tiny_bi: str, tmp_path: Path, loss: str) -> None:
    out = train_bi_encoder(EXAMPLES, tmp_path / "bi", base=tiny_bi, loss=loss, hard_negatives=1,  # type: ignore[arg-type]
                           mini_batch_size=2, schedule=schedule())
    history = losses_of(out)
    assert len(history) == 4 and history[-1] < history[0], history
    vectors = BiEncoder(str(out)).encode_queries(["about green tea"])
    assert vectors.shape == (1, 384) and np.isfinite(vectors).all()
    assert BiEncoder(str(out)).warm_up().max_seq_length == BiEncoder(tiny_bi).warm_up().max_seq_length


@pytest.mark.parametrize("loss", ["bce", "mse", "margin", "listwise"])
def test_reranker_trains_loads_and_loss_falls(tiny_cross: str, tmp_path: Path, loss: str) -> None:
    examples = [(q, p, n, 0.9) for q, p, n in EXAMPLES]
    out = train_reranker(examples, tmp_path / "rr", base=tiny_cross, loss=loss, schedule=schedule())  # type: ignore[arg-type]
    history = losses_of(out)
    assert history[-1] < history[0], history
    scores = CrossEncoderReranker(str(out)).score("about green tea", [EXAMPLES[1][1], EXAMPLES[5][1]])
    assert scores.shape == (2,) and ((scores > 0) & (scores < 1)).all()


class _Teacher:
    """Scores a candidate by whether it mentions the query's topic: a known teacher distribution."""

    def logits(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return np.array([4.0 if q.removeprefix("about ") in d else -4.0 for q, d in pairs], dtype=np.float32)


@pytest.mark.parametrize("loss", ["kl", "margin-mse"])
def test_distillation_learns_the_teachers_order(tiny_bi: str, tmp_path: Path, loss: str) -> None:
    docs = [p for _, p, _ in EXAMPLES]
    queries = [(q, None) for q, _, _ in EXAMPLES]  # unlabelled: the teacher labels the candidates
    rows = distill_rows(queries, lambda qs: [docs[::-1] for _ in qs], _Teacher(), candidates=4)
    assert rows["label"][0] == [4.0, -4.0, -4.0, -4.0] or 4.0 not in rows["label"][0]
    out = train_distill(lambda: rows, tmp_path / "d", base=tiny_bi, loss=loss, schedule=schedule())  # type: ignore[arg-type]
    history = losses_of(out)
    assert history[-1] < history[0], history
    assert BiEncoder(str(out)).encode_documents(docs[:2]).shape == (2, 384)


def test_interrupted_run_resumes_from_its_checkpoint(tiny_bi: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    straight = train_bi_encoder(EXAMPLES, tmp_path / "straight", base=tiny_bi, schedule=schedule(steps=4))
    calls = {"n": 0}
    real = transformers.Trainer.training_step

    def flaky(self: Any, *args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a user's Ctrl-C after the step-2 checkpoint
        return real(self, *args, **kw)

    monkeypatch.setattr(transformers.Trainer, "training_step", flaky)
    with pytest.raises(KeyboardInterrupt):
        train_bi_encoder(EXAMPLES, tmp_path / "cut", base=tiny_bi, schedule=schedule(steps=4))
    assert RunFolder(tmp_path / "cut").last_checkpoint().endswith("checkpoint-2")  # type: ignore[union-attr]
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    monkeypatch.setattr(transformers.Trainer, "training_step", real)
    resumed = train_bi_encoder(EXAMPLES, tmp_path / "cut", base=tiny_bi, schedule=schedule(steps=4))
    log = json.loads((resumed / "recallrank_training" / "log.json").read_text())
    assert log["steps"] == 4
    texts = [p for _, p, _ in EXAMPLES]
    a, b = BiEncoder(str(straight)).encode_documents(texts), BiEncoder(str(resumed)).encode_documents(texts)
    assert np.allclose(a, b, atol=1e-4)  # the resumed run ends where the uninterrupted one did


def test_output_folder_is_claimed_before_anything_is_written(tiny_bi: str, tmp_path: Path) -> None:
    train_bi_encoder(EXAMPLES, tmp_path / "run", base=tiny_bi, schedule=schedule(steps=2))
    with pytest.raises(InvalidInputError, match=r"other settings \(.*temperature: 0.05 -> 0.1"):
        train_bi_encoder(EXAMPLES, tmp_path / "run", base=tiny_bi, temperature=0.1, schedule=schedule(steps=2))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not a recallrank training run"):
        train_bi_encoder(EXAMPLES, tmp_path / "busy", base=tiny_bi, schedule=schedule(steps=2))
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]


def test_losses_refuse_input_they_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="--loss mse regresses graded scores, but 8 of 8 pairs have no"):
        train_reranker([(q, p, n, None) for q, p, n in EXAMPLES], tmp_path / "x", loss="mse")
    with pytest.raises(InvalidInputError, match="--loss margin needs negatives, but 1 of 2 pairs have none"):
        reranker_rows([("q", "p", ("n",), None), ("q2", "p2", (), None)], "margin")
    assert not (tmp_path / "x").exists()
    with pytest.raises(InvalidInputError, match="at least 2 distinct queries"):
        train_bi_encoder(EXAMPLES[:1], tmp_path / "y")
    with pytest.raises(InvalidInputError, match=">= 2 candidates"):
        distill_rows([("q", None)], lambda qs: [["a"]], _Teacher(), candidates=1)
    with pytest.raises(InvalidInputError, match="temperature must be > 0"):
        train_bi_encoder(EXAMPLES, tmp_path / "z", temperature=0)


def test_rows_per_loss_and_random_fill() -> None:
    rows = bi_encoder_rows([("q1", "p1", ()), ("q2", "p2", ("n2",))], hard_negatives=1)
    assert rows == {"query": ["q1", "q2"], "positive": ["p1", "p2"], "negative_1": ["p2", "n2"]}
    assert reranker_rows([("q", "p", ("n1", "n2"), None)], "listwise") == \
        {"query": ["q"], "docs": [["p", "n1", "n2"]], "labels": [[1.0, 0.0, 0.0]]}
    assert reranker_rows([("q", "p", ("n",), 0.5)], "bce") == {"query": ["q", "q"], "text": ["p", "n"],
                                                              "label": [0.5, 0.0]}
    assert reranker_rows([("q", "p", ("n1", "n2"), None)], "margin")["negative"] == ["n1", "n2"]


def test_held_out_split_keeps_each_query_on_one_side() -> None:
    pairs = [LabelledPair(f"query {i // 2}", positive=f"text {i}", line=i + 1) for i in range(200)]
    train, held = split_held_out(pairs, 0.2, seed=3)
    assert {p.query for p in train}.isdisjoint({p.query for p in held})
    assert 20 <= len(held) <= 60 and split_held_out(pairs, 0.2, seed=3) == (train, held)
    with pytest.raises(InvalidInputError, match="too few to hold out"):
        split_held_out(pairs[:1], 0.5)
    assert split_held_out([], 0.1) == ([], [])  # distillation queries alone: nothing to evaluate on


def test_training_without_the_train_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from recallrank import MissingDependencyError

    monkeypatch.setitem(sys.modules, "datasets", None)  # as if `pip install recallrank` alone
    with pytest.raises(MissingDependencyError, match=r"pip install 'recallrank\[train\]'"):
        train_reranker([("q", "p", ("n",), None)], tmp_path / "rr", schedule=schedule(steps=1))
    assert not (tmp_path / "rr").exists()


def test_beir_folder_input(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "one"}\n{"_id": "d2", "text": "two"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "first"}\n')
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\n")
    data = read_training_input(tmp_path)
    assert [(p.query, p.positive, p.score) for p in data.pairs] == [("first", "one", 1.0), ("first", "two", 0.5)]
    assert data.corpus == {"d1": "one", "d2": "two"}
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tmissing\t1\n")
    with pytest.raises(InvalidInputError, match=r"missing from queries\.jsonl / corpus\.jsonl \(document 'missing'"):
        read_training_input(tmp_path)
    with pytest.raises(InvalidInputError, match=r"qrels/test\.tsv"):
        read_training_input(tmp_path, split="test")


def test_mined_lines_train_directly(tmp_path: Path) -> None:
    from recallrank.training.inputs import read_pairs

    line = {"query": "q", "positive": "p", "positive_id": "d1", "positive_score": 0.9, "negatives": ["n"],
            "negative_ids": ["d2"], "negative_scores": [0.5], "line": 1}
    (tmp_path / "m.jsonl").write_text(json.dumps(line) + "\n")
    (pair,) = read_pairs(tmp_path / "m.jsonl")
    assert (pair.positive, pair.positive_id, pair.negatives) == ("p", None, ("n",))
    (tmp_path / "q.jsonl").write_text('{"query": "just a query"}\n')
    assert read_pairs(tmp_path / "q.jsonl", require_positive=False)[0].positive is None
    with pytest.raises(InvalidInputError, match=r"q\.jsonl:1: give exactly one of 'positive'"):
        read_pairs(tmp_path / "q.jsonl")


@pytest.fixture
def index(tmp_path: Path) -> Path:
    r = TwoStageRetriever(EdgeStore(tmp_path / "idx", "docs"), BiEncoder(), False)
    r.add_documents([Document(f"A text explaining {t} in detail, part {k}.", id=f"{t}-{k}")
                     for t in TOPICS for k in range(3)])
    r.store.close()
    return tmp_path / "idx"


def snapshot(root: Path) -> tuple[dict[str, Any], dict[str, list[float]]]:
    store = EdgeStore(root, "docs")
    points = dict(store.scroll(["text", "metadata", "doc_id", "content_hash"]))
    vectors = {k: v.round(5).tolist() for k, v in store.vectors(list(points)).items()}
    store.close()
    return points, vectors


def test_cli_trains_a_reranker_and_prints_before_after(tiny_cross: str, index: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from recallrank.cli import main

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"query": f"explain {t} {k}", "positive_id": f"{t}-{k}",
                                         "negatives": [f"A text explaining {TOPICS[(i + 1) % 8]} in detail."]})
                             + "\n" for i, t in enumerate(TOPICS) for k in range(3)))
    before = snapshot(index)
    code = main(["train", "reranker", str(pairs), "--output", str(tmp_path / "out"), "--base", tiny_cross,
                 "--steps", "2", "--batch-size", "4", "--max-length", "48", "--eval-fraction", "0.3",
                 "--path", str(index), "--collection", "docs", "--top-k", "10", "--precision", "fp32"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "held-out:" in out and "two-stage" in out and "change" in out and "nDCG@10" in out
    assert (tmp_path / "out" / "recallrank_training" / "evaluation.txt").read_text().strip() in out
    assert CrossEncoderReranker(str(tmp_path / "out")).score("q", ["d"]).shape == (1,)
    assert snapshot(index) == before  # the index is only read: same points, payloads and vectors

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "positive_id": "nope"}\n{"query": "r", "positive_id": "vector database-0"}\n')
    assert main(["train", "bi-encoder", str(bad), "--output", str(tmp_path / "o2"), "--path", str(index),
                 "--collection", "docs", "--eval-fraction", "0"]) == 2
    assert f"1 positive_id(s) are not in the collection ({bad}:1: 'nope')" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_cli_distills_from_a_beir_folder_with_unlabelled_candidates(tiny_bi: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from recallrank.cli import main

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = {f"{t}-{k}": f"A text explaining {t} in detail, part {k}." for t in TOPICS for k in range(2)}
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in docs.items()))
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": f"explain {t}"}) + "\n"
                                                for i, t in enumerate(TOPICS)))
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\t{t}-0\t1\n" for i, t in enumerate(TOPICS)))
    code = main(["train", "distill", str(beir), "--output", str(tmp_path / "out"), "--base", tiny_bi,
                 "--candidates", "3", "--steps", "2", "--batch-size", "2", "--max-length", "32",
                 "--eval-fraction", "0.25", "--top-k", "5", "--precision", "fp32", "--path", str(tmp_path / "none"),
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["held_out_pairs"] >= 1 and {r["model"] for r in summary["evaluation"]} == {"before", "after"}
    rows = json.loads((tmp_path / "out" / "recallrank_training" / "rows.json").read_text())
    assert len(rows["label"][0]) == 3 and rows["doc_1"][0].startswith("A text explaining")
    assert BiEncoder(str(tmp_path / "out")).encode_queries(["x"]).shape == (1, 384)
    assert not (tmp_path / "none").exists()  # no index was needed, none was created


def test_cli_distills_queries_alone_with_the_default_held_out_fraction(tiny_bi: str, index: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The README's `train distill queries.jsonl`: lines hold a query alone, candidates come from the index, and
    with no labelled pair there is no before/after table (and no error about holding 10 % out)."""
    from recallrank.cli import main

    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"query": f"what is {t} about? ({k})"}) + "\n"
                               for t in TOPICS for k in range(4)))
    code = main(["train", "distill", str(queries), "--output", str(tmp_path / "out"), "--base", tiny_bi,
                 "--candidates", "3", "--steps", "2", "--batch-size", "4", "--max-length", "32",
                 "--path", str(index), "--collection", "docs", "--precision", "fp32", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["trained_pairs"] == 32 and summary["held_out_pairs"] == 0 and "evaluation" not in summary
    assert BiEncoder(str(tmp_path / "out")).encode_queries(["x"]).shape == (1, 384)


def test_cli_mine_then_train_bi_encoder_then_reembed(tiny_bi: str, index: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The user's loop: mine negatives from the index, train on the mined file, re-embed the index with the result."""
    from recallrank.cli import main

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"query": f"explain {t} {k}", "positive_id": f"{t}-{k}"}) + "\n"
                             for t in TOPICS for k in range(3)))
    store = ["--path", str(index), "--collection", "docs"]
    assert main(["mine", str(pairs), "--out", str(tmp_path / "mined.jsonl"), "--negatives", "2", "--margin", "0",
                 *store]) == 0
    code = main(["train", "bi-encoder", str(tmp_path / "mined.jsonl"), "--output", str(tmp_path / "bi"), "--base",
                 tiny_bi, "--hard-negatives", "1", "--loss", "cached", "--steps", "2", "--batch-size", "4",
                 "--max-length", "32", "--eval-fraction", "0.3", "--top-k", "10", "--precision", "fp32", *store])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "bi-encoder" in captured.out and "change" in captured.out and "recallrank index --reembed" in captured.err
    points_before, _ = snapshot(index)
    assert main(["index", "--reembed", "--bi-encoder", str(tmp_path / "bi"), "--precision", "fp32", "--json",
                 *store]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == len(points_before) == 24 and report["backup"]
    points_after, vectors = snapshot(index)
    assert points_after == points_before
    mine = BiEncoder(str(tmp_path / "bi"), precision="fp32")
    pid = next(p for p, pl in points_after.items() if pl["doc_id"] == "green tea-1")
    expected = mine.encode_documents([points_after[pid]["text"]])[0]
    assert np.allclose(vectors[pid], expected, atol=1e-4)


def test_rerunning_a_finished_run_changes_nothing(tiny_bi: str, tmp_path: Path) -> None:
    """3 steps of 2 batches an epoch end mid-epoch, where a resumed trainer would take a 4th step."""
    out = train_bi_encoder(EXAMPLES, tmp_path / "bi", base=tiny_bi, schedule=schedule(steps=3))
    weights = (out / "model.safetensors").read_bytes()
    again = train_bi_encoder(EXAMPLES, tmp_path / "bi", base=tiny_bi, schedule=schedule(steps=3))
    assert (again / "model.safetensors").read_bytes() == weights
    assert json.loads((out / "recallrank_training" / "log.json").read_text())["steps"] == 3


def test_cli_eval_pairs_file_does_not_mix_up_training_positives(tiny_bi: str, index: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Both files number their lines from 1: each training pair must keep its own positive."""
    from recallrank.cli import main

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"query": f"explain {t}", "positive_id": f"{t}-0"}) + "\n" for t in TOPICS))
    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps({"query": f"tell me about {t}", "positive_id": f"{t}-1"}) + "\n"
                            for t in reversed(TOPICS)))
    assert main(["train", "bi-encoder", str(train), "--output", str(tmp_path / "bi"), "--base", tiny_bi,
                 "--eval-pairs", str(held), "--steps", "1", "--batch-size", "4", "--max-length", "32",
                 "--top-k", "5", "--precision", "fp32", "--path", str(index), "--collection", "docs", "--json"]) == 0
    capsys.readouterr()
    rows = json.loads((tmp_path / "bi" / "recallrank_training" / "rows.json").read_text())
    for query, positive in zip(rows["query"], rows["positive"], strict=True):
        assert positive == f"A text explaining {query.removeprefix('explain ')} in detail, part 0."


# issue 21: a run records its data, not only its length; bad pairs files stop before anything is written ----------
OTHER = [(q, p.replace("in detail", "briefly"), n) for q, p, n in EXAMPLES]  # as many examples, other texts


def test_every_trainer_refuses_a_finished_run_on_other_data(tiny_bi: str, tiny_cross: str, tmp_path: Path) -> None:
    """21.7: a finished run was returned for any examples of the same length; now other data is refused, the same
    data returns the run, and ``overwrite`` starts it over."""
    bi = train_bi_encoder(EXAMPLES, tmp_path / "bi", base=tiny_bi, schedule=schedule(steps=1))
    weights = (bi / "model.safetensors").read_bytes()
    with pytest.raises(InvalidInputError, match=r"other data .*another --output folder, or --overwrite"):
        train_bi_encoder(OTHER, tmp_path / "bi", base=tiny_bi, schedule=schedule(steps=1))
    assert (bi / "model.safetensors").read_bytes() == weights  # the refused run left the old one as it was
    assert train_bi_encoder(EXAMPLES, tmp_path / "bi", base=tiny_bi, schedule=schedule(steps=1)) == bi
    train_bi_encoder(OTHER, tmp_path / "bi", base=tiny_bi, schedule=schedule(steps=1), overwrite=True)
    rows = json.loads((bi / "recallrank_training" / "rows.json").read_text())
    assert rows["positive"] == [p for _, p, _ in OTHER]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bi"]  # nothing set aside is left behind

    graded = [(q, p, n, None) for q, p, n in EXAMPLES]
    train_reranker(graded, tmp_path / "rr", base=tiny_cross, schedule=schedule(steps=1))
    with pytest.raises(InvalidInputError, match="other data"):
        train_reranker([(q, p, n, None) for q, p, n in OTHER], tmp_path / "rr", base=tiny_cross,
                       schedule=schedule(steps=1))

    docs = [p for _, p, _ in EXAMPLES]
    rows_a = distill_rows([(q, None) for q, _, _ in EXAMPLES], lambda qs: [docs for _ in qs], _Teacher(), 4)
    rows_b = distill_rows([(q, None) for q, _, _ in EXAMPLES], lambda qs: [docs[::-1] for _ in qs], _Teacher(), 4)
    train_distill(lambda: rows_a, tmp_path / "d", base=tiny_bi, schedule=schedule(steps=1))
    with pytest.raises(InvalidInputError, match="other data"):
        train_distill(lambda: rows_b, tmp_path / "d", base=tiny_bi, schedule=schedule(steps=1))
    train_distill(lambda: rows_b, tmp_path / "d", base=tiny_bi, schedule=schedule(steps=1), overwrite=True)
    assert json.loads((tmp_path / "d" / "recallrank_training" / "rows.json").read_text()) == rows_b


def test_overwrite_replaces_only_a_training_run(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match=r"not a recallrank training run.*replaces only a training run"):
        RunFolder(tmp_path / "busy").claim({"kind": "x"}, "abc", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    run = RunFolder(tmp_path / "run")
    assert run.claim({"kind": "x"}, "abc") is False and run.claim({"kind": "x"}, "abc") is True
    # nothing trained yet (no checkpoint, not finished): other data simply takes the folder over
    assert run.claim({"kind": "x"}, "def") is False
    assert json.loads((run.dir / "settings.json").read_text())["data_sha256"] == "def"


def _pairs(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_refuses_a_finished_run_on_another_pairs_file_of_the_same_length(
        tiny_bi: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """21.7 as reported: `train ... --output runs/bi` again with another pairs file of the same length returned the
    old model, exit 0."""
    from recallrank.cli import main

    first = _pairs(tmp_path / "a.jsonl", [{"query": q, "positive": p} for q, p, _ in EXAMPLES])
    second = _pairs(tmp_path / "b.jsonl", [{"query": q, "positive": p} for q, p, _ in OTHER])
    out = tmp_path / "runs" / "bi"
    args = ["--output", str(out), "--base", tiny_bi, "--steps", "1", "--batch-size", "4", "--max-length", "32",
            "--eval-fraction", "0", "--precision", "fp32", "--path", str(tmp_path / "none"), "--json"]
    assert main(["train", "bi-encoder", str(first), *args]) == 0
    weights = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", "bi-encoder", str(second), *args]) == 2
    err = capsys.readouterr().err
    assert "holds a training run on other data" in err and "--output" in err and "--overwrite" in err, err
    assert (out / "model.safetensors").read_bytes() == weights
    assert main(["train", "bi-encoder", str(second), *args, "--overwrite"]) == 0
    assert json.loads((out / "recallrank_training" / "rows.json").read_text())["positive"] == \
        [p for _, p, _ in OTHER]
    assert main(["train", "bi-encoder", str(second), *args]) == 0  # the same pairs and settings: the run is kept
    capsys.readouterr()


@pytest.fixture
def cli_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A JSONL file indexed by `recallrank index` (ids ``r1``..``r8``) with the hashing stand-in encoder; returns
    (the JSONL file, the index folder)."""
    from recallrank.cli import main, pipeline
    from tests.fakes import HashEncoder

    monkeypatch.setattr(pipeline, "recall_encoder", lambda *args, **kwargs: HashEncoder())
    records = _pairs(tmp_path / "records.jsonl", [{"id": f"r{i + 1}", "text": f"A text explaining {t} in detail."}
                                                   for i, t in enumerate(TOPICS)])
    assert main(["index", str(records), "--path", str(tmp_path / "idx"), "--collection", "docs",
                 "--no-progress"]) == 0
    return records, tmp_path / "idx"


def test_cli_unknown_positive_id_names_file_line_and_a_stored_id(cli_index: tuple[Path, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """21.11: a CLI-indexed JSONL record's id is ``<abs path>::r1#0``; ``positive_id: "r1"`` said only "not in the
    collection"."""
    from recallrank.cli import main

    records, idx = cli_index
    pairs = _pairs(tmp_path / "pairs.jsonl", [{"query": "about tea", "positive_id": f"{records.resolve()}::r2#0"},
                                              {"query": "about databases", "positive_id": "r1"},
                                              {"query": "about nothing", "positive_id": "zz"}])
    capsys.readouterr()
    for command in (["train", "bi-encoder", str(pairs), "--output", str(tmp_path / "out"), "--eval-fraction", "0"],
                    ["mine", str(pairs), "--out", str(tmp_path / "mined.jsonl")]):
        assert main([*command, "--path", str(idx), "--collection", "docs"]) == 2
        err = capsys.readouterr().err
        assert f"2 positive_id(s) are not in the collection ({pairs}:2: 'r1' (did you mean " \
               f"'{records.resolve()}::r1#0'?); {pairs}:3: 'zz')" in err, err
        assert f"e.g. '{records.resolve()}::r1#0'" in err and "<file>::<id>#<n>" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "mined.jsonl").exists()


def test_cli_lone_surrogate_in_pairs_names_file_and_line_and_writes_nothing(
        cli_index: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """21.11: ``"\\ud800"`` in a pairs file gave a codec error with no file or line and left a half-made run."""
    from recallrank.cli import main

    _, idx = cli_index
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "about tea", "positive": "Tea is a drink."}\n'
                     '{"query": "about jazz", "positive": "Jazz is music."}\n'
                     '{"query": "about \\ud800 chess", "positive": "Chess is a game."}\n')
    capsys.readouterr()
    for command in (["train", "bi-encoder", str(pairs), "--output", str(tmp_path / "out"), "--eval-fraction", "0"],
                    ["mine", str(pairs), "--out", str(tmp_path / "mined.jsonl")]):
        assert main([*command, "--path", str(idx), "--collection", "docs"]) == 2
        err = capsys.readouterr().err
        assert f"{pairs}:3: 'query' is not valid Unicode" in err and "lone surrogate" in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "mined.jsonl").exists()


def test_cli_mine_never_overwrites_silently(cli_index: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """21.11: `mine --out` replaced an existing file without a word. Now it is refused unless --overwrite, and the
    file is replaced whole or not at all."""
    from recallrank.cli import main

    records, idx = cli_index
    store = ["--path", str(idx), "--collection", "docs", "--negatives", "2", "--margin", "-10"]
    pairs = _pairs(tmp_path / "pairs.jsonl", [{"query": f"about {t}", "positive_id": f"{records.resolve()}::r{i + 1}#0"}
                                              for i, t in enumerate(TOPICS)])
    out = tmp_path / "mined.jsonl"
    out.write_text("my earlier work\n")
    capsys.readouterr()
    assert main(["mine", str(pairs), "--out", str(out), *store]) == 2
    assert f"{out} exists" in capsys.readouterr().err and out.read_text() == "my earlier work\n"
    bad = _pairs(tmp_path / "bad.jsonl", [{"query": "q", "positive": "text"}, {"query": "r", "positive_id": "gone"}])
    assert main(["mine", str(bad), "--out", str(out), "--overwrite", *store]) == 2  # fails while mining
    assert out.read_text() == "my earlier work\n"
    assert main(["mine", str(pairs), "--out", str(out), "--overwrite", *store]) == 0
    assert len(out.read_text().splitlines()) == len(TOPICS)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary file left
