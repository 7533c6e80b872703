"""Hard negatives from the bi-encoder's own Qdrant recall: the near misses a reranker must learn to push down."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence

from recallrank.datasets.pairs import Pair
from recallrank.documents import Document
from recallrank.encoders.bi_encoder import BiEncoder
from recallrank.index.base import StoredPoint, point_id, to_payload
from recallrank.index.edge import EdgeStore


def mine_hard_negatives(pairs: Sequence[Pair], corpus: Sequence[Pair], encoder: BiEncoder, *, n_hard: int,
                        depth: int = 30, skip_top: int = 0, seed: int = 0) -> dict[str, list[str]]:
    """For each pair's query, ``n_hard`` texts sampled from the bi-encoder's top ``depth`` recall over
    ``corpus`` (its own positive excluded, and the ``skip_top`` best misses skipped as likely false negatives).

    The corpus is indexed in a temporary embedded Qdrant store, exactly as recallrank recalls at query time.
    Returns pair key -> negative texts.
    """
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="recallrank-mine-") as tmp:
        store = EdgeStore(tmp, "mining")
        store.ensure_collection(encoder.dimension, encoder.similarity)
        docs = [Document(p.text, id=p.key) for p in corpus]
        vectors = encoder.encode_documents([d.text for d in docs], show_progress_bar=True)
        store.upsert([StoredPoint(point_id(d), v, to_payload(d)) for d, v in zip(docs, vectors, strict=True)])
        store.finish_ingest()
        qvecs = encoder.encode_queries([p.query for p in pairs])
        out: dict[str, list[str]] = {}
        for pair, qv in zip(pairs, qvecs, strict=True):
            hits = [h for h in store.search(qv, depth + 1, exact=True) if h.document.id != pair.key]
            pool = hits[skip_top:depth]
            picked = rng.sample(pool, min(n_hard, len(pool)))
            out[pair.key] = [h.document.text for h in picked]
        store.close()
    return out
