import json
import subprocess
import sys
from pathlib import Path

from recallrank.datasets import load_dataset, save_beir


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recallrank", *args], capture_output=True, text=True, timeout=300)


def test_train_reranker_help() -> None:
    out = _run("train", "reranker", "--help")
    assert out.returncode == 0 and "--queries-per-domain" in out.stdout and "--layers" in out.stdout


def test_eval_json_on_a_beir_folder(tmp_path: Path) -> None:
    ds = load_dataset("foldoc", "dev").subset(3)
    judged = {d: ds.corpus[d] for q in ds.qrels for d in ds.qrels[q]}
    small = type(ds)(corpus=dict(list(ds.corpus.items())[:40]) | judged, queries=ds.queries, qrels=ds.qrels,
                     name="tiny")
    save_beir(small, tmp_path / "tiny")
    out = _run("eval", "--dataset", str(tmp_path / "tiny"), "--top-k", "10", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data["bi"]) >= {"ndcg@10", "mrr@10", "recall@10"} and "two_stage" in data
    assert data["queries"] == 3


def test_eval_unknown_dataset_is_one_line_error() -> None:
    out = _run("eval", "--dataset", "no-such-set")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("recallrank: error: unknown dataset") and "Traceback" not in out.stderr
