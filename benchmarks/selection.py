"""The selection table: bi-encoder, zero-shot MaxSim, trained ColBERT, Poly-encoder, cross-encoder and cascades,
on the same held-out sets, in one run.

    python benchmarks/selection.py [--queries 200] [--top-k 50] [--keep 20] [--sizes 10000 50000]

Quality: every method reranks the bi-encoder's exact top_k (all-MiniLM-L6-v2); a cascade X:keep -> cross passes X's
best ``keep`` to the shipped cross-encoder (fused with the recall score, as the pipeline does). Token vectors are
scored as the store keeps them (fp16); int8 and binary (with fp16 rescoring of the binary top ``keep``) are measured
beside them. Latency: ``TwoStageRetriever.search`` on an embedded Qdrant store (top_k, top_n=10), p50 over the
first ``--latency-queries`` Debian queries, at each size: the 5,000 real Debian documents plus filler points (real
Debian dev texts, random unit dense vectors, ColBERT token vectors copied from real documents). Fillers have no
zero-shot token vectors (3 GB at 50k); a filler reaching a MaxSim stage would be encoded on the fly, and the table
counts how often that happened. Ingest: docs/s through ``add_documents`` for what each method stores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _common import publish, table

from recallrank import BiEncoder, CrossEncoderReranker, Document, EdgeStore, TwoStageRetriever, load_dataset
from recallrank.cascade import MAXSIM_FUSE, shipped_model
from recallrank.evaluation.metrics import evaluate_run
from recallrank.index.base import Hit, StoredPoint, point_id, to_payload
from recallrank.models.late_interaction import LateInteractionEncoder, maxsim
from recallrank.models.poly_encoder import PolyEncoder
from recallrank.rerank.maxsim import MaxSimReranker
from recallrank.rerank.poly import PolyReranker

SETS = (("debian-en", "test"), ("faq-en", "test"))
DEFAULT = "zero-shot MaxSim + recall (default)"


class Models:
    def __init__(self) -> None:
        self.bi = BiEncoder()
        self.zero = LateInteractionEncoder()
        self.colbert = LateInteractionEncoder(shipped_model("colbert"))
        self.poly = PolyEncoder(shipped_model("poly"))
        self.cross = CrossEncoderReranker(precision="bf16")


def int8(t: np.ndarray) -> np.ndarray:
    """Per-token symmetric int8, dequantised."""
    scale = np.abs(t).max(axis=1, keepdims=True) / 127
    return np.round(t / scale).clip(-127, 127) * scale


def quality(models: Models, name: str, split: str, n_queries: int, top_k: int, keep: int,
            max_docs: int | None = None) -> dict[str, Any]:
    ds = load_dataset(name, split)
    if max_docs is not None:  # a quick check of the script: the judged documents of the first queries, then others
        judged = {d for q in list(ds.queries)[:n_queries] for d in ds.qrels.get(q, {})}
        keep_ids = list(judged) + [d for d in ds.corpus if d not in judged][:max_docs]
        ds.corpus = {d: ds.corpus[d] for d in keep_ids if d in ds.corpus}
    qids = [q for q in ds.queries if ds.qrels.get(q)][:n_queries]
    doc_ids = list(ds.corpus)
    texts = [ds.corpus[d] for d in doc_ids]
    queries = [ds.queries[q] for q in qids]
    dv = np.asarray(models.bi.encode_documents(texts), dtype=np.float32)
    qv = np.asarray(models.bi.encode_queries(queries), dtype=np.float32)
    tops = [list(np.argsort(-(dv @ qv[i]))[:top_k]) for i in range(len(qids))]
    cand = sorted({j for t in tops for j in t})
    tokens, qtokens, token_stats = {}, {}, {}
    for key, enc in (("maxsim", models.zero), ("colbert", models.colbert)):
        docs = enc.encode_documents([texts[j] for j in cand])
        tokens[key] = {j: d.astype(np.float16).astype(np.float32) for j, d in zip(cand, docs, strict=True)}
        qtokens[key] = enc.encode_queries(queries)
        token_stats[key] = (statistics.mean(len(d) for d in docs), docs[0].shape[1])
    pq = models.poly.encode_queries(queries)

    def rerank_scores(i: int, key: str, form: str = "fp16") -> dict[int, float]:
        q = qtokens[key][i]
        if form == "int8":
            return {j: maxsim(q, int8(tokens[key][j])) for j in tops[i]}
        if form == "binary":  # sign bits: MaxSim over +-1 vectors picks the best `keep`, fp16 rescores them
            qb = np.sign(q)
            rough = {j: maxsim(qb, np.sign(tokens[key][j])) for j in tops[i]}
            best = sorted(rough, key=rough.__getitem__, reverse=True)[:keep]
            return {j: (1000.0 + maxsim(q, tokens[key][j]) if j in best else rough[j] / 1e6) for j in tops[i]}
        return {j: maxsim(q, tokens[key][j]) for j in tops[i]}

    def cross(i: int, js: Sequence[int]) -> dict[int, float]:
        hits = [Hit(id=str(j), score=float(dv[j] @ qv[i]), document=Document(texts[j], id=doc_ids[j])) for j in js]
        res = models.cross.rerank(queries[i], hits, fuse=True)
        return {int(r.point_id): r.score for r in res}  # type: ignore[arg-type]

    def poly(i: int) -> dict[int, float]:
        return dict(zip(tops[i], models.poly.score(pq[i], dv[tops[i]]).tolist(), strict=True))

    def top(scores: dict[int, float], n: int) -> list[int]:
        return sorted(scores, key=scores.__getitem__, reverse=True)[:n]

    def fused(i: int) -> dict[int, float]:  # the default stage: MaxSim per query token + w x recall cosine
        raw = rerank_scores(i, "maxsim")
        return {j: raw[j] / len(qtokens["maxsim"][i]) + MAXSIM_FUSE * float(dv[j] @ qv[i]) for j in raw}

    methods: dict[str, Callable[[int], dict[int, float]]] = {
        "bi-encoder": lambda i: {j: float(dv[j] @ qv[i]) for j in tops[i]},
        "zero-shot MaxSim": lambda i: rerank_scores(i, "maxsim"),
        DEFAULT: fused,
        "trained ColBERT 128-d": lambda i: rerank_scores(i, "colbert"),
        "Poly-encoder m=16": poly,
        "cross-encoder (shipped, fused)": lambda i: cross(i, tops[i]),
        f"zero-shot MaxSim:{keep} -> cross": lambda i: cross(i, top(fused(i), keep)),
        f"ColBERT:{keep} -> cross": lambda i: cross(i, top(rerank_scores(i, "colbert"), keep)),
        f"Poly:{keep} -> cross": lambda i: cross(i, top(poly(i), keep)),
        "zero-shot MaxSim, int8": lambda i: rerank_scores(i, "maxsim", "int8"),
        f"zero-shot MaxSim, binary + fp16 rescore of {keep}": lambda i: rerank_scores(i, "maxsim", "binary"),
        "ColBERT, int8": lambda i: rerank_scores(i, "colbert", "int8"),
        f"ColBERT, binary + fp16 rescore of {keep}": lambda i: rerank_scores(i, "colbert", "binary"),
    }
    qrels = {q: ds.qrels[q] for q in qids}
    out: dict[str, Any] = {"queries": len(qids), "documents": len(texts), "tokens": token_stats, "metrics": {}}
    for label, fn in methods.items():
        run = {}
        for i, q in enumerate(qids):
            scores = fn(i)
            run[q] = [doc_ids[j] for j in top(scores, 10)]
        out["metrics"][label] = evaluate_run(run, qrels, ks=(10,))
        print(f"{name}: {label}: nDCG@10 {out['metrics'][label]['ndcg@10']:.4f}", flush=True)
    return out


def filled_store(models: Models, root: str, size: int, real: dict[str, Any]) -> EdgeStore:
    """The real Debian documents with every vector, plus fillers up to ``size`` (see the module docstring)."""
    store = EdgeStore(root, f"sel{size}")
    store.ensure_collection(384, "cosine")
    docs, dv = real["docs"], real["vectors"]
    store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(docs, dv, strict=True)])
    for field, key in (("maxsim", "zero"), ("colbert", "colbert")):
        store.ensure_multivector(field, real[key][0].shape[1])
        for lo in range(0, len(docs), 200):
            store.write_multivectors(field, {point_id(d): real[key][j] for j, d in
                                                 enumerate(docs[lo:lo + 200], start=lo)})
    fill_texts = list(load_dataset("debian-en", "dev").corpus.values())
    rng = np.random.default_rng(0)
    for lo in range(len(docs), size, 500):
        n = min(500, size - lo)
        vecs = rng.normal(size=(n, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        fill = [Document(fill_texts[(lo + k) % len(fill_texts)], {"filler": True}, id=f"filler-{lo + k}")
                for k in range(n)]
        store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(fill, vecs, strict=True)])
        store.write_multivectors("colbert", {point_id(d): real["colbert"][(lo + k) % len(docs)]
                                                 for k, d in enumerate(fill)})
    store.finish_ingest()
    return store


def latency(models: Models, store: EdgeStore, queries: list[str], top_k: int, keep: int) -> dict[str, Any]:
    def maxsim_stage(field: str) -> MaxSimReranker:
        if field == "maxsim":
            return MaxSimReranker(models.zero, field=field, fuse=MAXSIM_FUSE)  # as make_stage("maxsim") builds it
        return MaxSimReranker(models.colbert, field=field)

    configs: dict[str, dict[str, Any]] = {
        "bi-encoder": {"reranker": False},
        DEFAULT: {"stages": [maxsim_stage("maxsim")]},
        "trained ColBERT 128-d": {"stages": [maxsim_stage("colbert")]},
        "Poly-encoder m=16": {"stages": [PolyReranker(models.poly)]},
        "cross-encoder (shipped, fused)": {"reranker": models.cross},
        f"zero-shot MaxSim:{keep} -> cross": {"stages": [(maxsim_stage("maxsim"), keep), models.cross]},
        f"ColBERT:{keep} -> cross": {"stages": [(maxsim_stage("colbert"), keep), models.cross]},
        f"Poly:{keep} -> cross": {"stages": [(PolyReranker(models.poly), keep), models.cross]},
    }
    out = {}
    for label, kwargs in configs.items():
        r = TwoStageRetriever(store, models.bi, top_k=top_k, top_n=10, **kwargs)
        for q in queries[:3]:
            r.search(q)
        ms, fillers = [], 0
        for q in queries:
            t = time.perf_counter()
            res = r.search(q)
            ms.append((time.perf_counter() - t) * 1000)
            fillers += sum(bool(x.document.metadata.get("filler")) for x in res)
        recalled_fillers = sum(h.document.id.startswith("filler-") for q in queries
                               for h in store.search(models.bi.encode_queries([q])[0], top_k)
                               if h.document.id is not None)
        out[label] = {"p50_ms": statistics.median(ms), "filler_results": fillers,
                      "filler_candidates": recalled_fillers}
        print(f"{store.name}: {label}: p50 {out[label]['p50_ms']:.1f} ms", flush=True)
    return out


def ingest_rates(models: Models, texts: list[str]) -> dict[str, float]:
    out = {}
    for label, kwargs in (("dense vector only", {"reranker": False}),
                          ("+ zero-shot token vectors", {"stages": [MaxSimReranker(models.zero, field="maxsim")]}),
                          ("+ ColBERT token vectors", {"stages": [MaxSimReranker(models.colbert, field="colbert")]})):
        with tempfile.TemporaryDirectory() as tmp:
            r = TwoStageRetriever(EdgeStore(tmp, "ingest"), models.bi, **kwargs)
            t = time.perf_counter()
            r.add_documents([Document(x, id=str(i)) for i, x in enumerate(texts)])
            out[label] = len(texts) / (time.perf_counter() - t)
            r.store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200, help="Debian queries (the question set is used whole)")
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--keep", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--latency-queries", type=int, default=30)
    parser.add_argument("--ingest-docs", type=int, default=300)
    parser.add_argument("--real-docs", type=int, default=None, help="use only N real Debian documents in the "
                        "latency stores (a quick check of the script; the published run uses all)")
    args = parser.parse_args()
    models = Models()
    results = {f"{n}-{s}": quality(models, n, s, args.queries if n == "debian-en" else 10**6, args.top_k,
                                   args.keep, args.real_docs) for n, s in SETS}

    deb = load_dataset("debian-en", "test")
    docs = [Document(t, id=d) for d, t in deb.corpus.items()][:args.real_docs]
    texts = [d.text for d in docs]
    real = {"docs": docs, "vectors": np.asarray(models.bi.encode_documents(texts), dtype=np.float32),
            "zero": models.zero.encode_documents(texts), "colbert": models.colbert.encode_documents(texts)}
    lat_queries = [deb.queries[q] for q in list(deb.queries)[:args.latency_queries]]
    lat = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            t = time.perf_counter()
            store = filled_store(models, tmp, size, real)
            print(f"store of {size:,} built in {time.perf_counter() - t:.0f} s", flush=True)
            lat[size] = latency(models, store, lat_queries, args.top_k, args.keep)
            store.close()
    ingest = ingest_rates(models, texts[:args.ingest_docs])

    sets = list(results)
    methods = list(results[sets[0]]["metrics"])
    main_methods = [m for m in methods if m in lat[args.sizes[0]]]
    rows = [[m, *[results[s]["metrics"][m][k] for s in sets for k in ("ndcg@10", "mrr@10")]]
            for m in methods if ", int8" not in m and ", binary" not in m]
    header = ["method", *[f"{s} {k}" for s in sets for k in ("nDCG@10", "MRR@10")]]
    tok = results[sets[0]]["tokens"]
    bytes_doc = {"bi-encoder": 384 * 4, DEFAULT: 384 * 4 + tok["maxsim"][0] * tok["maxsim"][1] * 2,
                 "trained ColBERT 128-d": 384 * 4 + tok["colbert"][0] * tok["colbert"][1] * 2,
                 "Poly-encoder m=16": 384 * 4, "cross-encoder (shipped, fused)": 384 * 4}
    dense_only = ingest["dense vector only"]
    rate = {"bi-encoder": dense_only, DEFAULT: ingest["+ zero-shot token vectors"],
            "trained ColBERT 128-d": ingest["+ ColBERT token vectors"], "Poly-encoder m=16": dense_only,
            "cross-encoder (shipped, fused)": dense_only}
    for m in main_methods:
        if "->" in m:
            first = (DEFAULT if m.startswith("zero") else "trained ColBERT 128-d" if m.startswith("ColBERT")
                     else "Poly-encoder m=16")
            bytes_doc[m], rate[m] = bytes_doc[first], rate[first]
    mean_ndcg = {m: statistics.mean(results[s]["metrics"][m]["ndcg@10"] for s in sets) for m in main_methods}
    base_ms = lat[args.sizes[0]]["bi-encoder"]["p50_ms"]
    cost_rows = [[m, *[lat[n][m]["p50_ms"] for n in args.sizes], bytes_doc[m], rate[m],
                  mean_ndcg[m] - mean_ndcg["bi-encoder"],
                  ((mean_ndcg[m] - mean_ndcg["bi-encoder"]) / max(lat[args.sizes[0]][m]["p50_ms"] - base_ms, 1e-9)
                   if m != "bi-encoder" else float("nan")),
                  sum(lat[n][m]["filler_candidates"] for n in args.sizes),
                  sum(lat[n][m]["filler_results"] for n in args.sizes)]
                 for m in main_methods]
    quant_rows = []
    for key, label in (("maxsim", "zero-shot MaxSim"), ("colbert", "ColBERT")):
        ntok, dim = tok[key]
        for form, nbytes in (("fp16 (stored)", ntok * dim * 2), ("int8", ntok * (dim + 4)),
                             (f"binary + fp16 rescore of {args.keep}", ntok * dim / 8 + ntok * dim * 2)):
            m = label if form.startswith("fp16") else (f"{label}, int8" if form == "int8" else f"{label}, {form}")
            m = {"zero-shot MaxSim": "zero-shot MaxSim", "ColBERT": "trained ColBERT 128-d"}.get(m, m)
            quant_rows.append([label, form, nbytes, *[results[s]["metrics"][m]["ndcg@10"] for s in sets]])
    body = "\n\n".join([
        "Held-out sets: " + ", ".join(f"{s} ({results[s]['queries']} queries, {results[s]['documents']:,} documents)"
                                      for s in sets) + ". "
        f"Every method reranks the bi-encoder's exact top {args.top_k}; cascades keep {args.keep} for the "
        f"cross-encoder. The default stage orders by MaxSim per query token + {MAXSIM_FUSE} x the recall cosine "
        "(weight chosen on debian-en dev); zero-shot token vectors leave out [CLS] and [SEP]. No Chinese set: none "
        "of these models reads Chinese (MiniLM maps most of it to [UNK]).",
        "## Quality", table(header, rows),
        f"## Cost (latency: TwoStageRetriever.search, top_k={args.top_k}, top_n=10, p50 over {len(lat_queries)} "
        "queries; bytes: what Qdrant stores per document, dense fp32 + token vectors fp16)",
        table(["method", *[f"p50 ms @ {n:,} docs" for n in args.sizes], "bytes / doc", "ingest docs/s",
               "mean nDCG@10 gain over bi", "gain per extra ms @ first size", "filler candidates",
               "filler results"], cost_rows),
        "## Quantised token vectors (quality from the same candidates; bytes of the token vectors per Debian doc; "
        "binary keeps the fp16 copy for rescoring, so it saves the memory of the first pass, not disk: the bits "
        "are what must stay in RAM)",
        table(["model", "format", "bytes / doc", *[f"{s} nDCG@10" for s in sets]], quant_rows),
        f"Mean tokens per Debian document: zero-shot {tok['maxsim'][0]:.1f} ({tok['maxsim'][1]}-d), "
        f"ColBERT {tok['colbert'][0]:.1f} ({tok['colbert'][1]}-d, punctuation skipped). Ingest measured on "
        f"{args.ingest_docs} Debian documents.",
    ])
    publish("selection", "Selection table: recall and rerank stages side by side", body)


if __name__ == "__main__":
    main()
