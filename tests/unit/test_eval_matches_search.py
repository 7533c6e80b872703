"""Issue 22's bar: ``recallrank eval`` measures what ``recallrank search`` runs. ``eval`` used to rerank with the
English cross-encoder while ``search`` ran MaxSim; with default options, eval's nDCG@10 on a question set is now
the nDCG@10 of default ``search`` over an index of the same corpus. Both run in-process (the models load from disk
in a second), on a few questions and 34 documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recallrank.cli import main
from recallrank.datasets import load_dataset, save_beir
from recallrank.evaluation.metrics import evaluate_run


def test_eval_with_defaults_reports_what_default_search_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("RECALLRANK_CONFIG", "RECALLRANK_BI_ENCODER", "RECALLRANK_STAGES", "RECALLRANK_RERANKER",
                "RECALLRANK_TOP_K", "RECALLRANK_TOP_N", "RECALLRANK_RERANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # eval's cached index
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("faq-en", "dev").subset(4)
    ids = dict.fromkeys([*(d for q in ds.qrels for d in ds.qrels[q]), *list(ds.corpus)[:30]])
    corpus = {d: ds.corpus[d].strip() for d in ids}
    small = type(ds)(corpus=corpus, queries=ds.queries, qrels=ds.qrels, name="faq-tiny")
    save_beir(small, tmp_path / "set")
    with (tmp_path / "docs.jsonl").open("w") as f:
        f.writelines(json.dumps({"id": d, "text": t}) + "\n" for d, t in corpus.items())
    index = ["--path", str(tmp_path / "idx")]
    # one chunk a document, as eval indexes them
    assert main(["index", str(tmp_path / "docs.jsonl"), *index, "--chunk-size", "0",
                 "--no-progress"]) == 0
    capsys.readouterr()
    searched = {}
    for qid, query in small.queries.items():
        assert main(["search", query, *index, "--json"]) == 0
        results = json.loads(capsys.readouterr().out)["results"]
        searched[qid] = [r["metadata"]["_recallrank"]["doc_id"] for r in results]
    assert main(["eval", "--dataset", str(tmp_path / "set"), "--json", "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pipeline"]["bi_encoder"] == "all-MiniLM-L6-v2"
    assert [st["stage"] for st in data["pipeline"]["stages"]] == ["maxsim"]  # the default stage search runs
    assert [row["stage"] for row in data["stages"]] == ["recall", "maxsim"]
    assert data["final"]["ndcg@10"] == pytest.approx(evaluate_run(searched, small.qrels)["ndcg@10"], abs=0.005)
