"""recallrank vs the LangChain stack a user would otherwise assemble: same models, documents and machine, one run.

    python benchmarks/peer_langchain.py            # quick: 1,500 documents, 30 queries
    python benchmarks/peer_langchain.py --full     # 5,000 documents, 200 queries

Peer: langchain-qdrant's ``QdrantVectorStore`` (qdrant-client; no server can run here, so its local mode) with
langchain-huggingface's ``HuggingFaceEmbeddings`` as retriever (k=100), and langchain-community's
``HuggingFaceCrossEncoder`` inside langchain-classic's ``CrossEncoderReranker`` + ``ContextualCompressionRetriever``
(top_n=10). recallrank: ``RecallrankRetriever`` (Qdrant Edge, top_k=100, k=10) in fp32, bf16 and int8. Both use
all-MiniLM-L6-v2 and the shipped recallrank reranker. Every system runs in its own process (peak memory is that
process's high-water mark); ingest is timed after the models are loaded, queries after one warm-up query.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from _common import debian_corpus, isolated, p50, percentile, publish, table


def _lc_docs(corpus: dict[str, str]) -> list[Any]:
    from langchain_core.documents import Document

    return [Document(page_content=text, metadata={"doc_id": doc_id}) for doc_id, text in corpus.items()]


def _queries(retriever: Any, queries: dict[str, str]) -> tuple[list[float], dict[str, list[str]]]:
    first = next(iter(queries.values()))
    retriever.invoke(first)  # warm-up
    times, run = [], {}
    for qid, text in queries.items():
        t = time.perf_counter()
        docs = retriever.invoke(text)
        times.append(time.perf_counter() - t)
        run[qid] = [d.metadata["doc_id"] for d in docs]
    return times, run


def run_peer(corpus: dict[str, str], queries: dict[str, str]) -> dict[str, Any]:
    import torch
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore

    from recallrank.encoders._loading import default_bi_encoder_path, default_reranker_path

    embeddings = HuggingFaceEmbeddings(model_name=default_bi_encoder_path(),
                                       encode_kwargs={"normalize_embeddings": True})
    embeddings.embed_query("warm-up")
    # the shipped reranker's weights are fp16 on disk; compute in fp32 as a user's CPU setup would
    cross = HuggingFaceCrossEncoder(model_name=default_reranker_path(),
                                    model_kwargs={"model_kwargs": {"dtype": torch.float32}})
    docs = _lc_docs(corpus)
    t = time.perf_counter()
    store = QdrantVectorStore.from_documents(docs, embeddings, location=":memory:", collection_name="peer")
    ingest = time.perf_counter() - t
    retriever = ContextualCompressionRetriever(
        base_compressor=CrossEncoderReranker(model=cross, top_n=10),
        base_retriever=store.as_retriever(search_kwargs={"k": 100}))
    times, run = _queries(retriever, queries)
    return {"ingest_s": ingest, "times": times, "run": run}


def run_recallrank(corpus: dict[str, str], queries: dict[str, str], precision: str,
                   profile: bool = False) -> dict[str, Any]:
    from recallrank import BiEncoder, CrossEncoderReranker, EdgeStore
    from recallrank.langchain import RecallrankRetriever

    encoder, reranker = BiEncoder(precision=precision), CrossEncoderReranker(precision=precision)
    encoder.warm_up()
    reranker.warm_up()
    docs = _lc_docs(corpus)
    with tempfile.TemporaryDirectory() as tmp:
        retriever = RecallrankRetriever(store=EdgeStore(tmp, "rr"), encoder=encoder, reranker=reranker, top_k=100,
                                        k=10)
        t = time.perf_counter()
        retriever.add_documents(docs)
        ingest = time.perf_counter() - t
        out: dict[str, Any] = {"ingest_s": ingest}
        out["times"], out["run"] = _queries(retriever, queries)
        if profile:  # a separate pass after the timed one, so the profiler's overhead is in no figure
            from pyinstrument import Profiler

            with Profiler(interval=0.002) as prof:
                _queries(retriever, dict(list(queries.items())[:30]))
            out["profile"] = prof.output_text(unicode=False, color=False, show_all=False)
        retriever.store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="5,000 documents and 200 queries")
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    parser.add_argument("--profile", action="store_true",
                        help="after timing, profile 30 bf16 queries with pyinstrument (not part of any figure)")
    args = parser.parse_args()
    n_docs = args.documents or (5000 if args.full else 1500)
    n_queries = args.queries or (200 if args.full else 30)
    from recallrank.evaluation.metrics import evaluate_run

    corpus, queries, qrels = debian_corpus(n_docs)
    queries = dict(list(queries.items())[:n_queries])
    qrels = {q: qrels[q] for q in queries}
    print(f"{len(corpus)} documents, {len(queries)} queries (debian-en test)", flush=True)

    results: dict[str, dict[str, Any]] = {"peer (LangChain) fp32": isolated(run_peer, corpus, queries)}
    print("peer done", flush=True)
    for precision in args.precisions.split(","):
        results[f"recallrank {precision}"] = isolated(run_recallrank, corpus, queries, precision,
                                                      args.profile and precision == "bf16")
        print(f"recallrank {precision} done", flush=True)

    for r in results.values():
        r["ndcg"] = evaluate_run(r["run"], qrels, (10,))["ndcg@10"]
    peer = results["peer (LangChain) fp32"]
    base = results.get("recallrank fp32")
    rows = []
    for name, r in results.items():
        rows.append([name, f"{len(corpus) / r['ingest_s']:.1f}", f"{p50(r['times']) * 1000:.0f}",
                     f"{percentile(r['times'], 95) * 1000:.0f}", f"{r['peak_rss_mb']:.0f}", f"{r['ndcg']:.4f}",
                     f"{r['ndcg'] - base['ndcg']:+.4f}" if base else "-",
                     f"{(len(corpus) / r['ingest_s']) / (len(corpus) / peer['ingest_s']):.2f}x",
                     f"{p50(r['times']) / p50(peer['times']):.2f}x"])
    body = table(["system", "ingest docs/s", "query p50 ms", "query p95 ms", "peak RSS MB", "nDCG@10",
                  "ΔnDCG vs recallrank fp32", "ingest vs peer", "p50 vs peer"], rows)
    best = results.get("recallrank bf16")
    if best:
        ingest_ratio = peer["ingest_s"] / best["ingest_s"]
        p50_ratio = p50(best["times"]) / p50(peer["times"])
        verdict = [
            f"- ingest: recallrank bf16 / peer = {ingest_ratio:.2f}x (target >= 1.5x): "
            f"{'met' if ingest_ratio >= 1.5 else 'NOT met'}",
            f"- query p50: recallrank bf16 / peer = {p50_ratio:.2f}x (target <= 0.5x): "
            f"{'met' if p50_ratio <= 0.5 else 'NOT met'}",
            f"- nDCG@10: recallrank bf16 {best['ndcg']:.4f} vs peer {peer['ndcg']:.4f} "
            f"({'equal or better' if best['ndcg'] >= peer['ndcg'] else 'worse'})",
        ]
        if base:
            verdict.append(f"- bf16 keeps nDCG@10 within 0.005 of fp32: {abs(best['ndcg'] - base['ndcg']) <= 0.005} "
                           f"({best['ndcg'] - base['ndcg']:+.4f})")
        if "recallrank int8" in results and base:
            d = results["recallrank int8"]["ndcg"] - base["ndcg"]
            verdict.append(f"- int8 keeps nDCG@10 within 0.005 of fp32: {abs(d) <= 0.005} ({d:+.4f})")
        body += "\n\n" + "\n".join(verdict)
    body = (f"{len(corpus)} Debian descriptions, {len(queries)} test queries; recall top_k=100, keep 10.\n"
            "Peer store: qdrant-client local mode (no Qdrant server can run here); recallrank: Qdrant Edge.\n\n"
            + body)
    if best and "profile" in best:
        body += "\n\n## Where recallrank bf16 spends a query (pyinstrument)\n\n```\n" + best["profile"][:6000] + "\n```"
    publish("peer_langchain" + ("_full" if args.full else ""), "recallrank vs the LangChain stack", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
