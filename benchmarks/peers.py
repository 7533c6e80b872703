"""recallrank vs the stacks a user would otherwise assemble: same models, documents, queries and machine, one run,
every system in its own process.

    python benchmarks/peers.py            # quick: 1,500 documents, 30 queries (make bench)
    python benchmarks/peers.py --full     # 5,000 documents, 100 queries

Each system embeds the documents with all-MiniLM-L6-v2, stores them, and answers a query by embedding it, recalling
the top 100 and reranking them with the shipped recallrank reranker to the top 10. Peers get their best documented
CPU option that installs beside recallrank's pins (sentence-transformers' ``backend="onnx"``/``"openvino"`` need
optimum-onnx / optimum-intel, whose transformers pins exclude sentence-transformers 6, so torch is their best):

- **fastembed** (Qdrant's own: ONNX Runtime) ``TextEmbedding`` + ``TextCrossEncoder`` loading our two models
  exported to ONNX in a local folder (``specific_model_path``), on ``qdrant-client`` (local mode: no Qdrant server
  can run here);
- **Haystack 3** ``InMemoryDocumentStore`` + ``sentence-transformers-haystack``'s document/text embedders and
  ``SentenceTransformersSimilarityRanker``, torch, in fp32 and with bf16 weights (``model_kwargs={"dtype": ...}``);
- **LangChain** ``QdrantVectorStore`` (qdrant-client local mode) + ``HuggingFaceEmbeddings`` and
  ``HuggingFaceCrossEncoder`` in ``ContextualCompressionRetriever``, fp32 and bf16 weights;
- **recallrank** ``TwoStageRetriever`` on Qdrant Edge with its defaults (``backend="auto"``, ``precision="auto"``)
  and with bf16 on OpenVINO.

Ingest is timed after the models are loaded; queries after one warm-up query. Peak RSS is each process's.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import debian_corpus, isolated, p50, percentile, publish, table

TOP_K, TOP_N = 100, 10


def _version(*dists: str) -> str:
    return ", ".join(f"{d} {md.version(d)}" for d in dists)


def _timed_queries(answer: Any, queries: dict[str, str]) -> tuple[list[float], dict[str, list[str]]]:
    answer(next(iter(queries.values())))  # warm-up
    times, run = [], {}
    for qid, text in queries.items():
        t = time.perf_counter()
        run[qid] = answer(text)
        times.append(time.perf_counter() - t)
    return times, run


# ----------------------------------------------------------------------------------------------- fastembed
def _fastembed_folder(folder: Path, model_dir: str, st_model: Any, output: str, max_length: int) -> Path:
    """A folder fastembed loads: the model's tokenizer files and our ONNX export as ``onnx/model.onnx``."""
    from recallrank.models._runtime import INPUT_KEYS, export

    (folder / "onnx").mkdir(parents=True)
    for name in ("tokenizer.json", "vocab.txt", "special_tokens_map.json", "config.json"):
        if (Path(model_dir) / name).is_file():
            shutil.copy(Path(model_dir) / name, folder / name)
    config = json.loads((Path(model_dir) / "tokenizer_config.json").read_text())
    # the limit sentence-transformers (and recallrank) use; fastembed takes the smaller of these two keys
    config["model_max_length"] = config["max_length"] = max_length
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    sample = st_model.tokenizer(["a", "b"], ["c", "d"]) if output == "scores" else st_model.tokenizer(["a"])
    keys = [k for k in INPUT_KEYS if k in sample]
    export(st_model, folder / "onnx" / "model.onnx", output, keys)
    return folder


def run_fastembed(corpus: dict[str, str], queries: dict[str, str]) -> dict[str, Any]:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType
    from fastembed.rerank.cross_encoder import TextCrossEncoder
    from qdrant_client import QdrantClient, models
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from recallrank.models._loading import default_bi_encoder_path, default_reranker_path

    root = Path(tempfile.mkdtemp(prefix="peer-fastembed-"))
    import torch

    # the shipped reranker's weights are fp16 on disk: export the fp32 graph, as recallrank does
    st_bi = SentenceTransformer(default_bi_encoder_path())
    st_cross = CrossEncoder(default_reranker_path(), model_kwargs={"dtype": torch.float32})
    bi_dir = _fastembed_folder(root / "bi", default_bi_encoder_path(), st_bi, "token_embeddings",
                               st_bi.max_seq_length)
    cross_dir = _fastembed_folder(root / "cross", default_reranker_path(), st_cross, "scores", st_cross.max_seq_length)
    del st_bi, st_cross
    TextEmbedding.add_custom_model(model="local/all-minilm-l6-v2", pooling=PoolingType.MEAN, normalization=True,
                                   sources=ModelSource(hf="local/all-minilm-l6-v2"), dim=384,
                                   output_name="token_embeddings")
    TextCrossEncoder.add_custom_model(model="local/recallrank-reranker", sources=ModelSource(hf="local/reranker"))
    threads = os.cpu_count()
    embedder = TextEmbedding("local/all-minilm-l6-v2", specific_model_path=str(bi_dir), threads=threads, cuda=False)
    cross = TextCrossEncoder("local/recallrank-reranker", specific_model_path=str(cross_dir), threads=threads,
                             cuda=False)
    list(embedder.embed(["warm-up"]))
    list(cross.rerank("warm-up", ["warm-up"]))
    client = QdrantClient(":memory:")
    client.create_collection("peer", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    ids, texts = list(corpus), list(corpus.values())
    t = time.perf_counter()
    for start in range(0, len(texts), 256):
        chunk = texts[start:start + 256]
        vectors = list(embedder.embed(chunk, batch_size=16))  # fastest of 16/32/64/256 here (it pads unsorted)
        client.upsert("peer", points=[models.PointStruct(id=start + i, vector=v.tolist(),
                                                         payload={"doc_id": ids[start + i], "text": chunk[i]})
                                      for i, v in enumerate(vectors)])
    ingest = time.perf_counter() - t

    def answer(query: str) -> list[str]:
        vector = next(iter(embedder.query_embed(query)))
        hits = client.query_points("peer", query=vector.tolist(), limit=TOP_K, with_payload=True).points
        scores = list(cross.rerank(query, [h.payload["text"] for h in hits], batch_size=16))
        order = sorted(range(len(hits)), key=lambda i: scores[i], reverse=True)[:TOP_N]
        return [hits[i].payload["doc_id"] for i in order]

    times, run = _timed_queries(answer, queries)
    shutil.rmtree(root, ignore_errors=True)
    return {"ingest_s": ingest, "times": times, "run": run,
            "config": "fastembed ONNX Runtime CPU (fp32, threads=all cores, batch_size=16: the fastest of "
                      "16/32/64/256 here), our models exported to ONNX; qdrant-client local mode",
            "version": _version("fastembed", "onnxruntime", "qdrant-client")}


# ----------------------------------------------------------------------------------------------- Haystack
def run_haystack(corpus: dict[str, str], queries: dict[str, str], dtype: str) -> dict[str, Any]:
    import torch
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )
    from haystack_integrations.components.rankers.sentence_transformers import SentenceTransformersSimilarityRanker

    from recallrank.models._loading import default_bi_encoder_path, default_reranker_path

    kwargs = {"dtype": getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[dtype])}
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    ingest_p = Pipeline()
    ingest_p.add_component("embed", SentenceTransformersDocumentEmbedder(
        model=default_bi_encoder_path(), model_kwargs=kwargs, batch_size=64, normalize_embeddings=True))
    ingest_p.add_component("write", DocumentWriter(store))
    ingest_p.connect("embed", "write")
    query_p = Pipeline()
    query_p.add_component("embed", SentenceTransformersTextEmbedder(model=default_bi_encoder_path(),
                                                                    model_kwargs=kwargs, normalize_embeddings=True))
    query_p.add_component("retrieve", InMemoryEmbeddingRetriever(store, top_k=TOP_K))
    query_p.add_component("rank", SentenceTransformersSimilarityRanker(model=default_reranker_path(),
                                                                       model_kwargs=kwargs, top_k=TOP_N,
                                                                       batch_size=32))
    query_p.connect("embed.embedding", "retrieve.query_embedding")
    query_p.connect("retrieve.documents", "rank.documents")
    query_p.warm_up()
    ingest_p.warm_up()
    docs = [Document(content=text, meta={"doc_id": doc_id}) for doc_id, text in corpus.items()]
    t = time.perf_counter()
    ingest_p.run({"embed": {"documents": docs}})
    ingest = time.perf_counter() - t

    def answer(query: str) -> list[str]:
        out = query_p.run({"embed": {"text": query}, "rank": {"query": query}})
        return [d.meta["doc_id"] for d in out["rank"]["documents"]]

    times, run = _timed_queries(answer, queries)
    return {"ingest_s": ingest, "times": times, "run": run,
            "config": f"Haystack InMemoryDocumentStore, sentence-transformers torch CPU, {dtype} weights",
            "version": _version("haystack-ai", "sentence-transformers-haystack", "sentence-transformers", "torch")}


# ----------------------------------------------------------------------------------------------- LangChain
def run_langchain(corpus: dict[str, str], queries: dict[str, str], dtype: str) -> dict[str, Any]:
    import torch
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_qdrant import QdrantVectorStore

    from recallrank.models._loading import default_bi_encoder_path, default_reranker_path

    kwargs = {"dtype": getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[dtype])}
    embeddings = HuggingFaceEmbeddings(model_name=default_bi_encoder_path(), model_kwargs={"model_kwargs": kwargs},
                                       encode_kwargs={"normalize_embeddings": True})
    embeddings.embed_query("warm-up")
    cross = HuggingFaceCrossEncoder(model_name=default_reranker_path(), model_kwargs={"model_kwargs": kwargs})
    docs = [Document(page_content=text, metadata={"doc_id": doc_id}) for doc_id, text in corpus.items()]
    t = time.perf_counter()
    store = QdrantVectorStore.from_documents(docs, embeddings, location=":memory:", collection_name="peer")
    ingest = time.perf_counter() - t
    retriever = ContextualCompressionRetriever(
        base_compressor=CrossEncoderReranker(model=cross, top_n=TOP_N),
        base_retriever=store.as_retriever(search_kwargs={"k": TOP_K}))
    times, run = _timed_queries(lambda q: [d.metadata["doc_id"] for d in retriever.invoke(q)], queries)
    return {"ingest_s": ingest, "times": times, "run": run,
            "config": f"langchain-qdrant (qdrant-client local mode) + langchain-huggingface, torch CPU, {dtype} "
                      "weights",
            "version": _version("langchain-core", "langchain-qdrant", "langchain-huggingface", "qdrant-client",
                                "sentence-transformers", "torch")}


# ----------------------------------------------------------------------------------------------- recallrank
def run_recallrank(corpus: dict[str, str], queries: dict[str, str], backend: str, precision: str,
                   ) -> dict[str, Any]:
    from recallrank import BiEncoder, CrossEncoderReranker, Document, EdgeStore, TwoStageRetriever

    encoder = BiEncoder(backend=backend, precision=precision)  # type: ignore[arg-type]
    reranker = CrossEncoderReranker(backend=backend, precision=precision)  # type: ignore[arg-type]
    encoder.warm_up()
    reranker.warm_up()  # export and int8 calibration happen once per machine, outside any timing
    docs = [Document(text, id=doc_id) for doc_id, text in corpus.items()]
    with tempfile.TemporaryDirectory() as tmp:
        retriever = TwoStageRetriever(EdgeStore(tmp, "rr"), encoder, reranker, top_k=TOP_K, top_n=TOP_N)
        t = time.perf_counter()
        retriever.add_documents(docs)
        ingest = time.perf_counter() - t

        def answer(query: str) -> list[str]:
            return [r.document.id for r in retriever.search(query)]

        out: dict[str, Any] = {"ingest_s": ingest}
        out["times"], out["run"] = _timed_queries(answer, queries)
        retriever.store.close()
    out["config"] = (f"TwoStageRetriever on Qdrant Edge, backend={backend!r} precision={precision!r} "
                     f"(resolved: {encoder.backend} {encoder.precision})")
    out["version"] = _version("recallrank", "qdrant-edge-py", "openvino")
    return out


def run_recallrank_default(corpus: dict[str, str], queries: dict[str, str], profile: bool = False,
                           ) -> dict[str, Any]:
    """recallrank as ``TwoStageRetriever(EdgeStore(...))`` with nothing else given: the recall model its documents
    call for, zero-shot MaxSim over that model's token vectors (written at ingest from the same forward pass,
    scored inside Qdrant), ``precision="auto"``."""
    from recallrank import Document, EdgeStore, TwoStageRetriever

    docs = [Document(text, id=doc_id) for doc_id, text in corpus.items()]
    with tempfile.TemporaryDirectory() as tmp:
        retriever = TwoStageRetriever(EdgeStore(tmp, "rr"), top_k=TOP_K, top_n=TOP_N)
        retriever.add_documents(docs[:1])  # loads the models (export and calibration happen once per machine)
        t = time.perf_counter()
        retriever.add_documents(docs[1:])
        ingest = time.perf_counter() - t

        def answer(query: str) -> list[str]:
            return [r.document.id for r in retriever.search(query)]

        out: dict[str, Any] = {"ingest_s": ingest}
        out["times"], out["run"] = _timed_queries(answer, queries)
        if profile:  # a separate pass after the timed one, so the profiler's overhead is in no figure
            from pyinstrument import Profiler

            with Profiler(interval=0.002) as prof:
                _timed_queries(answer, dict(list(queries.items())[:30]))
            out["profile"] = prof.output_text(unicode=False, color=False, show_all=False)
        encoder = retriever.encoder
        out["config"] = (f"TwoStageRetriever(EdgeStore(...)) with its defaults: {encoder.config()['model']} "
                         f"({encoder.backend} {encoder.precision}), stages "
                         f"{' -> '.join(type(st.reranker).__name__ for st in retriever.stages)}")
        retriever.store.close()
    out["version"] = _version("recallrank", "qdrant-edge-py", "openvino")
    return out


SYSTEMS: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "fastembed": (run_fastembed, ()),
    "Haystack fp32": (run_haystack, ("fp32",)),
    "Haystack bf16": (run_haystack, ("bf16",)),
    "LangChain fp32": (run_langchain, ("fp32",)),
    "LangChain bf16": (run_langchain, ("bf16",)),
    "recallrank default pipeline (MaxSim)": (run_recallrank_default, ()),
    "recallrank (defaults)": (run_recallrank, ("auto", "auto")),
    "recallrank openvino bf16": (run_recallrank, ("openvino", "bf16")),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="5,000 documents and 100 queries")
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of: " + ", ".join(SYSTEMS))
    parser.add_argument("--set", default="debian-en", choices=("debian-en", "faq-en"),
                        help="debian-en: Debian descriptions and their short descriptions as queries; faq-en: "
                        "English FAQ answers and real questions (324 documents, 254 questions)")
    parser.add_argument("--profile", action="store_true",
                        help="after timing, profile 30 queries of recallrank's defaults (not part of any figure)")
    args = parser.parse_args()
    n_docs = args.documents or (5000 if args.full else 1500)
    n_queries = args.queries or (100 if args.full else 30)
    from recallrank.evaluation.metrics import evaluate_run

    if args.set == "faq-en":
        from recallrank import load_dataset

        ds = load_dataset("faq-en", "test")
        corpus, queries, qrels = dict(ds.corpus), {q: t for q, t in ds.queries.items() if q in ds.qrels}, ds.qrels
    else:
        corpus, queries, qrels = debian_corpus(n_docs)
    queries = dict(list(queries.items())[:n_queries])
    qrels = {q: qrels[q] for q in queries}
    print(f"{len(corpus)} documents, {len(queries)} queries ({args.set} test)", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in args.systems.split(","):
        fn, extra = SYSTEMS[name]
        if fn is run_recallrank_default:
            extra = (args.profile,)
        results[name] = isolated(fn, corpus, queries, *extra)
        results[name]["ndcg"] = evaluate_run(results[name]["run"], qrels, (10,))["ndcg@10"]
        r = results[name]
        print(f"{name}: ingest {len(corpus) / r['ingest_s']:.1f} docs/s, p50 {p50(r['times']) * 1000:.0f} ms, "
              f"nDCG@10 {r['ndcg']:.4f}", flush=True)

    ours = results.get("recallrank default pipeline (MaxSim)") or results.get("recallrank (defaults)")
    peers = {k: v for k, v in results.items() if not k.startswith("recallrank")}
    fastest = min(peers, key=lambda k: p50(peers[k]["times"])) if peers else None
    best_ingest = max(peers, key=lambda k: len(corpus) / peers[k]["ingest_s"]) if peers else None
    rows = []
    for name, r in results.items():
        rows.append([name, f"{len(corpus) / r['ingest_s']:.1f}", f"{p50(r['times']) * 1000:.0f}",
                     f"{percentile(r['times'], 95) * 1000:.0f}", f"{r['peak_rss_mb']:.0f}", f"{r['ndcg']:.4f}",
                     f"{r['ingest_s'] and peers[best_ingest]['ingest_s'] / r['ingest_s']:.2f}x" if best_ingest
                     else "-",
                     f"{p50(r['times']) / p50(peers[fastest]['times']):.2f}x" if fastest else "-"])
    body = table(["system", "ingest docs/s", "query p50 ms", "query p95 ms", "peak RSS MB", "nDCG@10",
                  "ingest vs best peer", "p50 vs fastest peer"], rows)
    if ours and fastest and best_ingest:
        p50_ratio = p50(ours["times"]) / p50(peers[fastest]["times"])
        ingest_ratio = peers[best_ingest]["ingest_s"] / ours["ingest_s"]
        body += "\n\n" + "\n".join([
            f"- query p50: recallrank defaults / fastest peer ({fastest}) = {p50_ratio:.2f}x (target <= 0.6x): "
            f"{'met' if p50_ratio <= 0.6 else 'NOT met'}",
            f"- nDCG@10: recallrank defaults {ours['ndcg']:.4f} vs {fastest} {peers[fastest]['ndcg']:.4f} "
            f"({'equal or better' if ours['ndcg'] >= peers[fastest]['ndcg'] else 'worse'})",
            f"- ingest: recallrank defaults / fastest-ingesting peer ({best_ingest}) = {ingest_ratio:.2f}x "
            f"(target >= 1.5x): {'met' if ingest_ratio >= 1.5 else 'NOT met'}"])
    body += "\n\n## Configurations and versions\n\n" + table(
        ["system", "configuration", "versions"], [[k, r["config"], r["version"]] for k, r in results.items()])
    body = (f"{len(corpus)} documents and {len(queries)} queries of {args.set} test; all-MiniLM-L6-v2 recalls top "
            f"{TOP_K}; the peers and 'recallrank (defaults)' rerank with the shipped cross-encoder to {TOP_N}, "
            "'recallrank default pipeline' is TwoStageRetriever with nothing given (zero-shot MaxSim, scored inside "
            "Qdrant). Each system in its own process, one run.\n\n" + body)
    if ours and "profile" in ours:
        body += ("\n\n## Where recallrank's defaults spend a query (pyinstrument)\n\n```\n" + ours["profile"][:6000]
                 + "\n```")
    name = "peers" + ("_faq" if args.set == "faq-en" else "") + ("_full" if args.full else "")
    publish(name, "recallrank vs the stacks a user would otherwise assemble", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
