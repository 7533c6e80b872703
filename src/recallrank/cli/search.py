"""``recallrank search``: two-stage search of an index, printed with every score and the time each stage took."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from recallrank.cli import pipeline
from recallrank.cli.common import require_collection, snippet
from recallrank.cli.filters import parse_filters
from recallrank.cli.options import SEARCH, add_options, resolve
from recallrank.documents import Evidence, check_text
from recallrank.index.base import check_filter
from recallrank.retrieval.pipeline import SearchResponse


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    search = sub.add_parser("search", parents=[common], help="two-stage search of an index",
                            description="Recall top_k candidates (--recall: auto, dense, sparse or hybrid), "
                            "rerank, print the top_n with their scores and the milliseconds each stage took. p is "
                            "each result's calibrated probability of being relevant; when none reaches "
                            "--min-probability the search abstains and prints no result.")
    search.add_argument("query", metavar="QUERY", help="the query; one that starts with '-' (an option name such "
                        "as --no-clobber) goes after --: recallrank search -- --no-clobber")
    add_options(search, *SEARCH)
    search.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata filter: KEY=VALUE matches the string VALUE exactly (zip=02139 stays a "
                        "string); KEY:=VALUE matches a number or boolean (year:=2023, draft:=false); repeat a key "
                        "to accept any of its values")
    search.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    resolve(args, SEARCH)
    s = args.settings
    check_text(args.query, "the query")  # e.g. bytes that are not UTF-8, before anything is opened or loaded
    filters = parse_filters(args.filter)
    check_filter(filters)
    retriever = pipeline.open_retriever(s)
    require_collection(retriever.store, s)
    retriever.store.open()  # a lock held by another process, or a damaged store, is reported before models load
    pipeline.warm_up(retriever, probe=args.query if retriever.latency_budget is not None else None)
    response = retriever.search(args.query, filter=filters, score_threshold=s["score_threshold"])
    if args.json:
        print(json.dumps(response_json(args.query, response), ensure_ascii=False))
    else:
        print_results(response)
    return 0


def response_json(query: str, response: SearchResponse) -> dict[str, Any]:
    return {"query": query, "recalled": response.recalled, **response.summary(),
            "timings_ms": {k: round(v * 1000, 2) for k, v in response.timings.items()},
            "results": [{"rank": i, "id": r.document.id, "point_id": r.point_id, **r.score_fields(),
                         "text": r.text, "metadata": dict(r.document.metadata), **r.found_fields()}
                        for i, r in enumerate(response.results, 1)]}


def print_results(response: SearchResponse) -> None:
    if response.abstained:
        print(f"abstained: no result reaches min_probability {response.min_probability:.2f} (the best: "
              f"{response.best_probability:.2f}), so nothing relevant is returned; --min-probability 0 shows them")
    elif not response.results:
        print("no results")
    for i, r in enumerate(response.results, 1):
        relevance = f"{r.relevance_score:.3f}" if r.relevance_score is not None else "  -  "
        probability = f"p {r.probability:.2f}  " if r.probability is not None else ""
        meta = r.document.metadata
        book = meta.get("_recallrank")  # what `recallrank index` keeps: the file a chunk came from, the record's id
        source = book.get("source") if isinstance(book, dict) else meta.get("source", r.document.id or "")
        if isinstance(book, dict) and book.get("doc_id") is not None:
            source = f"{source}  id {book['doc_id']}"
        print(f"{i:2}. {probability}{r.score:.3f}  rerank {relevance}  recall {r.retrieval_score:.3f}  {source}")
        if r.passages:
            spans = ", ".join(f"{p.start}-{p.end}" if p.start is not None else str(p.id) for p in r.passages)
            print(f"    document {r.document.id}: best passages at characters {spans}")
        if r.evidence:
            for e in r.evidence[:2]:
                where = f"@{e.source_start}" if e.source_start is not None else f"@{e.start}"
                print(f"    {where}: {highlighted(r.text, e)}")
        else:
            print(f"    {snippet(r.text, 160)}")
    print(calibration_line(response))
    if response.skipped:
        print(f"skipped by the latency budget or a confident recall: {', '.join(response.skipped)}")
    print(timing_line(response))


def highlighted(text: str, evidence: Evidence, width: int = 240) -> str:
    """The evidence snippet on one line, its matched words in bold on a terminal (``**word**`` elsewhere)."""
    on, off = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")
    out, at = [], evidence.start
    for a, b in evidence.highlights:
        out += [text[at:a], on, text[a:b], off]
        at = b
    out.append(text[at:evidence.end])
    line = " ".join("".join(out).split())
    return line if len(line) <= width else line[:width - 1] + "…"


def calibration_line(response: SearchResponse) -> str:
    if response.calibration is None:
        return ("probability: none, this pipeline has no fitted calibration (fit one on ~50 labelled queries: "
                "recallrank tune LABELS)")
    cut = f"; abstains when none reaches {response.min_probability:.2f}" if response.min_probability else ""
    return f"p: calibrated probability of relevance, {response.calibration}{cut}"


def timing_line(response: SearchResponse) -> str:
    t = response.timings
    return (f"{response.recalled} recalled; embed {t.get('embed', 0) * 1000:.0f} ms, recall "
            f"{t.get('recall', 0) * 1000:.0f} ms, rerank {t.get('rerank', 0) * 1000:.0f} ms, total "
            f"{t.get('total', 0) * 1000:.0f} ms")
