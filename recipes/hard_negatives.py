"""Hard negatives from the bi-encoder's own Qdrant recall: the near misses a reranker must learn to push down."""

from __future__ import annotations

import random
from collections.abc import Sequence

from recallrank.models.bi_encoder import BiEncoder
from recallrank.training.mine import search_corpus
from recipes.data.pairs import Pair


def recall_lists(queries: Sequence[Pair], corpus: Sequence[Pair], encoder: BiEncoder, *,
                 depth: int = 30) -> dict[str, list[tuple[str, str, float]]]:
    """Each query's exact top ``depth`` recall over ``corpus`` as (document key, text, score), best first.

    The corpus is indexed in a temporary embedded Qdrant store, exactly as recallrank recalls at query time.
    """
    found = search_corpus({p.key: p.text for p in corpus}, [q.query for q in queries], encoder, depth)
    return {q.key: hits for q, hits in zip(queries, found, strict=True)}


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
