"""Long documents: chunks as results, documents by their best passage, and whole documents truncated, side by side.

    python benchmarks/long_documents.py [--queries N] [--data DIR] [--reuse-index]

The held-out long-document set (``python -m recipes.data.long_documents``: whole FAQ pages and chapters, HOWTOs
and man pages of packages no model here trained on; each question's answer starts past the 2,000th character of
its document, its heading removed from the text) is built into ``--data`` on first use (``apt-get download``).
Each document is one relevant unit; nDCG@10 and Recall@10 are document-level, with the default pipeline
(all-MiniLM-L6-v2 recall, top_k 100, zero-shot MaxSim fused with recall) in every row:

- **chunks**: the documents cut as ``recallrank index`` cuts them (256 tokens, 32 shared), ``search()`` returning
  10 chunks; each chunk counts as its document, a document already returned counts nothing (what a user reading
  10 chunk results sees).
- **best passage** (``documents=True``): the same index, each document once, scored by its best passage (and
  ``document_score="sum"`` of its 3 best).
- **truncated**: each document indexed whole (``--chunk-size 0``): the model reads its first 254 tokens.

``passage@3`` is the share of questions whose answer span overlaps one of the 3 passages returned for the
relevant document (best-passage rows). Writes ``benchmarks/results/long_documents.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import p50, publish, table

from recallrank import Document, EdgeStore, TwoStageRetriever, chunk
from recallrank.datasets import load_beir
from recallrank.evaluation.metrics import ndcg_at_k

DATA = Path(".recallrank/long-docs")
INDEX = Path(".recallrank/bench-long")
NAME = "long-docs-en"


def data(folder: Path) -> Path:
    split = folder / NAME / "test"
    if not (split / "answers.jsonl").is_file():
        subprocess.run([sys.executable, "-m", "recipes.data.long_documents", "--out", str(folder),
                        "--cache", str(folder / "packages")], check=True)
    return split


def doc_level(ids: list[str]) -> list[str]:
    """Document ids in first-seen order, a repeat replaced by a placeholder that counts nothing."""
    seen: set[str] = set()
    out = []
    for i, d in enumerate(ids):
        out.append(d if d not in seen else f"\0repeat{i}")
        seen.add(d)
    return out


def run(name: str, retriever: TwoStageRetriever, queries: dict[str, str], qrels: dict[str, dict[str, int]],
        answers: dict[str, dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    ndcg, recall, passage, seconds, distinct = [], [], [], [], []
    for qid, query in queries.items():
        t = time.perf_counter()
        results = retriever.search(query, top_n=10, min_probability=0, **kwargs).results
        seconds.append(time.perf_counter() - t)
        parents = [parent(r) for r in results]
        ranked = doc_level(parents)
        ndcg.append(ndcg_at_k(ranked, qrels[qid], 10))
        recall.append(float(any(d in qrels[qid] for d in ranked[:10])))
        distinct.append(len(set(parents)))
        if kwargs.get("documents"):
            a = answers[qid]
            mine = [r for r in results if r.document.id == a["doc_id"]]
            passage.append(float(bool(mine) and any(p.start is not None and p.start < a["end"] and p.end > a["start"]
                                                    for p in mine[0].passages)))
    return {"name": name, "nDCG@10": float(np.mean(ndcg)), "Recall@10": float(np.mean(recall)),
            "passage@3": float(np.mean(passage)) if passage else None, "documents in 10": float(np.mean(distinct)),
            "p50 ms": p50(seconds) * 1000}


def parent(result: Any) -> str:
    book = result.document.metadata.get("_recallrank") or {}
    return str(book.get("parent") or result.document.id)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=None, help="only the first N queries")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--reuse-index", action="store_true",
                   help=f"search the collections an earlier run left in {INDEX} instead of indexing again")
    args = p.parse_args(argv)
    split = data(args.data)
    ds = load_beir(split)
    answers = {a["query_id"]: a for a in map(json.loads, (split / "answers.jsonl").read_text().splitlines())}
    queries = {q: t for q, t in ds.queries.items() if q in ds.qrels}
    if args.queries:
        queries = dict(list(queries.items())[:args.queries])
    docs = [Document(text, {}, doc_id) for doc_id, text in ds.corpus.items()]
    reuse = args.reuse_index and (INDEX / "chunks").is_dir() and (INDEX / "whole").is_dir()
    if not reuse:
        shutil.rmtree(INDEX, ignore_errors=True)
    rows = []
    t = time.perf_counter()
    chunked = TwoStageRetriever(EdgeStore(INDEX, "chunks"))
    pieces = list(chunk(docs, chunked))
    if not reuse:
        chunked.add_documents(pieces)
    built = time.perf_counter() - t
    rows.append(run("chunks (10 chunk results)", chunked, queries, ds.qrels, answers))
    rows.append(run("best passage (documents=True)", chunked, queries, ds.qrels, answers, documents=True))
    rows.append(run("sum of 3 best passages", chunked, queries, ds.qrels, answers, documents=True,
                    document_score="sum"))
    chunked.store.close()
    whole = TwoStageRetriever(EdgeStore(INDEX, "whole"))
    if not reuse:
        whole.add_documents(docs)
    truncated = whole.encoder.truncated if not reuse else sum(
        n > (whole.encoder.token_limit or 0) for n in map(len, whole.encoder.token_spans(list(ds.corpus.values()))))
    rows.append(run("truncated (whole documents, first 254 tokens)", whole, queries, ds.qrels, answers))
    whole.store.close()
    lengths = [len(t) for t in ds.corpus.values()]
    body = (f"{len(ds.corpus)} documents (median {int(np.median(lengths)):,} characters, "
            f"{np.mean([n > 8000 for n in lengths]):.0%} over 8,000), {len(queries)} questions, answers starting at "
            f"character {int(np.median([answers[q]['start'] for q in queries])):,} (median). Chunked into "
            f"{len(pieces):,} chunks" + (" (the index of an earlier run, reused)" if reuse else
                                          f" in {built:.0f} s") + f"; indexed whole, {truncated} of {len(docs)} "
            "documents are longer than the model reads (its warning says so when they are indexed).\n\n"
            + table(["pipeline", "nDCG@10", "Recall@10", "passage@3", "documents in 10", "p50 ms"],
                    [[r["name"], r["nDCG@10"], r["Recall@10"], r["passage@3"] if r["passage@3"] is not None else "-",
                      r["documents in 10"], r["p50 ms"]] for r in rows])
            + f"\n\nbest passage minus truncated: {rows[1]['nDCG@10'] - rows[3]['nDCG@10']:+.4f} nDCG@10; "
            f"minus chunks: {rows[1]['nDCG@10'] - rows[0]['nDCG@10']:+.4f}.\n")
    publish("long_documents", "Long documents: chunks, best passage, truncation (held-out long-document set)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
