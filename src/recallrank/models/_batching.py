"""Measure inputs in tokens once, then batch them longest first under a padded-token budget.

Used by both encoders: the token lengths also say how many inputs were truncated, and batches of similar
lengths carry little padding (sentence-transformers sorts by characters, which leaves ~25 % padding here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, cast

import numpy as np

from recallrank.models._loading import short_name

log = logging.getLogger("recallrank.models")


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


def token_spans(tokenizer: Any, texts: Sequence[str]) -> list[list[tuple[int, int, int]]]:
    """``(token id, start, end)`` of each text's tokens as the model reads them, special tokens left out and
    nothing truncated: character offsets into the text, from the fast tokenizer (no model pass)."""
    if not texts:
        return []
    own = getattr(tokenizer, "spans", None)
    if own is not None:
        return cast("list[list[tuple[int, int, int]]]", own(list(texts)))
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False,
                    return_offsets_mapping=True)
    return [[(i, a, b) for i, (a, b) in zip(ids, offsets, strict=True)]
            for ids, offsets in zip(enc["input_ids"], enc["offset_mapping"], strict=True)]


def report_truncation(truncated: int, total: int, max_length: int | None, what: str, model_name: str,
                      first: bool = True) -> int:
    """Log that ``truncated`` of ``total`` inputs were cut to ``max_length`` tokens: as a warning when ``first``
    (the first truncating call of a model object), else at debug level, so a long job says so once, not per
    batch. Returns ``truncated``."""
    if truncated:
        advice = ("a smaller chunk size keeps query and text within it: `recallrank index --chunk-size N` or "
                  "recallrank.chunk(documents, retriever, size=N)" if "pairs" in what else
                  "index the texts in chunks that fit: recallrank.chunk(documents, retriever), or `recallrank "
                  "index` without --chunk-size 0")
        log.log(logging.WARNING if first else logging.DEBUG,
                "%d of %d %s are longer than %d tokens and were truncated by %s%s", truncated, total, what,
                max_length, short_name(model_name),
                "" if not first else f" (later truncations are counted in .truncated, logged at DEBUG; {advice})")
    return truncated


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


class PairEncoder:
    """Tokenizes (query, text) pairs once with the model's fast tokenizer, truncated exactly as
    sentence-transformers would, and pads batches from those ids: one tokenization serves measuring, truncation
    counting and the forward pass. :meth:`for_model` returns ``None`` where that equivalence cannot be checked."""

    def __init__(self, backend: Any, keys: set[str], extras: dict[str, Any], pad_id: int) -> None:
        self.backend, self.keys, self.extras, self.pad_id = backend, keys, extras, pad_id

    @classmethod
    def for_model(cls, model: Any) -> PairEncoder | None:
        import copy

        import torch

        tokenizer, limit = model.tokenizer, model.max_seq_length
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or not limit or getattr(tokenizer, "padding_side", "right") != "right":
            return None
        sample = [("a query of some words", "document " * (limit + 8)), ("q", "a short text")]
        reference = model.preprocess(sample)
        keys = {k for k, v in reference.items() if isinstance(v, torch.Tensor)}
        if not keys <= {"input_ids", "token_type_ids", "attention_mask"}:
            return None
        fast = copy.deepcopy(backend)
        fast.no_padding()
        fast.enable_truncation(max_length=limit, strategy="longest_first")
        encoder = cls(fast, keys, {k: v for k, v in reference.items() if k not in keys},
                      tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        mine = encoder.features(encoder.encode(sample), [0, 1])
        same = all(torch.equal(mine[k], reference[k]) for k in keys)
        return encoder if same else None

    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[Any]:
        return list(self.backend.encode_batch(list(pairs)))

    def features(self, encodings: Sequence[Any], batch: Sequence[int]) -> dict[str, Any]:
        import torch

        width = max(len(encodings[i].ids) for i in batch)
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        types = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, i in enumerate(batch):
            enc = encodings[i]
            n = len(enc.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = enc.ids, enc.type_ids, 1
        arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        return {**{k: torch.from_numpy(arrays[k]) for k in self.keys}, **self.extras}


def has_tokens(tokenizer: Any, texts: Sequence[str]) -> list[bool]:
    """Whether the tokenizer finds at least one token in each text other than its special tokens (``[CLS]``,
    ``[SEP]``, padding; ``[UNK]`` counts: the model reads it). Zero-width spaces, control characters and lone
    accents are dropped by the tokenizer, so a text of them alone has none."""
    specials = [s for s in tokenizer.all_special_tokens if s]
    out = [maybe_words(t, specials) for t in texts]
    unsure = [i for i, ok in enumerate(out) if not ok]
    if unsure:
        skip = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
        ids = tokenizer([texts[i] for i in unsure], add_special_tokens=False, truncation=False,
                        verbose=False)["input_ids"]
        for i, row in zip(unsure, ids, strict=True):
            out[i] = any(t not in skip for t in row)
    return out


def maybe_words(text: str, specials: Sequence[str] = ()) -> bool:
    """The quick test: a letter or digit always yields a token (a word piece or ``[UNK]``), unless it is part of a
    special token written out (``"[SEP]"``); ``False`` means "tokenize to know"."""
    return any(c.isalnum() for c in text) and not any(s in text for s in specials)


def no_words(what: str, text: str) -> str:
    """The start of the message for a text in which the model finds no token (see :func:`has_tokens`)."""
    return (f"{what} has no words the model can read ({text!r:.40} holds only characters its tokenizer drops, such as "
            "zero-width spaces, control characters or lone accents)")
