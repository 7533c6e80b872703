"""Measure inputs in tokens once, then batch them longest first under a padded-token budget.

Used by both encoders: the token lengths also say how many inputs were truncated, and batches of similar
lengths carry little padding (sentence-transformers sorts by characters, which leaves ~25 % padding here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np

log = logging.getLogger("recallrank.encoders")


def token_lengths(tokenizer: Any, texts: Sequence[str] | Sequence[tuple[str, str]]) -> list[int]:
    """Tokens per input (pairs count both texts and the special tokens), before any truncation."""
    if tokenizer is None or not texts:
        return []
    if isinstance(texts[0], tuple):
        pairs = cast("Sequence[tuple[str, str]]", texts)
        enc = tokenizer([a for a, _ in pairs], [b for _, b in pairs], add_special_tokens=True, truncation=False,
                        verbose=False)
    else:
        enc = tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
    return [len(ids) for ids in enc["input_ids"]]


def report_truncation(lengths: Sequence[int], max_length: int | None, what: str, model_name: str,
                      first: bool = True) -> int:
    """Count the inputs longer than ``max_length`` tokens; log it as a warning when ``first`` (the first
    truncating call of a model object), else at debug level, so a long job says so once, not per batch."""
    if not max_length:
        return 0
    n = sum(length > max_length for length in lengths)
    if n:
        log.log(logging.WARNING if first else logging.DEBUG,
                "%d of %d %s are longer than %d tokens and were truncated by %s%s", n, len(lengths), what, max_length,
                model_name, "" if not first else " (later truncations are counted in .truncated, logged at DEBUG)")
    return n


def token_batches(lengths: np.ndarray, batch_size: int, max_tokens: int) -> Iterator[list[int]]:
    """Indices longest first, cut into batches of at most ``batch_size`` items and ``max_tokens`` padded tokens."""
    batch: list[int] = []
    for i in np.argsort(-lengths, kind="stable").tolist():
        if batch and (len(batch) == batch_size or (len(batch) + 1) * int(lengths[batch[0]]) > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
