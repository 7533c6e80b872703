"""``recallrank demo``: two-stage retrieval on 5,000 English Debian package descriptions, stage by stage.

The index is built once (embedded Qdrant Edge under ``~/.cache/recallrank/demo``) and reused. Each query shows the
bi-encoder's order, the reranked order (with the rank each result had before), both scores and the time each
stage took. Results known to be relevant are marked with ``*``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from recallrank.cli import pipeline
from recallrank.cli.common import cache_dir, snippet
from recallrank.cli.options import DEMO, add_options, resolve
from recallrank.datasets import load_dataset
from recallrank.documents import Document
from recallrank.errors import ModelLoadError
from recallrank.models._loading import bilingual_reranker_path
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.retrieval.pipeline import SearchResponse

#: the design document's ambiguity example in English: the fruit text shares "apple", "company" and
#: "market value" with the query, so word overlap and a small bi-encoder favour it; the reranker should not
AMBIGUITY_QUERY = "Apple company market value"
DEMO_DOCS = [
    Document("Apple Inc. is an American technology company that designs the iPhone and the Mac; its market value "
             "passed three trillion dollars in 2023.", metadata={"source": "demo"}, id="demo:apple-inc"),
    Document("The apple is a sweet fruit; apple orchards have a high market value for farmers.",
             metadata={"source": "demo"}, id="demo:apple-fruit"),
]
#: the same example in Chinese ("Apple company market value"): both texts share 苹果 and 市值/市场价值; in the
#: second pair the fruit text also says 公司 (company)
AMBIGUITY_ZH = [("苹果公司市值",
                 "苹果公司是一家美国科技公司，设计了 iPhone 和 Mac 电脑，2023 年其市值突破三万亿美元。",
                 "苹果是一种香甜的水果，苹果园的收成对果农来说有很高的市场价值。"),
                ("苹果公司市值", "苹果公司是美国的一家科技公司，市值超过三万亿美元。",
                 "苹果是一种水果，一家水果公司说今年苹果的市场价值很高。")]
#: test-split queries (Debian short descriptions, unseen in training) whose relevant package the reranker lifts
DEBIAN_QUERIES = ["q-en:geary", "q-en:python3-portend", "q-en:librust-sequoia-ipc-dev"]


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser("demo", parents=[common], help="watch two-stage retrieval on the Debian corpus",
                          description="Build (once, cached) an embedded index of 5,000 English Debian package "
                          "descriptions, then show the bi-encoder order, the reranked order, both scores and "
                          "stage timings for a few queries.")
    demo.add_argument("extra", nargs="*", metavar="QUERY", help="your own queries, after the built-in ones")
    add_options(demo, *DEMO)
    demo.add_argument("--cache", default=None, help="index folder (default ~/.cache/recallrank/demo)")
    demo.add_argument("--show", type=int, default=5, help="rows per order")
    demo.add_argument("--docs", type=int, default=None, help="index only the first N descriptions (a quick look)")


def run(args: argparse.Namespace) -> int:
    resolve(args, DEMO)
    return run_demo(args.settings, args.extra, Path(args.cache) if args.cache else None, args.show, args.docs)


def run_demo(settings: dict[str, Any], extra: list[str], cache: Path | None, show: int,
             limit: int | None = None) -> int:
    """Index the corpus once (``limit``: only the first ``limit`` descriptions plus those the demo queries are
    judged against), then show both orders for each query."""
    ds = load_dataset("debian-en", "test")
    model_tag = hashlib.sha1(f"{settings['bi_encoder']}|{settings['precision']}".encode()).hexdigest()[:8]
    s = {**settings, "path": str(cache if cache is not None else cache_dir("demo")), "url": None, "api_key": None,
         "collection": f"debian-en-{limit or 'all'}-{model_tag}"}
    retriever = pipeline.open_retriever(s)
    pipeline.warm_up(retriever)
    judged = {d for q in DEBIAN_QUERIES for d in ds.qrels.get(q, {})}
    ids = [d for i, d in enumerate(ds.corpus) if limit is None or i < limit or d in judged]
    docs = [Document(ds.corpus[d], metadata={"source": "debian", "package": d.split(":", 1)[-1]}, id=d)
            for d in ids] + DEMO_DOCS
    have = retriever.store.count()
    print(f"Index: {len(docs) - len(DEMO_DOCS)} English Debian package descriptions + {len(DEMO_DOCS)} demo texts "
          f"in the embedded Qdrant Edge store at {s['path']}")
    if have < len(docs):
        print("Building it once (embedding with the bi-encoder on CPU takes a few minutes on 2 cores) ...")
    with tqdm(total=len(docs), unit="doc", desc="indexing", file=sys.stderr, disable=have >= len(docs)) as bar:
        report = retriever.add_documents(docs, progress=bar.update)
    if report.added or report.updated:
        print(f"  {report.added + report.updated} embedded and stored in {report.seconds:.0f} s "
              f"({(report.added + report.updated) / report.seconds:.0f} docs/s)")

    queries: list[tuple[str, set[str]]] = [(AMBIGUITY_QUERY, {"demo:apple-inc"})]
    queries += [(ds.queries[q], set(ds.qrels[q])) for q in DEBIAN_QUERIES if q in ds.queries]
    queries += [(q, set()) for q in extra]
    stages = " -> ".join(st.name for st in retriever.stages)
    print(f"Recall top_k={retriever.top_k} with the bi-encoder, rerank with {stages}, keep top_n={retriever.top_n}.")
    print("  recall  bi-encoder cosine similarity\n  rerank  the last stage's score (MaxSim, or a probability "
          "for the cross-encoder)\n  score   what the reranked order is sorted by (the cross-encoder's calibrated "
          "fusion of rerank and recall when it ships one)\n  p       calibrated probability that the result is "
          "relevant; when none reaches 0.15 nothing is returned (abstained)\n  was     rank in the bi-encoder "
          "order;  * known relevant\n")
    for query, relevant in queries:
        bi = retriever.recall(query)
        two = retriever.search(query)
        show_query(query, bi, two, relevant, show)
    retriever.store.close()
    show_design_examples()
    return 0


def design_examples() -> list[tuple[str, str, str]]:
    """(query, company text, fruit text) in English and Chinese: the design's ambiguity example."""
    return [(AMBIGUITY_QUERY, DEMO_DOCS[0].text, DEMO_DOCS[1].text),
            (AMBIGUITY_QUERY, "Apple Inc. is an American technology company; its market value passed three trillion "
             "dollars.", "The apple is a sweet fruit; apple orchards have a high market value for farmers."),
            *AMBIGUITY_ZH]


def show_design_examples() -> None:
    """The shipped bilingual cross-encoder's own logits (no recall score fused) for the company and the fruit text."""
    try:
        rr = CrossEncoderReranker(bilingual_reranker_path(), precision="bf16", activation="raw")
    except ModelLoadError as exc:
        print(f"(design example skipped: {exc})")
        return
    print("=== The design's example, judged by the shipped bilingual cross-encoder alone (logits, no fusion)")
    for query, company, fruit in design_examples():
        s_company, s_fruit = rr.score(query, [company, fruit])
        verdict = "company first" if s_company > s_fruit else "FRUIT FIRST"
        print(f"    {query}:  company {s_company:+.2f}  fruit {s_fruit:+.2f}  -> {verdict}")
        print(f"        company: {snippet(company, 90)}\n        fruit:   {snippet(fruit, 90)}")
    print()


def show_query(query: str, bi: SearchResponse, two: SearchResponse, relevant: set[str], show: int) -> None:
    bi_rank = {r.point_id: i for i, r in enumerate(bi.results, 1)}
    print(f"=== {query}")
    print(f"    bi-encoder: embed {bi.timings['embed'] * 1000:.0f} ms + Qdrant recall {bi.timings['recall'] * 1000:.0f}"
          f" ms -> {bi.recalled} candidates;  rerank {two.timings['rerank'] * 1000:.0f} ms;  "
          f"two-stage total {two.timings['total'] * 1000:.0f} ms")
    print("    bi-encoder order        recall")
    for i, r in enumerate(bi.results[:show], 1):
        print(f"     {i:3}. {_mark(r.document.id, relevant)} {r.retrieval_score:.3f}  {snippet(r.text, 88)}")
    print("    reranked order      p  score  rerank  recall  was")
    for i, r in enumerate(two.results[:show], 1):
        was = bi_rank.get(r.point_id)
        p = f"{r.probability:.2f}" if r.probability is not None else "  - "
        print(f"     {i:3}. {_mark(r.document.id, relevant)} {p}  {r.score:.3f}  {r.relevance_score:.3f}  "
              f"{r.retrieval_score:.3f}  {'#' + str(was) if was else '-':>4}  {snippet(r.text, 58)}")
    if two.abstained:
        print(f"     abstained: nothing reaches min_probability {two.min_probability:.2f} (best "
              f"{two.best_probability:.2f})")
    print()


def _mark(doc_id: str | None, relevant: set[str]) -> str:
    return "*" if doc_id in relevant else " "
