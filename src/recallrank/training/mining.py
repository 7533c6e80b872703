"""Hard negatives from the bi-encoder's own Qdrant recall: the near misses a reranker must learn to push down."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence

from recallrank.datasets.pairs import Pair
from recallrank.documents import Document
from recallrank.index.base import StoredPoint, point_id, to_payload
from recallrank.index.edge import EdgeStore
from recallrank.models.bi_encoder import BiEncoder


def recall_lists(queries: Sequence[Pair], corpus: Sequence[Pair], encoder: BiEncoder, *,
                 depth: int = 30) -> dict[str, list[tuple[str, str, float]]]:
    """Each query's exact top ``depth`` recall over ``corpus`` as (document key, text, score), best first.

    The corpus is indexed in a temporary embedded Qdrant store, exactly as recallrank recalls at query time.
    """
    with tempfile.TemporaryDirectory(prefix="recallrank-mine-") as tmp:
        store = EdgeStore(tmp, "mining")
        store.ensure_collection(encoder.dimension, encoder.similarity)
        docs = [Document(p.text, id=p.key) for p in corpus]
        vectors = encoder.encode_documents([d.text for d in docs], show_progress_bar=True)
        store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(docs, vectors, strict=True)])
        store.finish_ingest()
        qvecs = encoder.encode_queries([p.query for p in queries])
        out = {q.key: [(str(h.document.id), h.document.text, float(h.score))
                       for h in store.search(qv, depth, exact=True)]
               for q, qv in zip(queries, qvecs, strict=True)}
        store.close()
    return out


def mine_hard_negatives(pairs: Sequence[Pair], corpus: Sequence[Pair], encoder: BiEncoder, *, n_hard: int,
                        depth: int = 30, skip_top: int = 0, seed: int = 0) -> dict[str, list[str]]:
    """For each pair's query, ``n_hard`` texts sampled from the bi-encoder's top ``depth`` recall over
    ``corpus`` (its own positive excluded, and the ``skip_top`` best misses skipped as likely false negatives).

    Returns pair key -> negative texts.
    """
    rng = random.Random(seed)
    recalled = recall_lists(pairs, corpus, encoder, depth=depth + 1)
    out: dict[str, list[str]] = {}
    for pair in pairs:
        pool = [text for key, text, _ in recalled[pair.key] if key != pair.key][skip_top:depth]
        out[pair.key] = rng.sample(pool, min(n_hard, len(pool)))
    return out
