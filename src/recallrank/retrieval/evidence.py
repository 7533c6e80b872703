"""Evidence (``evidence=True``): where each result matched the query, without a second model pass.

Off by default: reading a result's stored token vectors back from Qdrant costs about 5 ms (their conversion to
Python numbers), which took the default search from 22 ms to 84 ms for 10 results on the FAQ set.

After a late-interaction stage (zero-shot MaxSim over the bi-encoder's token vectors), each query token's best
document token is read from the token vectors already stored in Qdrant; the tokenizer alone (no model) maps those
tokens back to character offsets. Matched words close together are merged into a few snippets, each scored by the
similarities it holds (its share of the MaxSim score), with the matched words highlighted.

After the cross-encoder, the evidence is the result's best sentence by the cross-encoder, at bounded cost: at most
:data:`MAX_SENTENCES` sentences of each returned result (those sharing most words with the query) are scored, in one
batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from recallrank.documents import BOOKKEEPING, Evidence, Result
from recallrank.errors import InvalidInputError

#: snippets kept per result
MAX_SNIPPETS = 3
#: characters of context on each side of a snippet's matched words
CONTEXT = 60
#: matched words at most this many characters apart share a snippet
MERGE_GAP = 80
#: a query token's match is highlighted when its similarity reaches this (zero-shot MiniLM token cosines: the same
#: word ~0.8-1.0, a related one ~0.5-0.7, an unrelated one below 0.4)
HIGHLIGHT_MIN = 0.55
#: English function words: they count towards a snippet's score but are not highlighted
FUNCTION_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "did", "do", "does", "for", "from", "has",
    "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "me", "my", "no", "not", "of", "on", "or",
    "our", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
})
#: sentences of a result the cross-encoder scores for its evidence
MAX_SENTENCES = 8
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])\s*|\n\s*\n|\n(?=\s*[-*•\d])")
_WORD = re.compile(r"\w+")


def check_evidence(value: object) -> bool:
    """``evidence`` as given (``True`` or ``False``), or a clear error."""
    if isinstance(value, bool):
        return value
    raise InvalidInputError(f"evidence must be true or false, got {value!r:.40}")


def token_spans(encoder: Any, text: str, what: str = "document") -> list[tuple[int, int]] | None:
    """Character spans in ``text`` of the token vectors a late-interaction ``encoder`` keeps for it, in order
    (``(-1, -1)`` for a token of the model's own prefix or a special token); ``None`` where they cannot be known
    (a model without a fast tokenizer). The tokenizer alone runs."""
    runner = getattr(encoder, "runner", None)
    if runner is None:
        return _trained_spans(encoder, text, what)
    if not hasattr(runner, "token_spans"):
        return None
    prefix = runner.document_prefix if what == "document" else getattr(runner, "query_prefix", "")
    spans = runner.token_spans([prefix + text])[0]
    limit = runner.token_limit
    if limit is not None:
        spans = spans[:limit]
    tokenizer = runner._tokenizer()
    specials = {i for i in (tokenizer.cls_token_id, tokenizer.sep_token_id) if i is not None}
    spans = [s for s in spans if s[0] not in specials]  # a literal "[SEP]" in the text: the encoder drops it too
    skip = encoder.document_skip if what == "document" else None
    if skip is not None and spans:
        keep = ~skip(np.array([i for i, _, _ in spans], dtype=np.int64))
        if keep.any():  # a text of skipped tokens alone keeps them (as the encoder does)
            spans = [s for s, k in zip(spans, keep, strict=True) if k]
    n = len(prefix)
    return [(a - n, b - n) if a >= n else (-1, -1) for _, a, b in spans]


def _trained_spans(encoder: Any, text: str, what: str) -> list[tuple[int, int]] | None:
    """:func:`token_spans` for a trained ColBERT (a ``MultiVectorEncoder``): its prompt (``[unused1] ``) and special
    tokens keep vectors of their own (``(-1, -1)`` here), its length limit cuts the rest (the closing token kept),
    and a document drops its skiplist tokens, as the model's ``MultiVectorMask`` does."""
    model = getattr(encoder, "model", None)
    tokenizer = getattr(model, "tokenizer", None)
    if model is None or tokenizer is None or not getattr(tokenizer, "is_fast", False):
        return None
    prompt = (getattr(model, "prompts", None) or {}).get(what, "")
    found = tokenizer(prompt + text, add_special_tokens=True, truncation=False, return_offsets_mapping=True)
    ids, offsets = list(found["input_ids"]), list(found["offset_mapping"])
    limit = getattr(model[0], f"{what}_length", None) or getattr(model, "max_seq_length", None)
    if limit and len(ids) > limit:
        ids, offsets = ids[:limit - 1] + ids[-1:], offsets[:limit - 1] + offsets[-1:]
    skip: set[int] = set()
    for module in model:
        words = getattr(module, "skiplist_words", None)
        if words and what in (getattr(module, "skiplist_tasks", None) or ()):
            skip |= set(tokenizer.convert_tokens_to_ids(list(words)))
    specials, n = set(tokenizer.all_special_ids), len(prompt)
    return [(a - n, b - n) if i not in specials and a >= n else (-1, -1)
            for i, (a, b) in zip(ids, offsets, strict=True) if i not in skip]


def matched(query: np.ndarray, query_spans: Sequence[tuple[int, int]], query_text: str, document: np.ndarray,
            doc_spans: Sequence[tuple[int, int]]) -> list[tuple[int, float]]:
    """For each query token that holds a word: ``(document token, similarity)`` of its MaxSim match."""
    if not len(query) or not len(document):
        return []
    sims = query @ document.T
    best, value = sims.argmax(axis=1), sims.max(axis=1)
    out = []
    for i, (a, b) in enumerate(query_spans[:len(query)]):
        if a >= 0 and _WORD.search(query_text[a:b]) and doc_spans[int(best[i])][0] >= 0:
            out.append((int(best[i]), float(value[i])))
    return out


def snippets(text: str, doc_spans: Sequence[tuple[int, int]], matches: Sequence[tuple[int, float]],
             offset: int | None, stage: str) -> tuple[Evidence, ...]:
    """The matches merged into at most :data:`MAX_SNIPPETS` snippets of ``text``, best first; ``offset``: where
    ``text`` starts in its document (``None``: unknown)."""
    found = sorted(((doc_spans[j], v) for j, v in matches), key=lambda m: m[0][0])
    clusters: list[list[tuple[tuple[int, int], float]]] = []
    for span, v in found:
        if clusters and span[0] - clusters[-1][-1][0][1] <= MERGE_GAP:
            clusters[-1].append((span, v))
        else:
            clusters.append([(span, v)])
    ranked = sorted(clusters, key=lambda c: -sum(v for _, v in c))[:MAX_SNIPPETS]
    out = []
    for cluster in ranked:
        start, end = _widen(text, cluster[0][0][0] - CONTEXT, cluster[-1][0][1] + CONTEXT)
        words = sorted({w for w in (_word(text, *span) for span, v in cluster if v >= HIGHLIGHT_MIN)
                        if text[w[0]:w[1]].lower() not in FUNCTION_WORDS})
        out.append(Evidence(start, end, text[start:end], round(sum(v for _, v in cluster), 4), tuple(words),
                            None if offset is None else offset + start, None if offset is None else offset + end,
                            stage))
    return tuple(out)


def _widen(text: str, a: int, b: int) -> tuple[int, int]:
    """``[a, b)`` clipped to ``text`` and moved out to whitespace, so no word is cut."""
    a, b = max(0, a), min(len(text), b)
    while a > 0 and not text[a - 1].isspace():
        a -= 1
    while b < len(text) and not text[b].isspace():
        b += 1
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _word(text: str, a: int, b: int) -> tuple[int, int]:
    """The whole word around the token ``[a, b)`` (a word piece such as ``##ing`` grows to its word)."""
    while a > 0 and text[a - 1].isalnum() and text[a].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum() and text[b - 1].isalnum():
        b += 1
    return a, b


def chunk_offset(result: Result) -> int | None:
    """Where the result's text starts in the document it was cut from (chunking records it), else ``None``."""
    book = result.document.metadata.get(BOOKKEEPING)
    start = book.get("start") if isinstance(book, dict) else None
    return start if isinstance(start, int) and not isinstance(start, bool) else None


def sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence (or list item, or paragraph) of ``text``."""
    out, begin = [], 0
    for m in _SENTENCE.finditer(text):
        out.append((begin, m.start()))
        begin = m.end()
    out.append((begin, len(text)))
    return [(a, b) for a, b in out if text[a:b].strip()]


def sentence_evidence(reranker: Any, query: str, results: Sequence[Result], stage: str) -> list[Result]:
    """Each result with its best sentence by the cross-encoder ``reranker`` first in its evidence (before what it
    had), the query's words in it highlighted: at most :data:`MAX_SENTENCES` sentences a result (those sharing the
    most words with the query) are scored, in one batch."""
    words = {w.lower() for w in _WORD.findall(query)}
    picked: list[list[tuple[int, int]]] = []
    for r in results:
        spans = sentences(r.text)
        if len(spans) > MAX_SENTENCES:
            overlap = [-len(words & {w.lower() for w in _WORD.findall(r.text[a:b])}) for a, b in spans]
            spans = [spans[i] for i in sorted(np.argsort(overlap, kind="stable")[:MAX_SENTENCES])]
        picked.append(spans)
    texts = [r.text[a:b] for r, spans in zip(results, picked, strict=True) for a, b in spans]
    scores = list(reranker.score(query, texts)) if texts else []
    out, at = [], 0
    for r, spans in zip(results, picked, strict=True):
        mine, at = scores[at:at + len(spans)], at + len(spans)
        if not mine:
            out.append(replace(r, evidence=r.evidence or ()))
            continue
        k = int(np.argmax(mine))
        a, b = _widen(r.text, *spans[k])
        offset = chunk_offset(r)
        marks = tuple((a + m.start(), a + m.end()) for m in _WORD.finditer(r.text[a:b])
                      if m.group().lower() in words and m.group().lower() not in FUNCTION_WORDS)
        best = Evidence(a, b, r.text[a:b], round(float(mine[k]), 4), marks, None if offset is None else offset + a,
                        None if offset is None else offset + b, stage)
        out.append(replace(r, evidence=(best, *(r.evidence or ()))))
    return out
