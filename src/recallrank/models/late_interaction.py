"""Late interaction (ColBERT): one vector per token, score = MaxSim, on sentence-transformers' ``MultiVectorEncoder``.

Two ways to get token vectors:

* **zero-shot** from any bi-encoder (``LateInteractionEncoder.zero_shot(...)``, the default): the bi-encoder's own
  token embeddings, L2-normalised per token. No training, available for every model a user already has. They come
  from the bi-encoder's own forward pass on its fast runtime (:meth:`BiEncoder.encode_with_tokens`), so a pipeline
  whose recall model is that bi-encoder gets the dense vector and the token vectors of a text from one pass.
* a **trained ColBERT** checkpoint, by hub id or path (``LateInteractionEncoder("path/or/id")``), loaded as a
  ``MultiVectorEncoder`` with its own projection, query/document prompts and masks.

``MaxSimReranker`` uses either as a rerank stage over recalled candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import check_text
from recallrank.errors import InvalidInputError
from recallrank.models._batching import maybe_words
from recallrank.models._loading import default_bi_encoder_path, load_error
from recallrank.models._quiet import quiet_loading
from recallrank.models.bi_encoder import BiEncoder

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


def punctuation(vocab: Iterable[str]) -> list[str]:
    """The tokens of a vocabulary that hold no letter or digit: what zero-shot MaxSim leaves out of a document."""
    return [t for t in vocab if not any(c.isalnum() for c in t)]


def checkpoint_path(model: str) -> str:
    """A hub id or folder as given; a folder shipped as a delta over the bundled bi-encoder (see
    :mod:`recallrank.models._delta`) is assembled once into the cache and that folder returned."""
    from recallrank.models._delta import DELTA_NAME, assemble

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
                 max_length: int | None = None, precision: str = "auto",
                 _zero_shot_from: str | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        self.zero_shot_from = _zero_shot_from if _zero_shot_from is not None else (
            default_bi_encoder_path() if model is None else None)
        self.model_name = model if model is not None else f"zero-shot:{self.zero_shot_from}"
        self.device, self.batch_size, self.max_length = device, batch_size, max_length
        #: zero-shot: the bi-encoder whose forward pass gives the token vectors (loaded on first use; a retriever
        #: whose recall model is the same bi-encoder passes its own with :meth:`share_pass`)
        self.runner: BiEncoder | None = None if self.zero_shot_from is None else BiEncoder(
            self.zero_shot_from, device=device, batch_size=batch_size, max_length=max_length,
            precision=precision)  # type: ignore[arg-type]
        self._model: Any = None
        self._punctuation: np.ndarray | None = None
        self._dimension: int | None = None

    @classmethod
    def zero_shot(cls, bi_encoder: str, **kwargs: Any) -> LateInteractionEncoder:
        """Zero-shot late interaction over ``bi_encoder``'s own (L2-normalised) token embeddings."""
        return cls(None, _zero_shot_from=bi_encoder, **kwargs)

    @property
    def document_skip(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Zero-shot: which token ids a document keeps no vector for, its punctuation (tokens without a letter or
        digit; ``benchmarks/token_storage.py``: a fifth of Debian's tokens, nDCG@10 unchanged within 0.005 on every
        held-out set). Queries keep all their tokens. ``None`` for a trained model (it has its own masks)."""
        if self.runner is None:
            return None
        if self._punctuation is None:
            vocab = self.runner.tokenizer_vocab()
            mask = np.zeros(max(vocab.values(), default=0) + 1, dtype=bool)
            mask[[vocab[t] for t in punctuation(vocab)]] = True
            self._punctuation = mask
        table = self._punctuation
        return lambda ids: table[np.minimum(ids, len(table) - 1)]

    def share_pass(self, bi_encoder: Any) -> bool:
        """Take token vectors from ``bi_encoder``'s forward pass when it is the model this zero-shot encoder reads
        (same folder or id, same token limit), so its dense vectors and these token vectors come from one pass;
        whether it was taken."""
        if bi_encoder is self.runner:
            return True
        if (self.runner is None or not isinstance(bi_encoder, BiEncoder) or bi_encoder.pooling is not None
                or bi_encoder.model_name != self.zero_shot_from or bi_encoder.max_length != self.max_length):
            return False
        self.runner = bi_encoder
        return True

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers import MultiVectorEncoder

        try:
            with quiet_loading():
                if self.zero_shot_from is None:
                    model = MultiVectorEncoder(checkpoint_path(self.model_name), device=self.device)
                else:
                    from sentence_transformers.base.modules import Normalize, Transformer
                    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

                    transformer = Transformer(self.zero_shot_from)
                    # [CLS] and [SEP] carry no word of their own: dropping them on both sides measured +0.003
                    # nDCG@10 on debian-en dev and +0.004 on the question set (a no-op for tokenizers without them)
                    specials = [t for t in (transformer.tokenizer.cls_token, transformer.tokenizer.sep_token) if t]
                    mask = MultiVectorMask(skiplist_words=specials, skiplist_tasks=["query", "document"])
                    # documents also drop their punctuation, as the fast path does (see document_skip)
                    marks = MultiVectorMask(skiplist_words=punctuation(transformer.tokenizer.get_vocab()),
                                            skiplist_tasks=["document"])
                    model = MultiVectorEncoder(modules=[transformer, Normalize(module_input_name="token_embeddings"),
                                                        mask, marks], device=self.device)
        except Exception as exc:
            raise load_error(self.zero_shot_from or self.model_name, exc) from exc
        if self.max_length is not None:
            model.max_seq_length = self.max_length
        return model

    def warm_up(self) -> None:
        """Load the model now."""
        if self.runner is not None:
            self.runner.warm_up()
        else:
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
        if self.runner is not None:
            return self.runner.has_tokens(texts)
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
        if self.runner is not None:
            if what == "document":
                return self.runner.encode_with_tokens(texts, what, skip=self.document_skip)[1]
            known = self.runner.query_tokens(texts[0]) if len(texts) == 1 else None
            return [known] if known is not None else self.runner.encode_with_tokens(texts, what)[1]
        encode = self.model.encode_query if what == "query" else self.model.encode_document
        out = encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return [np.asarray(v, dtype=np.float32) for v in out]

    def save(self, path: str | Path) -> None:
        """Write the model as a ``MultiVectorEncoder`` folder, loadable by ``LateInteractionEncoder(path)``."""
        self.model.save(str(path))

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name, "batch_size": self.batch_size, "max_length": self.max_length}
