"""Late interaction (ColBERT): one vector per token, score = MaxSim, on sentence-transformers' ``MultiVectorEncoder``.

Two ways to get token vectors:

* **zero-shot** from any bi-encoder (``LateInteractionEncoder.zero_shot(...)``, the default): the bi-encoder's own
  token embeddings, L2-normalised per token. No training, available for every model a user already has.
* a **trained ColBERT** checkpoint, by hub id or path (``LateInteractionEncoder("path/or/id")``), loaded as a
  ``MultiVectorEncoder`` with its own projection, query/document prompts and masks.

``MaxSimReranker`` uses either as a rerank stage over recalled candidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import Document, Result, check_text
from recallrank.encoders._batching import maybe_words, no_words
from recallrank.encoders._loading import default_bi_encoder_path, load_error
from recallrank.errors import InvalidInputError

log = logging.getLogger(__name__)


def maxsim(query: np.ndarray, document: np.ndarray) -> float:
    """Sum over the query's token vectors of the best dot product with any of the document's token vectors.

    Example:
        >>> maxsim(np.eye(2), np.array([[1.0, 0.0], [0.6, 0.8]]))
        1.8
    """
    if query.size == 0 or document.size == 0:
        return 0.0
    return float((query @ document.T).max(axis=1).sum())


def checkpoint_path(model: str) -> str:
    """A hub id or folder as given; a folder shipped as a delta over the bundled bi-encoder (see
    :mod:`recallrank.encoders._delta`) is assembled once into the cache and that folder returned."""
    from recallrank.encoders._delta import DELTA_NAME, assemble

    folder = Path(model).expanduser()
    if (folder / DELTA_NAME).is_file():
        return str(assemble(folder, default_bi_encoder_path()))
    return model


class LateInteractionEncoder:
    """Token vectors for MaxSim, from a ColBERT checkpoint or (zero-shot) from a bi-encoder's token embeddings.

    Args:
        model: a ColBERT / ``MultiVectorEncoder`` checkpoint (hub id or folder); ``None`` is zero-shot over the
            default bi-encoder (all-MiniLM-L6-v2). Use :meth:`zero_shot` for another bi-encoder.
        device: ``"cpu"``, ``"cuda"``, ... (``None``: the library's choice).
        batch_size: texts per forward pass.
        max_length: token limit per text (``None``: the model's).

    Nothing is loaded until first use.

    Example:
        >>> enc = LateInteractionEncoder()                                 # doctest: +SKIP
        >>> q = enc.encode_queries(["vector database"])[0]                 # doctest: +SKIP
        >>> d = enc.encode_documents(["Qdrant stores vectors."])[0]        # doctest: +SKIP
        >>> maxsim(q, d)                                                   # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, *, device: str | None = None, batch_size: int = 32,
                 max_length: int | None = None, _zero_shot_from: str | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        self.zero_shot_from = _zero_shot_from if _zero_shot_from is not None else (
            default_bi_encoder_path() if model is None else None)
        self.model_name = model if model is not None else f"zero-shot:{self.zero_shot_from}"
        self.device, self.batch_size, self.max_length = device, batch_size, max_length
        self._model: Any = None
        self._dimension: int | None = None

    @classmethod
    def zero_shot(cls, bi_encoder: str, **kwargs: Any) -> LateInteractionEncoder:
        """Zero-shot late interaction over ``bi_encoder``'s own (L2-normalised) token embeddings."""
        return cls(None, _zero_shot_from=bi_encoder, **kwargs)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers import MultiVectorEncoder

        try:
            if self.zero_shot_from is None:
                model = MultiVectorEncoder(checkpoint_path(self.model_name), device=self.device)
            else:
                from sentence_transformers.base.modules import Normalize, Transformer
                from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

                transformer = Transformer(self.zero_shot_from)
                # [CLS] and [SEP] carry no word of their own: dropping them on both sides measured +0.003 nDCG@10
                # on debian-en dev and +0.004 on the question set (a no-op for tokenizers without them)
                specials = [t for t in (transformer.tokenizer.cls_token, transformer.tokenizer.sep_token) if t]
                mask = MultiVectorMask(skiplist_words=specials, skiplist_tasks=["query", "document"])
                model = MultiVectorEncoder(modules=[transformer, Normalize(module_input_name="token_embeddings"),
                                                    mask], device=self.device)
        except Exception as exc:
            raise load_error(self.zero_shot_from or self.model_name, exc) from exc
        if self.max_length is not None:
            model.max_seq_length = self.max_length
        return model

    def warm_up(self) -> None:
        """Load the model now."""
        _ = self.model

    @property
    def dimension(self) -> int:
        """The size of each token vector (measured once on a probe text)."""
        if self._dimension is None:
            self._dimension = int(self.encode_documents(["dimension probe"])[0].shape[1])
        return self._dimension

    def encode_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One ``(tokens, dimension)`` float32 array per query."""
        return self._encode(texts, "query")

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One ``(tokens, dimension)`` float32 array per document."""
        return self._encode(texts, "document")

    def has_tokens(self, texts: Sequence[str], what: str = "document") -> list[bool]:
        """Whether each text gets at least one token vector as a ``what`` (``"document"`` or ``"query"``). A text of
        zero-width spaces or control characters gets none from the zero-shot encoder (it drops ``[CLS]`` and
        ``[SEP]``), and a store cannot hold an empty multivector. Texts with a letter or digit are answered without
        running the model, the others by encoding them."""
        model = self.model
        specials = [t for t in model.tokenizer.all_special_tokens if t]
        skipped = [w for m in model for w in (getattr(m, "skiplist_words", None) or []) if w not in specials]
        quick = not any(maybe_words(w) for w in skipped) and not any(
            getattr(m, "keep_only_token_ids", None) for m in model)
        out = [quick and maybe_words(t, specials) for t in texts]
        unsure = [i for i, ok in enumerate(out) if not ok]
        if unsure:
            for i, vectors in zip(unsure, self._encode([texts[i] for i in unsure], what), strict=True):
                out[i] = len(vectors) > 0
        return out

    def _encode(self, texts: Sequence[str], what: str) -> list[np.ndarray]:
        if isinstance(texts, str):
            raise InvalidInputError(f"pass a list of {what} texts, not a single string")
        texts = [check_text(t, f"{what} {i}") for i, t in enumerate(texts)]
        if not texts:
            return []
        encode = self.model.encode_query if what == "query" else self.model.encode_document
        out = encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return [np.asarray(v, dtype=np.float32) for v in out]

    def save(self, path: str | Path) -> None:
        """Write the model as a ``MultiVectorEncoder`` folder, loadable by ``LateInteractionEncoder(path)``."""
        self.model.save(str(path))

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name, "batch_size": self.batch_size, "max_length": self.max_length}


class MaxSimReranker:
    """A rerank stage: scores each candidate by MaxSim between the query's and the document's token vectors.

    Args:
        encoder: a :class:`LateInteractionEncoder` (``None``: zero-shot over the default bi-encoder).
        field: the name of the token-vector field in the store (e.g. ``"colbert"``). With a field, a retriever
            writes the documents' token vectors at ingest and this stage scores candidates inside Qdrant from
            them (milliseconds); without one, or on a store that lacks the field, candidates are encoded on the
            fly (seconds per query).

    Results carry ``relevance_score`` (the MaxSim score) and keep the recall stage's ``retrieval_score``; inputs
    are never mutated.

    Example:
        >>> MaxSimReranker().rerank("fruit", ["Apples are fruit.", "Qdrant is a database."], top_n=1)  # doctest: +SKIP
    """

    #: the retriever passes its store to rerank(): this stage reads vectors stored there
    uses_store = True

    def __init__(self, encoder: LateInteractionEncoder | None = None, *, field: str | None = None,
                 fuse: float | None = None) -> None:
        if field is not None and (not isinstance(field, str) or not field.isidentifier()):
            raise InvalidInputError(f"field {field!r}: use letters, digits and _, e.g. 'colbert'")
        if fuse is not None and (isinstance(fuse, bool) or not isinstance(fuse, (int, float)) or not 0 <= fuse < 1e6):
            raise InvalidInputError(f"fuse must be a non-negative weight or None, got {fuse!r}")
        self.encoder = encoder if encoder is not None else LateInteractionEncoder()
        self.field, self.fuse = field, fuse
        self.last_seconds = 0.0
        self._warned: set[str] = set()

    def warm_up(self) -> None:
        self.encoder.warm_up()

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """MaxSim of ``query`` against each text (encoded now)."""
        q = self.encoder.encode_queries([check_text(query, "query")])[0]
        return self._scores(q, texts)

    def _scores(self, q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        docs = self.encoder.encode_documents(list(texts))
        return np.array([maxsim(q, d) for d in docs], dtype=np.float32)

    def stored_scores(self, q: np.ndarray, candidates: Sequence[Any], store: Any) -> np.ndarray | None:
        """Scores from the store's token vectors (``None`` when the store has no such field); candidates whose
        vectors are missing (written before the field existed, or an interrupted ingest) are encoded now."""
        from recallrank.index import edge_multivector as mv

        if self.field is None or store is None or not mv.supports(store):
            return None
        if self.field not in store.multivector_fields():
            if store.name not in self._warned:
                self._warned.add(store.name)
                log.warning("collection '%s' has no '%s' token vectors, so MaxSim encodes every candidate now "
                            "(slow); add them once with TwoStageRetriever.add_stage_vectors() or "
                            "`recallrank index --stages ...` over the same sources", store.name, self.field)
            return None
        ids = [c.id for c in candidates]
        stored = store.maxsim_scores(self.field, q, ids)
        missing = [i for i, pid in enumerate(ids) if pid not in stored]
        if missing:
            docs = self.encoder.encode_documents([candidates[i].document.text for i in missing])
            stored.update({ids[i]: maxsim(q, d) for i, d in zip(missing, docs, strict=True)})
        return np.array([stored[pid] for pid in ids], dtype=np.float32)

    def rerank(self, query: str, candidates: Sequence[Any], top_n: int | None = None,
               score_threshold: float | None = None, store: Any = None) -> list[Result]:
        """Order ``candidates`` (texts, :class:`Document` s or recall hits) by MaxSim; keep ``top_n``.

        With ``fuse=w`` and recall scores on every candidate, results are ordered by MaxSim per query token plus
        ``w`` times the recall score (both cosines for normalised vectors); ``relevance_score`` stays the MaxSim.
        """
        start = time.perf_counter()
        docs, recall, ids = _candidates(candidates)
        if not docs:
            return []
        q = self.encoder.encode_queries([check_text(query, "query")])[0]
        if not len(q):
            raise InvalidInputError(no_words("the query", query) + "; type some words")
        scores = self.stored_scores(q, candidates, store) if all(i is not None for i in ids) else None
        if scores is None:
            scores = self._scores(q, [d.text for d in docs])
        final = scores
        if self.fuse is not None and all(r is not None for r in recall):
            final = scores / max(1, len(q)) + self.fuse * np.asarray(recall, dtype=np.float32)
        results = ranked(docs, recall, ids, final, top_n, score_threshold, relevance=scores)
        self.last_seconds = time.perf_counter() - start
        return results

    def config(self) -> dict[str, Any]:
        return {"kind": "maxsim", "field": self.field, "fuse": self.fuse, **self.encoder.config()}


def _candidates(candidates: Sequence[Any]) -> tuple[list[Document], list[float | None], list[str | None]]:
    """Documents, recall scores and point ids of texts, Documents or recall hits."""
    if isinstance(candidates, (str, Document)):
        raise InvalidInputError("pass a list of candidates, not a single one")
    docs, recall, ids = [], [], []
    for c in candidates:
        doc = getattr(c, "document", c)
        doc = Document(doc) if isinstance(doc, str) else doc
        if not isinstance(doc, Document):
            raise InvalidInputError(f"cannot rerank a {type(c).__name__}; pass texts, Documents or hits")
        docs.append(doc)
        recall.append(getattr(c, "score", None))
        ids.append(getattr(c, "id", None))
    return docs, recall, ids


def ranked(docs: Sequence[Document], recall: Sequence[float | None], ids: Sequence[str | None], scores: np.ndarray,
           top_n: int | None, score_threshold: float | None, relevance: np.ndarray | None = None) -> list[Result]:
    """Results best first by ``scores`` (stable), those under ``score_threshold`` dropped, at most ``top_n``;
    ``relevance`` (default: ``scores``) is the stage's own score."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    relevance = scores if relevance is None else relevance
    results = [Result(document=docs[i], score=float(scores[i]), retrieval_score=recall[i],
                      relevance_score=float(relevance[i]), point_id=ids[i])
               for i in order if score_threshold is None or scores[i] >= score_threshold]
    return results[:top_n] if top_n is not None else results
