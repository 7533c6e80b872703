"""Poly-encoder (Humeau et al., 2020) as a rerank stage whose document vectors are the ones already in the store.

The query side reads the query with a transformer and lets ``m`` learnt *codes* attend over its token outputs,
giving ``m`` query vectors. The document side is the bi-encoder's own (normalised) vector, the one Qdrant already
holds for recall, so the stage costs no extra bytes per document and no document encoding at query time. Each
document attends over the ``m`` query vectors with its own vector; the score is the cosine between the document
vector and that mixture.

With all codes at zero the attention is uniform, every query vector is the mean of the token outputs, and the
score is exactly the bi-encoder's cosine: training starts from the bi-encoder and only learns what it adds. The
trained query tower shares the bi-encoder's embeddings and lower layers, which stay frozen; the model folder holds
the upper layers and the codes (``poly_encoder.json`` + ``poly_encoder.safetensors``) and names the base model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.documents import check_text
from recallrank.errors import InvalidInputError, ModelLoadError
from recallrank.models._loading import default_bi_encoder_path, load_error

CONFIG_NAME = "poly_encoder.json"
WEIGHTS_NAME = "poly_encoder.safetensors"


def build_module(base: str, codes: int, trainable_layers: int) -> Any:
    """A fresh ``torch.nn.Module`` Poly-encoder query tower over ``base`` (a bi-encoder folder or hub id)."""
    import torch
    from transformers import AutoModel

    class PolyQueryTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(base)
            self.frozen = len(self.bert.encoder.layer) - trainable_layers
            if not 0 <= self.frozen < len(self.bert.encoder.layer):
                raise InvalidInputError(f"trainable_layers must be 1..{len(self.bert.encoder.layer)}, "
                                        f"got {trainable_layers}")
            for p in self.bert.embeddings.parameters():
                p.requires_grad = False
            for layer in self.bert.encoder.layer[:self.frozen]:
                for p in layer.parameters():
                    p.requires_grad = False
            dim = self.bert.config.hidden_size
            self.codes = torch.nn.Parameter(torch.zeros(codes, dim))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            """``(batch, m, dim)`` query vectors: each code's attention-weighted mean of the token outputs."""
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = torch.einsum("md,btd->bmt", self.codes, h) / h.shape[-1] ** 0.5
            logits = logits.masked_fill(attention_mask[:, None, :] == 0, float("-inf"))
            return torch.einsum("bmt,btd->bmd", logits.softmax(-1), h)

        def trainable_state(self) -> dict[str, Any]:
            names = {n for n, p in self.named_parameters() if p.requires_grad}
            return {n: t for n, t in self.state_dict().items() if n in names}

    return PolyQueryTower()


def poly_scores(query_vectors: Any, doc_vectors: Any) -> Any:
    """Scores ``(batch, docs)`` from query vectors ``(batch, m, dim)`` and normalised doc vectors ``(docs, dim)``
    (shared by every query) or ``(batch, docs, dim)`` (one list per query)."""
    import torch

    if doc_vectors.dim() == 2:
        doc_vectors = doc_vectors.unsqueeze(0).expand(query_vectors.shape[0], -1, -1)
    attn = torch.einsum("bnd,bmd->bnm", doc_vectors, query_vectors).softmax(-1)
    mixed = torch.einsum("bnm,bmd->bnd", attn, query_vectors)
    return torch.nn.functional.cosine_similarity(mixed, doc_vectors, dim=-1)


class PolyEncoder:
    """A trained Poly-encoder query tower; documents are represented by the bi-encoder's stored vectors.

    Args:
        model: a folder written by :meth:`save` (``poly_encoder.json`` + weights).
        device: ``"cpu"``, ``"cuda"``, ... (``None``: cuda when available).
        batch_size: queries per forward pass.

    Example:
        >>> poly = PolyEncoder("path/to/poly")                              # doctest: +SKIP
        >>> q = poly.encode_queries(["install a mail server"])            # doctest: +SKIP
        >>> poly.score(q[0], doc_vectors)                                  # doctest: +SKIP
    """

    def __init__(self, model: str | Path, *, device: str | None = None, batch_size: int = 32) -> None:
        self.path = Path(model)
        self.device, self.batch_size = device, batch_size
        self._module: Any = None
        self._tokenizer: Any = None
        self._config: dict[str, Any] | None = None

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            try:
                self._config = json.loads((self.path / CONFIG_NAME).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"{self.path} is not a Poly-encoder folder ({CONFIG_NAME} unreadable: {exc}); "
                                     "pass a folder written by PolyEncoder.save or the training command") from exc
        return self._config

    @property
    def bi_encoder(self) -> str:
        """The bi-encoder whose document vectors this Poly-encoder scores (its base model)."""
        base = self.config.get("base")
        return str(base) if base is not None else default_bi_encoder_path()

    def warm_up(self) -> None:
        if self._module is not None:
            return
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        cfg = self.config
        try:
            module = build_module(self.bi_encoder, int(cfg["codes"]), int(cfg["trainable_layers"]))
            missing = module.load_state_dict(load_file(str(self.path / WEIGHTS_NAME)), strict=False)
            self._tokenizer = AutoTokenizer.from_pretrained(self.bi_encoder)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise load_error(str(self.path), exc) from exc
        trainable = set(module.trainable_state())
        if trainable & set(missing.missing_keys):
            raise ModelLoadError(f"{self.path / WEIGHTS_NAME} lacks {sorted(trainable & set(missing.missing_keys))[:3]}"
                                 "...: the folder is incomplete; copy it again or retrain")
        device = self.device if self.device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        self._module = module.to(device).eval().float()
        self.device = device

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``(queries, m, dim)`` float32 query vectors."""
        import torch

        if isinstance(texts, str):
            raise InvalidInputError("pass a list of query texts, not a single string")
        texts = [check_text(t, f"query {i}") for i, t in enumerate(texts)]
        self.warm_up()
        out = []
        with torch.inference_mode():
            for lo in range(0, len(texts), self.batch_size):
                batch = self._tokenizer(texts[lo:lo + self.batch_size], padding=True, truncation=True,
                                        max_length=int(self.config.get("max_length", 64)), return_tensors="pt")
                out.append(self._module(batch["input_ids"].to(self.device),
                                        batch["attention_mask"].to(self.device)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, int(self.config["codes"]), 0), dtype=np.float32)

    def score(self, query_vectors: np.ndarray, doc_vectors: np.ndarray) -> np.ndarray:
        """Scores of one query (``(m, dim)``) against documents' stored vectors (``(n, dim)``)."""
        import torch

        if len(doc_vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        q = torch.as_tensor(np.asarray(query_vectors, dtype=np.float32))[None]
        d = torch.nn.functional.normalize(torch.as_tensor(np.asarray(doc_vectors, dtype=np.float32)), dim=-1)
        return poly_scores(q, d)[0].numpy()

    def save(self, path: str | Path, module: Any = None, extra: dict[str, Any] | None = None) -> None:
        """Write ``module``'s (default: this model's) trainable weights in fp16 and the config to ``path``."""
        from safetensors.torch import save_file

        module = module if module is not None else self._module
        dest = Path(path)
        dest.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu").half().contiguous() for k, v in module.trainable_state().items()}
        save_file(state, str(dest / WEIGHTS_NAME))
        cfg = {**(self._config or {}), **(extra or {})}
        (dest / CONFIG_NAME).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
