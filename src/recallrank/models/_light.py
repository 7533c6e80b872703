"""Start an encoder without torch: when a bi-encoder's forward pass is already exported (and, for int8, calibrated)
in the cache, all it needs besides the compiled graph is its tokenizer and token limit. :func:`light_model` gives
them from the model folder with the ``tokenizers`` library alone, so a search from the shell does not import
torch, transformers or sentence-transformers (seconds, and ~1 GB of memory). Anything it cannot match exactly (a
hub id, a pooling override, a folder without ``tokenizer.json``) returns ``None`` and the encoder loads as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: sentence-transformers modules a light model may hold: their work is inside the exported graph
_MODULES = ("Transformer", "Pooling", "Normalize", "Dense")


class FastTokenizer:
    """The part of a Hugging Face fast tokenizer the encoders use, over ``tokenizers.Tokenizer`` itself."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.no_truncation()
        config = _read(folder / "tokenizer_config.json")
        specials = _read(folder / "special_tokens_map.json")

        def token(name: str) -> str | None:
            value = specials.get(name, config.get(name))
            return value.get("content") if isinstance(value, dict) else value

        self.cls_token, self.sep_token = token("cls_token") or token("bos_token"), token("sep_token") or token(
            "eos_token")
        self.unk_token, self.pad_token = token("unk_token"), token("pad_token")
        self.all_special_tokens = [t for t in dict.fromkeys(
            [self.cls_token, self.sep_token, self.unk_token, self.pad_token, token("mask_token")]) if t]
        self.all_special_ids = [self._tok.token_to_id(t) for t in self.all_special_tokens]
        self.cls_token_id, self.sep_token_id, self.unk_token_id, self.pad_token_id = (
            self._tok.token_to_id(t) if t else None for t in (self.cls_token, self.sep_token, self.unk_token,
                                                              self.pad_token))
        self.max_length = max_length

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = True, truncation: bool = False,
                 verbose: bool = False) -> dict[str, list[list[int]]]:
        if truncation:
            raise ValueError("FastTokenizer measures untruncated texts only; features() truncates")
        found = self._tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return {"input_ids": [e.ids for e in found]}

    def get_vocab(self) -> dict[str, int]:
        return dict(self._tok.get_vocab())

    def spans(self, texts: Sequence[str]) -> list[list[tuple[int, int, int]]]:
        """``(token id, start, end)`` of each text's tokens, special tokens left out, untruncated."""
        return [[(i, a, b) for i, (a, b) in zip(e.ids, e.offsets, strict=True)]
                for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Padded, truncated model inputs, as sentence-transformers' ``preprocess`` makes them (as numpy)."""
        encodings = self._tok.encode_batch(list(texts))
        width = min(max(len(e.ids) for e in encodings), self.max_length)
        ids = np.full((len(encodings), width), self.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            kept = e.ids if len(e.ids) <= width else [*e.ids[:width - 1], e.ids[-1]]  # keeps the closing token
            ids[row, :len(kept)], mask[row, :len(kept)] = kept, 1
        return {"input_ids": ids, "attention_mask": mask,
                "token_type_ids": np.zeros_like(ids)}  # one text per input: all segment 0


class LightModel:
    """A stand-in for the ``SentenceTransformer`` object: ``tokenizer``, ``max_seq_length``, ``preprocess``."""

    def __init__(self, folder: Path, max_seq_length: int) -> None:
        self.max_seq_length = max_seq_length
        self.tokenizer = FastTokenizer(folder, max_seq_length)
        self.device = "cpu"
        #: the size of the pooled vector, set by the encoder from its compiled graph
        self.dimension = 0

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def preprocess(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Model inputs, ``token_type_ids`` included (a graph that takes none ignores them)."""
        return self.tokenizer.features([str(t) for t in texts])


def light_model(model_name: str, max_length: int | None) -> LightModel | None:
    """A :class:`LightModel` for the folder ``model_name`` (``None`` where one cannot stand in exactly)."""
    folder = Path(model_name).expanduser()
    modules = _read(folder / "modules.json")
    config = _read(folder / "sentence_bert_config.json")
    if not isinstance(modules, list) or not (folder / "tokenizer.json").is_file() or config.get("do_lower_case"):
        return None
    if any(str(m.get("type", "")).rsplit(".", 1)[-1] not in _MODULES for m in modules if isinstance(m, dict)):
        return None
    limit = max_length if max_length is not None else _token_limit(folder, config)
    if not isinstance(limit, int) or limit < 2:
        return None
    try:
        return LightModel(folder, limit)
    except Exception:  # a tokenizer file this library cannot read: the full loader will say what is wrong
        return None


def _token_limit(folder: Path, config: dict[str, Any]) -> int | None:
    """sentence-transformers' ``max_seq_length``: the folder's ``sentence_bert_config.json`` says it (older saves),
    else the tokenizer's ``model_max_length`` capped at the model's position embeddings (sentence-transformers 6)."""
    if isinstance(config.get("max_seq_length"), int):
        return int(config["max_seq_length"])
    tokenizer = _read(folder / "tokenizer_config.json").get("model_max_length")
    positions = _read(folder / "config.json").get("max_position_embeddings")
    found = [int(x) for x in (tokenizer, positions) if isinstance(x, int) and not isinstance(x, bool)]
    return min(found) if isinstance(tokenizer, int) and found else None


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
