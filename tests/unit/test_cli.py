"""The ``recallrank`` console script, run as a user runs it: a subprocess on a small temp corpus."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from recallrank.datasets import load_dataset, save_beir
from tests.conftest import CORPUS

SCRIPT = shutil.which("recallrank", path=str(Path(sys.executable).parent)) or shutil.which("recallrank")
CACHE = tempfile.mkdtemp(prefix="recallrank-cli-cache-")  # eval and demo caches stay out of the user's home
atexit.register(shutil.rmtree, CACHE, True)  # (in RAM when tests/conftest.py puts the test folders there)


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the recallrank console script is not installed (pip install -e .)"
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": CACHE, **(env or {})}
    full_env = {k: v for k, v in full_env.items() if not k.startswith("RECALLRANK_") or k in (env or {})}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=full_env)


def one_line_error(out: subprocess.CompletedProcess[str], contains: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recallrank") and "error:" in lines[0], out.stderr
    assert contains in lines[0] and "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "notes").mkdir()
    (root / "notes" / "qdrant.md").write_text("# Qdrant\n\n" + CORPUS[2][1] + "\n\n" + "Payload filters narrow a "
                                              "search to points whose metadata matches. " * 30)
    (root / "notes" / "tea.txt").write_text(CORPUS[4][1])
    (root / "notes" / ".cache").mkdir()
    (root / "notes" / ".cache" / "skip.txt").write_text("hidden files are not indexed")
    with (root / "records.jsonl").open("w") as f:
        for doc_id, text, meta in CORPUS[:2]:
            f.write(json.dumps({"id": doc_id, "text": text, **meta}) + "\n")
    return root


@pytest.fixture(scope="module")
def index(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("index")
    out = run("index", str(corpus / "notes"), str(corpus / "records.jsonl"), "--path", str(path), "--json",
              "--chunk-size", "100", "--chunk-overlap", "12")
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["sources"] == 4 and first["chunks"] > 4  # the long Markdown file is chunked
    assert first["added"] == first["chunks"] == first["stored"] and first["docs_per_s"] > 0
    assert "doc/s" not in out.stderr  # off a terminal no progress bar is drawn into logs (on one, tqdm draws it)
    return path


def test_index_twice_is_a_no_op_and_a_shrunk_file_leaves_no_stale_chunks(corpus: Path, index: Path,
                                                                         tmp_path: Path) -> None:
    args = ["--path", str(index), "--json", "--chunk-size", "100", "--chunk-overlap", "12", "--no-progress"]
    again = json.loads(run("index", str(corpus / "notes"), str(corpus / "records.jsonl"), *args).stdout)
    assert again["added"] == again["updated"] == again["removed"] == 0
    assert again["unchanged"] == again["chunks"] == again["stored"]
    # a copy of the corpus in which the long file shrank to one chunk
    copy = tmp_path / "notes"
    shutil.copytree(corpus / "notes", copy)
    other = tmp_path / "idx"
    json.loads(run("index", str(copy), *args[2:], "--path", str(other)).stdout)
    (copy / "qdrant.md").write_text("# Qdrant\n\n" + CORPUS[2][1])
    shrunk = json.loads(run("index", str(copy), *args[2:], "--path", str(other)).stdout)
    assert shrunk["updated"] == 1 and shrunk["removed"] > 0 and shrunk["stored"] == 2


def test_search_json_has_both_scores_and_timings(index: Path) -> None:
    out = run("search", "Apple company market value", "--path", str(index), "--top-k", "20", "--top-n", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    top = data["results"][0]
    assert top["metadata"]["_recallrank"]["doc_id"] == "apple-inc" and top["id"].endswith("records.jsonl::apple-inc#0")
    # the default rerank stage is zero-shot MaxSim: a sum over query tokens, not a probability
    assert top["relevance_score"] > 1 and -1 <= top["retrieval_score"] <= 1
    assert set(data["timings_ms"]) == {"embed", "recall", "rerank", "total"}
    cross = run("search", "Apple company market value", "--path", str(index), "--top-k", "20", "--top-n", "3",
                "--json", "--reranker", "shipped")
    assert cross.returncode == 0, cross.stderr
    assert 0 < json.loads(cross.stdout)["results"][0]["relevance_score"] < 1  # the cross-encoder's probability


def test_search_text_filters_and_config_precedence(index: Path, tmp_path: Path) -> None:
    (tmp_path / "recallrank.toml").write_text(f'path = "{index}"\ntop_n = 1\nrerank = false\n')
    out = run("search", "fruit", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(re.findall(r"^ *\d+\. ", out.stdout, re.M)) == 1  # top_n from the TOML file
    assert "apple orchards" in out.stdout and "recalled; embed" in out.stdout
    filtered = run("search", "technology company", "--filter", "topic=food", "--top-n", "5", "--json", cwd=tmp_path)
    assert json.loads(filtered.stdout)["abstained"]  # the one food text is no answer about a technology company
    filtered = run("search", "technology company", "--filter", "topic=food", "--top-n", "5", "--json",
                   "--min-probability", "0", cwd=tmp_path)
    [only] = json.loads(filtered.stdout)["results"]
    assert only["metadata"]["_recallrank"]["doc_id"] == "apple-fruit"
    assert only["relevance_score"] is None  # rerank off in TOML
    env_wins = run("search", "fruit", "--json", cwd=tmp_path, env={"RECALLRANK_TOP_N": "2"})
    assert len(json.loads(env_wins.stdout)["results"]) == 2
    flag_wins = run("search", "fruit", "--json", "--top-n", "3", "--rerank", "--score-threshold", "0.0", cwd=tmp_path,
                    env={"RECALLRANK_TOP_N": "2", "RECALLRANK_RERANK": "no"})
    results = json.loads(flag_wins.stdout)["results"]
    assert len(results) == 3 and all(r["relevance_score"] is not None for r in results)
    bad = run("search", "fruit", cwd=tmp_path, env={"RECALLRANK_RERANK": "maybe"})
    one_line_error(bad, "RECALLRANK_RERANK = 'maybe': expected boolean")


def test_config_never_prints_or_writes_secrets(tmp_path: Path) -> None:
    out = run("config", "--write", str(tmp_path / "rr.toml"), "--top-k", "50", cwd=tmp_path,
              env={"RECALLRANK_API_KEY": "s3cr3t-key"})
    assert out.returncode == 0, out.stderr
    written = (tmp_path / "rr.toml").read_text()
    assert "s3cr3t" not in out.stdout + written and "api_key" not in written and "top_k = 50" in written
    (tmp_path / "bad.toml").write_text('api_key = "s3cr3t-key"\n')
    one_line_error(run("config", "--config", str(tmp_path / "bad.toml")), "RECALLRANK_API_KEY")


def test_eval_json_on_a_beir_folder(tmp_path: Path) -> None:
    ds = load_dataset("foldoc", "dev").subset(3)
    judged = {d: ds.corpus[d] for q in ds.qrels for d in ds.qrels[q]}
    small = type(ds)(corpus=dict(list(ds.corpus.items())[:40]) | judged, queries=ds.queries, qrels=ds.qrels,
                     name="tiny")
    save_beir(small, tmp_path / "tiny")
    out = run("eval", "--dataset", str(tmp_path / "tiny"), "--top-k", "10", "--json", "--sweep", "5,20",
              "--latency-queries", "1", "--cross-only", "1", "--per-query", str(tmp_path / "pq.jsonl"),
              "--plot", str(tmp_path / "sweep.png"), "--stages", "maxsim:5,cross", "--no-progress")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    # the cascade search would run, each stage with the model it used
    assert [(st["stage"], st["keep"], st["model"]) for st in data["pipeline"]["stages"]] == [
        ("maxsim", 5, "all-MiniLM-L6-v2 token vectors (zero-shot)"), ("cross", None, "recallrank-reranker-minilm")]
    assert [(row["stage"], row["model"]) for row in data["stages"]] == [
        ("recall", "all-MiniLM-L6-v2"), ("maxsim:5", "all-MiniLM-L6-v2 token vectors (zero-shot)"),
        ("cross", "recallrank-reranker-minilm")]
    for row in [*data["stages"], data["cross_only"], data["final"]]:
        assert {"ndcg@10", "mrr@10", "map@100", "recall@10", "ms"} <= set(row)
        assert all(0.0 <= row[m] <= 1.0 for m in ("ndcg@10", "mrr@10", "map@100", "recall@10"))
    assert data["final"]["stage"] == "cross" and data["final"]["ndcg@10"] == data["stages"][-1]["ndcg@10"]
    assert data["queries"] == 3 and data["top_k"] == 10 and data["cross_only"]["queries"] == 1
    assert set(data["on_cross_only_queries"]) == {"recall", "maxsim:5", "cross"}
    assert [row["top_k"] for row in data["sweep"]] == [5, 20] and data["sweep"][1]["rerank_ms"] > 0
    assert {"embed", "recall", "rerank", "total", "stage 1 (maxsim)", "stage 2 (cross)"} <= set(data["latency_ms"])
    rows = [json.loads(line) for line in (tmp_path / "pq.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"recall", "maxsim:5", "cross", "cross_only"}
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("args", "message"), [
    (["search"], "required: QUERY"),
    (["index", "--chunk-size", "ten", "x.txt"], "invalid int value"),
    (["frobnicate"], "invalid choice"),
    (["index", "/no/such/file.md"], "no such file or folder: /no/such/file.md"),
    (["index", "pyproject.toml"], "unsupported file type '.toml'"),
    (["index", "README.md", "--chunk-size", "100", "--chunk-overlap", "100"], "chunk overlap"),
    (["search", "anything", "--path", "/tmp/recallrank-no-index-here"], "run `recallrank index FILES` first"),
    (["search", "anything", "--filter", "oops"], "write KEY=VALUE"),
    (["eval", "--dataset", "no-such-set"], "unknown dataset"),
    (["eval", "--sweep", "10,x"], "--sweep '10,x'"),
    (["eval", "--plot", "x.png"], "pass --sweep too"),
    (["train", "reranker", "/no/such.jsonl", "--output", "/tmp/rr-x"], "/no/such.jsonl: no such file"),
    (["train", "bi-encoder", "pyproject.toml", "--output", "/tmp/rr-x"], "pyproject.toml:1: not valid JSON"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    one_line_error(run(*args, cwd=Path(__file__).parents[2]), message)


def test_help_everywhere() -> None:
    for cmd in ([], ["index"], ["search"], ["eval"], ["demo"], ["doctor"], ["config"]):
        out = run(*cmd, "--help")
        assert out.returncode == 0 and "usage: recallrank" in out.stdout
    for what, flag in (("bi-encoder", "{mnrl,cached}"), ("reranker", "{bce,mse,margin,listwise}"),
                       ("distill", "{kl,margin-mse}")):
        train = run("train", what, "--help")
        assert train.returncode == 0 and flag in train.stdout and "--eval-fraction" in train.stdout


def test_demo_shows_both_orders_scores_and_timings_and_caches_its_index(tmp_path: Path) -> None:
    args = ["demo", "--docs", "150", "--cache", str(tmp_path), "--top-k", "20", "--show", "3", "vector database"]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert "Building it once" in first.stdout and "doc/s" in first.stderr
    for text in ("=== Apple company market value", "=== vector database", "bi-encoder order", "reranked order",
                 "rerank with maxsim", "Qdrant recall"):
        assert text in first.stdout
    apple = first.stdout.split("=== Apple company market value")[1].split("===")[0]
    reranked = apple.split("reranked order")[1].splitlines()[1]
    assert reranked.strip().startswith("1. *") and "Apple Inc." in reranked  # the company, marked relevant, first
    design = first.stdout.split("=== The design's example")[1]
    assert design.count("company first") + design.count("FRUIT FIRST") == 4 and "苹果公司市值" in design
    second = run(*args)
    assert second.returncode == 0 and "Building it once" not in second.stdout


def test_mine_writes_hard_negatives_and_reads_the_index_only(index: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"query": "which company is worth three trillion", "positive": CORPUS[0][1]}) + "\n" +
                     json.dumps({"query": "leaves of Camellia sinensis", "positive": CORPUS[4][1]}) + "\n")
    def results() -> list[dict]:
        return json.loads(run("search", "tea", "--path", str(index), "--json", "--no-rerank").stdout)["results"]

    before = results()
    out = run("mine", str(pairs), "--out", str(tmp_path / "mined.jsonl"), "--path", str(index), "--margin", "0.0")
    assert out.returncode == 0, out.stderr
    assert "2 queries mined" in out.stdout
    rows = [json.loads(line) for line in (tmp_path / "mined.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2]
    assert all(r["positive"] not in r["negatives"] and r["negatives"] for r in rows)
    assert results() == before
    pairs.write_text('{"query": "q", "positive_id": "no-such-id"}\n')
    one_line_error(run("mine", str(pairs), "--out", str(tmp_path / "x.jsonl"), "--path", str(index)),
                   f"positive_id(s) are not in the collection ({pairs}:1: 'no-such-id')")
    pairs.write_text('{"query": "q"}\n')
    one_line_error(run("mine", str(pairs), "--out", str(tmp_path / "x.jsonl"), "--path", str(index)),
                   "pairs.jsonl:1: give exactly one of 'positive'")


def test_a_file_without_words_is_named_before_anything_is_written_and_skip_errors_indexes_the_rest(
        tmp_path: Path) -> None:
    """Issue 21 case 6: a file holding only zero-width spaces passed validation, then failed mid-ingest naming a
    point UUID, left points without token vectors, and --skip-errors did not help."""
    from recallrank import EdgeStore

    folder = tmp_path / "notes"
    folder.mkdir()
    for i, (_, text, _) in enumerate(CORPUS):
        (folder / f"n{i}.txt").write_text(text)
    (folder / "zw.txt").write_text("\u200b\u200b")
    args = ["--path", str(tmp_path / "idx"), "--no-progress"]
    one_line_error(run("index", str(folder), *args), f"{folder / 'zw.txt'}:1: the text has no words the model can read")
    store = EdgeStore(tmp_path / "idx", "recallrank")
    assert not store.exists()  # nothing written
    out = run("index", str(folder), *args, "--skip-errors", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["stored"] == report["added"] == len(CORPUS)
    assert [s["path"] for s in report["skipped"]] == [str(folder / "zw.txt")]
    assert f"skipped {folder / 'zw.txt'}:1: the text has no words the model can read" in out.stderr
    assert store.count() == len(CORPUS) and list(store.without_multivector("maxsim")) == []  # every point has them
    store.close()
    query = run("search", "\u200b\u200b", "--path", str(tmp_path / "idx"))
    assert query.returncode == 2 and "Traceback" not in query.stderr  # (model loading may log a warning first)
    assert query.stderr.strip().splitlines()[-1].startswith("recallrank: error: the query has no words the model can "
                                                            "read ('\\u200b\\u200b' holds only characters")


def test_index_lists_every_path_it_leaves_out(tmp_path: Path) -> None:
    """Issue 21 case 11: symlinked folders, loops and dangling links were skipped without being listed."""
    docs, ext = tmp_path / "docs", tmp_path / "ext"
    docs.mkdir()
    ext.mkdir()
    (docs / "a.txt").write_text(CORPUS[2][1])
    (ext / "b.txt").write_text(CORPUS[4][1])
    (docs / "linked").symlink_to(ext)
    (docs / "loop").symlink_to(docs)
    (docs / "dead.md").symlink_to(tmp_path / "missing.md")
    (docs / "photo.jpg").write_bytes(b"\xff\xd8")
    args = ["index", str(docs), "--path", str(tmp_path / "idx"), "--no-progress", "--stages", "cross"]
    quiet = run(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert "2 chunks from 2 sources" in quiet.stdout  # the symlinked folder was followed
    [summary] = [line for line in quiet.stderr.splitlines() if "not indexed" in line]
    assert summary.startswith("recallrank: 3 path(s) not indexed (1 dangling symlink, 1 symlink loop, 1 unsupported "
                              "file type): ") and summary.endswith("--verbose lists each with the reason")
    assert str(docs / "dead.md") in summary
    verbose = run(*args, "--verbose", "--json")
    assert verbose.returncode == 0, verbose.stderr
    listed = {item["path"]: item["reason"] for item in json.loads(verbose.stdout)["not_indexed"]}
    assert listed == {str(docs / "dead.md"): f"dangling symlink (its target {tmp_path / 'missing.md'} does not exist)",
                      str(docs / "loop"): f"symlink loop (it points to {docs}, a folder that holds it)",
                      str(docs / "photo.jpg"): "unsupported file type (.jpg)"}
    assert [line.removeprefix("recallrank: not indexed: ") for line in verbose.stderr.splitlines()
            if "not indexed" in line] == [f"{path}: {reason}" for path, reason in listed.items()]


def test_token_storage_is_a_new_collection_setting(corpus: Path, tmp_path: Path) -> None:
    """--token-storage picks how a new collection's MaxSim token vectors are stored (default: TurboQuant 4-bit)."""
    for option, expected in (([], "turbo4"), (["--token-storage", "float16"], "float16")):
        path = tmp_path / expected
        out = run("index", str(corpus / "records.jsonl"), "--path", str(path), *option)
        assert out.returncode == 0, out.stderr
        config = json.loads((path / "recallrank" / "edge_config.json").read_text())
        assert config["vectors"]["maxsim"]["datatype"] == expected
    one_line_error(run("index", str(corpus / "records.jsonl"), "--path", str(tmp_path / "x"), "--token-storage",
                       "fp8"), "--token-storage")
