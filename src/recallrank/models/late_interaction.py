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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import check_text
from recallrank.errors import InvalidInputError
from recallrank.models._batching import maybe_words
from recallrank.models._loading import default_bi_encoder_path, load_error
from recallrank.models._quiet import quiet_loading

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
