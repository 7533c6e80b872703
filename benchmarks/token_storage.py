"""How compact the default MaxSim stage's token vectors can be: nDCG@10 of MaxSim reranking (the top 100 of exact
dense recall) per storage variant, on held-out sets, scored inside Qdrant Edge as the pipeline scores them.

    python benchmarks/token_storage.py [--sets debian-en,foldoc,faq-en,python-docs,wordnet]

Variants (documents' side; queries keep every token but [CLS] / [SEP]):

* ``0.4 default``: what recallrank 0.4 stored: all-MiniLM-L6-v2's token vectors from sentence-transformers'
  ``MultiVectorEncoder`` (torch, up to 512 tokens), fp16. For speed, texts under 254 tokens take the one-pass
  vectors (the same numbers: cosine 0.9999998 measured) and only longer ones run the old encoder.
* ``one pass fp16``: the bi-encoder's own forward pass (up to its 256 tokens), fp16.
* ``no punctuation`` + fp16 / ``turbo8`` / ``turbo4``: without the tokens that hold no letter or digit, stored as
  fp16 or as Qdrant's TurboQuant codes (8 or 4 bits per dimension).

Bytes per document: token vectors only (mean tokens x bytes per token of each storage type, as the engine stores
them: 2 per dimension for fp16, measured 392 and 200 per 384-d token for turbo8 and turbo4).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import numpy as np
from _common import machine, publish, table

from recallrank import BiEncoder, load_dataset
from recallrank.evaluation.metrics import ndcg_at_k
from recallrank.models.late_interaction import LateInteractionEncoder

BYTES = {"Float16": 768, "Turbo8": 392, "Turbo4": 200}


def engine_ndcg(docs: list[np.ndarray], qt: list[np.ndarray], cands: np.ndarray, ids: list[str], qids: list[str],
                qrels: dict[str, dict[str, int]], datatype: str) -> float:
    """nDCG@10 of MaxSim computed by Qdrant Edge over the candidates, with token vectors stored as ``datatype``."""
    import qdrant_edge as qe

    with tempfile.TemporaryDirectory() as folder:
        field = qe.EdgeVectorParams(size=docs[0].shape[1], distance=qe.Distance.Dot,
                                    datatype=getattr(qe.VectorStorageDatatype, datatype),
                                    multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                                    hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10000))
        shard = qe.EdgeShard.create(folder, qe.EdgeConfig(vectors={
            "": qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine), "t": field}))
        for lo in range(0, len(docs), 256):
            shard.update(qe.UpdateOperation.upsert_points([qe.Point(i, {"": [1.0, 0, 0, 0], "t": docs[i].tolist()}, {})
                                                           for i in range(lo, min(lo + 256, len(docs)))]))
        scores = []
        for qi, q in enumerate(qids):
            only = qe.Filter(must=[qe.HasIdCondition({int(j) for j in cands[qi]})])
            found = shard.query(qe.QueryRequest(query=qe.Query.Nearest(qt[qi].tolist(), using="t"),
                                                limit=len(cands[qi]), with_payload=False, filter=only))
            scores.append(ndcg_at_k([ids[p.id] for p in found], qrels[q], 10))
        shard.close()
    return float(np.mean(scores))


def run_set(name: str, be: BiEncoder, old: LateInteractionEncoder, skip: Any) -> dict[str, Any]:
    ds = load_dataset(name, "test")
    ids = list(ds.corpus)
    texts = [ds.corpus[d] for d in ids]
    start = time.perf_counter()
    dense, tokens = be.encode_with_tokens(texts)
    rate = len(texts) / (time.perf_counter() - start)
    _, no_punct = be.encode_with_tokens(texts, skip=skip)
    long = [i for i, t in enumerate(tokens) if len(t) >= 254]
    before = dict(zip(long, old.encode_documents([texts[i] for i in long]), strict=True)) if long else {}
    qids = [q for q in ds.queries if q in ds.qrels]
    qv, qt = be.encode_with_tokens([ds.queries[q] for q in qids], "query")
    cands = np.argsort(-(qv @ dense.T), axis=1)[:, :100]
    recall = float(np.mean([ndcg_at_k([ids[j] for j in cands[i]], ds.qrels[q], 10) for i, q in enumerate(qids)]))
    variants = [("0.4 default", [before.get(i, t) for i, t in enumerate(tokens)], "Float16"),
                ("one pass fp16", tokens, "Float16"), ("no punctuation fp16", no_punct, "Float16"),
                ("no punctuation turbo8", no_punct, "Turbo8"), ("no punctuation turbo4", no_punct, "Turbo4")]
    rows = {"recall only": (recall, 0.0, 0.0)}
    for label, docs, datatype in variants:
        n = float(np.mean([len(d) for d in docs]))
        rows[label] = (engine_ndcg(docs, qt, cands, ids, qids, ds.qrels, datatype), n, n * BYTES[datatype])
    return {"docs": len(ids), "queries": len(qids), "one-pass docs/s": rate, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="debian-en,foldoc,faq-en,python-docs,wordnet")
    args = parser.parse_args()
    be = BiEncoder(precision="fp32")
    old = LateInteractionEncoder()
    old.runner = None  # the 0.4 path: sentence-transformers' MultiVectorEncoder on torch
    skip = LateInteractionEncoder().document_skip
    results = {name: run_set(name, be, old, skip) for name in args.sets.split(",")}
    labels = list(next(iter(results.values()))["rows"])
    body = [f"Machine: {machine()}. Bi-encoder all-MiniLM-L6-v2, fp32 on {be.backend}; candidates: the top 100 of "
            "exact dense recall; MaxSim computed by Qdrant Edge from the stored token vectors.\n"]
    header = ["variant"] + [f"{n} nDCG@10" for n in results] + ["tokens/doc (debian)" if "debian-en" in results
                                                                else "tokens/doc", "token bytes/doc"]
    first = "debian-en" if "debian-en" in results else next(iter(results))
    rows = []
    for label in labels:
        base = {n: r["rows"]["0.4 default"][0] for n, r in results.items()}
        cells = [f"{r['rows'][label][0]:.4f} ({r['rows'][label][0] - base[n]:+.4f})" for n, r in results.items()]
        tok, size = results[first]["rows"][label][1:]
        rows.append([label, *cells, f"{tok:.1f}", f"{size / 1024:.1f} KB" if size else "-"])
    body.append(table(header, rows))
    body.append("\nIn brackets: the difference from the 0.4 default on the same set. Sets: "
                + ", ".join(f"{n} ({r['docs']} docs, {r['queries']} queries)" for n, r in results.items()) + ".")
    print(publish("token_storage", "Compact token vectors for the default MaxSim stage", "\n".join(body)).read_text())


if __name__ == "__main__":
    main()
