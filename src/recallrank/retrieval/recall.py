"""The recall leg of :class:`~recallrank.retrieval.pipeline.TwoStageRetriever`: how the first ``top_k`` candidates
are found, inside Qdrant, before any rerank stage.

* ``"dense"``: the bi-encoder's nearest neighbours. ``retrieval_score``: the similarity (cosine for the bundled
  models; negated distance for euclidean collections).
* ``"sparse"``: BM25 on the collection's ``bm25`` field (Qdrant's own BM25, multilingual tokens, IDF over the
  collection). ``retrieval_score``: the BM25 score (unbounded, > 0). Exact keywords, identifiers and option
  names; no query embedding is computed.
* ``"auto"``: per query, ``"hybrid"`` for a keyword-shaped one (an option such as ``--partial-dir``, an
  ``ENV_VAR``, a dotted key, ``E404``: :func:`keyword_shaped`) and ``"dense"`` for the rest; dense for every
  query of a collection without the BM25 field (a warning says how to add it).
* ``"hybrid"``: both, ``top_k`` each with the metadata filter inside both legs, fused in one Qdrant query by
  reciprocal rank fusion. ``retrieval_score``: the RRF score, the sum over both lists of ``1 / (2 + rank)`` (rank
  0 first; at most 1.0): it orders candidates, it is not a cosine.

A collection made before recallrank wrote the BM25 field raises
:class:`~recallrank.index.sparse.SparseFieldMissingError` for ``"sparse"`` and ``"hybrid"``, saying how to add the
field (``recallrank index --add-sparse``, ``store.add_sparse()``, or ``add_stage_vectors()`` of a retriever that
recalls with it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, cast

import numpy as np

from recallrank.errors import InvalidInputError, StoreError
from recallrank.index.base import Hit, MetadataFilter, VectorStore
from recallrank.index.sparse import FIELD, check_fusion

log = logging.getLogger(__name__)

RecallMode = Literal["dense", "hybrid", "sparse", "auto"]
RECALL_MODES: tuple[str, ...] = ("dense", "hybrid", "sparse", "auto")
#: what makes a query keyword-shaped: an option, snake_case or ENV_VAR, a dotted key, camelCase or PascalCase, letters
#: then digits, code or shell characters, a path
_SHAPES = re.compile(r"""(?x)
  (?:^|\s)--?[A-Za-z0-9?][\w.-]*          # an option: -x, --long-name
| \w+_\w+                                 # snake_case, ENV_VAR
| \b[a-z]\w*\.[a-z]\w*\b                  # a dotted key: help.format, core.editor
| \b[a-z]+[A-Z]\w*\b                      # camelCase
| \b[A-Z][a-z]+[A-Z]\w*\b                 # PascalCase: AcceptEnv
| \b[A-Za-z]+\d+\w*\b                     # letters then digits: E404, md5sum, ipv6
| [=<>{}\[\]`$@#|]|::                     # code and shell
| (?:^|\s)[~.]?/[\w.-]+/                  # a path
""")
#: an all-caps name of three or more (PAGER, UID) makes a query of at most three words keyword-shaped
_CAPS = re.compile(r"\b[A-Z][A-Z0-9]{2,}\b")
#: the words of a query looked at, and the characters of each
_WORDS, _LONGEST = 256, 100


def keyword_shaped(query: str) -> bool:
    """Whether ``query`` looks like a keyword search (``--partial-dir``, ``GIT_SSH``, ``help.format``, ``E404``)
    rather than a question or description: what ``recall="auto"`` sends to hybrid recall.

    Example:
        >>> keyword_shaped("rsync --partial-dir"), keyword_shaped("How do I resume a copy?")
        (True, False)
    """
    words = query.split()
    # word by word, each cut to its first 100 characters (no shape spans a space): linear in the query's length,
    # where the whole string made some patterns quadratic on one long run of letters (53 s for 80,000 'a's)
    return any(_SHAPES.search(" " + w[:_LONGEST]) for w in words[:_WORDS]) or (
        len(words) <= 3 and bool(_CAPS.search(query)))
#: the recall mode every front end uses when none is given (one place to change it): keyword-shaped queries hybrid,
#: the rest dense. Measured (benchmarks/results/recall_modes.md): it never lost to dense on a held-out set, and
#: gained on keyword queries; plain hybrid lost on Chinese titles (gnome-help-zh) and dense on keywords
DEFAULT_RECALL_MODE: RecallMode = "auto"
#: what each mode means, for front ends' help texts
RECALL_HELP = ("how candidates are recalled: dense (bi-encoder vectors), sparse (Qdrant's BM25 over the stored "
               "text: exact keywords, identifiers), hybrid (both, fused by RRF inside Qdrant) or auto (hybrid for a "
               "keyword-shaped query such as --some-option, ENV_VAR, a.dotted.key, E404; dense for the rest)")


def check_recall_mode(mode: object) -> RecallMode:
    if mode not in RECALL_MODES:
        raise InvalidInputError(f"recall={mode!r}: use 'dense' (bi-encoder vectors), 'sparse' (BM25 keywords), "
                                "'hybrid' (both, fused) or 'auto' (hybrid for keyword-shaped queries, else dense)")
    return cast(RecallMode, mode)


class Recall:
    """One recall mode over a store (see the module docstring for what each mode's scores are).

    Example:
        >>> Recall("hybrid").embeds_query, Recall("sparse").embeds_query
        (True, False)
    """

    def __init__(self, mode: str = DEFAULT_RECALL_MODE, fusion: str = "rrf") -> None:
        self.mode: RecallMode = check_recall_mode(mode)
        self.fusion = check_fusion(fusion)
        self._sparse_ready: bool | None = None  # auto: whether the store has a filled BM25 field (checked once)

    def mode_for(self, query: str, store: VectorStore | None = None) -> str:
        """The mode that recalls ``query``: the one given, or with ``"auto"`` hybrid for a keyword-shaped query
        (:func:`keyword_shaped`) and dense for the rest (and for every query of a store without the BM25 field)."""
        if self.mode != "auto":
            return self.mode
        if not keyword_shaped(query):
            return "dense"
        return "hybrid" if store is None or self._has_sparse(store) else "dense"

    def _has_sparse(self, store: VectorStore) -> bool:
        if self._sparse_ready is None:
            if not store.exists():  # nothing written yet: a new collection gets the field with its first points
                return False
            if not getattr(store, "supports_sparse", False):  # a dense-only store: auto is dense there
                self._sparse_ready = False
                return False
            try:
                record = store.sparse_field()
                self._sparse_ready = bool(record and record.get("filled"))
            except StoreError:
                self._sparse_ready = False
            if not self._sparse_ready:
                log.warning("%s has no BM25 field: recall='auto' recalls keyword-shaped queries by vector alone; "
                            "add the field with `recallrank index --add-sparse` (or store.add_sparse())",
                            getattr(store, "where", type(store).__name__))
        return self._sparse_ready

    @property
    def embeds_query(self) -> bool:
        """Whether the query's dense vector is needed (not for ``"sparse"``)."""
        return self.mode != "sparse"

    @property
    def scores_are_similarities(self) -> bool:
        """Whether ``retrieval_score`` is the bi-encoder's similarity: a fusion calibrated on it (the shipped
        cross-encoder's) applies only then (with ``"auto"``, to the queries :meth:`mode_for` recalls densely)."""
        return self.mode in ("dense", "auto")

    def check_store(self, store: VectorStore) -> None:
        """Refuse, before any I/O, a store that cannot hold the BM25 field (a dense-only stand-in)."""
        if self.mode in ("sparse", "hybrid") and not getattr(store, "supports_sparse", False):
            raise StoreError(f"{type(store).__name__} holds no sparse BM25 vectors, so recall={self.mode!r} cannot "
                             "run on it; use EdgeStore or QdrantServerStore, or recall='dense'")

    def model(self, encoder_name: str, mode: str | None = None) -> str:
        """The ``model`` a recall result reports (``mode``: the one that recalled it, see :meth:`mode_for`)."""
        return {"dense": encoder_name, "sparse": FIELD, "hybrid": f"{encoder_name}+{FIELD}"}[mode or self.mode]

    def search(self, store: VectorStore, query: str, vector: np.ndarray | None, limit: int,
               flt: MetadataFilter | None, exact: bool) -> list[Hit]:
        """The ``limit`` candidates, best first (``vector``: the query's embedding, ``None`` for ``"sparse"``)."""
        mode = self.mode_for(query, store)
        if mode == "sparse":
            return store.search_sparse(query, limit, flt)
        if mode == "hybrid":
            return store.search_hybrid(_needed(vector), query, limit, flt, exact, self.fusion)
        return store.search(_needed(vector), limit, flt, exact)

    async def asearch(self, store: VectorStore, query: str, vector: np.ndarray | None, limit: int,
                      flt: MetadataFilter | None, exact: bool) -> list[Hit]:
        """Async :meth:`search`."""
        mode = self.mode_for(query, store)
        if mode == "sparse":
            return await store.asearch_sparse(query, limit, flt)
        if mode == "hybrid":
            return await store.asearch_hybrid(_needed(vector), query, limit, flt, exact, self.fusion)
        return await store.asearch(_needed(vector), limit, flt, exact)

    def similarities(self, store: VectorStore, hits: list[Hit], vector: np.ndarray,
                     similarity: str = "cosine") -> list[Hit]:
        """``hits`` of a hybrid recall, in the same order, each scored by its dense similarity to the query, as
        dense recall scores it (cosine, dot, or the negated euclidean distance): what the rerank stages see as
        ``retrieval_score``, so that a stage fused with the recall similarity (the default MaxSim) reads the scale
        it was calibrated on rather than RRF's."""
        stored = store.vectors([h.id for h in hits])
        if len(stored) < len(hits):
            return hits
        q = np.asarray(vector, dtype=np.float64)

        def score(v: np.ndarray) -> float:
            v = np.asarray(v, dtype=np.float64)
            if similarity == "euclidean":
                return -float(np.linalg.norm(v - q))
            if similarity == "dot":
                return float(v @ q)
            return float(v @ q / max(float(np.linalg.norm(v) * np.linalg.norm(q)), 1e-12))

        return [replace(h, score=score(stored[h.id])) for h in hits]

    def fill(self, store: VectorStore, progress: Callable[[int], object] | None = None) -> int:
        """Add and fill the BM25 field this mode reads where the collection lacks it (``0`` for ``"dense"``, or
        when nothing lacks it)."""
        if self.mode == "dense" or not getattr(store, "supports_sparse", False) or not store.exists():
            return 0
        self._sparse_ready = None
        return store.add_sparse(progress=progress)

    def config(self) -> dict[str, Any]:
        return {"mode": self.mode, **({"fusion": self.fusion} if self.mode in ("hybrid", "auto") else {})}


def _needed(vector: np.ndarray | None) -> np.ndarray:
    if vector is None:
        raise InvalidInputError("dense and hybrid recall need the query's vector")
    return vector
