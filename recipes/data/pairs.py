"""Turn (query, relevant text) pairs from any source into deduplicated, deterministically split retrieval sets."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

from recallrank.datasets.beir import RetrievalSet

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Pair:
    """One query and the one document that answers it.

    ``group`` decides the split: pairs of one group (a Debian source family, a Python module, ...) always
    land in the same split, so near-identical siblings never straddle train and test.
    """

    key: str
    query: str
    text: str
    group: str


def split_of(group: str, dev_pct: int = 10, test_pct: int = 10) -> str:
    """The split of a group, from a stable hash (same answer on every machine and Python version)."""
    bucket = int(hashlib.sha1(group.encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < test_pct:
        return "test"
    if bucket < test_pct + dev_pct:
        return "dev"
    return "train"


def deduplicate(pairs: Iterable[Pair]) -> list[Pair]:
    """Keep the first pair of every distinct document text and of every distinct query text.

    A document text that answers two queries, or a query answered by two texts, would make the single
    judgement wrong, so the later pair is dropped.
    """
    seen_text: set[str] = set()
    seen_query: set[str] = set()
    kept = []
    for p in pairs:
        t, q = " ".join(p.text.split()), " ".join(p.query.split()).casefold()
        if t in seen_text or q in seen_query:
            continue
        seen_text.add(t)
        seen_query.add(q)
        kept.append(p)
    return kept


def to_retrieval_set(
    pairs: list[Pair], name: str, n_queries: int | None = None, n_documents: int | None = None, seed: int = 0
) -> RetrievalSet:
    """A retrieval set: ``n_queries`` sampled queries, each with its one relevant document, in a corpus of
    ``n_documents`` made of those relevant documents plus the other pairs' documents as distractors."""
    rng = random.Random(seed)
    order = sorted(pairs, key=lambda p: p.key)
    rng.shuffle(order)
    nq = len(order) if n_queries is None else min(n_queries, len(order))
    nd = len(order) if n_documents is None else max(nq, min(n_documents, len(order)))
    chosen = order[:nd]
    return RetrievalSet(
        corpus={p.key: p.text for p in chosen},
        queries={f"q-{p.key}": p.query for p in chosen[:nq]},
        qrels={f"q-{p.key}": {p.key: 1} for p in chosen[:nq]},
        name=name,
    )


def split_pairs(pairs: Iterable[Pair]) -> dict[str, list[Pair]]:
    out: dict[str, list[Pair]] = {s: [] for s in SPLITS}
    for p in deduplicate(pairs):
        out[split_of(p.group)].append(p)
    return out
