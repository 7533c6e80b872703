"""Pins the shipped reranker's scores: a silent change of weights, tokenizer or head shows here."""

import pytest

from recallrank import CrossEncoderReranker

PAIRS = [
    ("Apple company market value",
     "Apple Inc. is an American technology company; its market value passed three trillion dollars."),
    ("Apple company market value",
     "The apple is a sweet fruit; apple orchards have a high market value for farmers."),
    ("vector database written in Rust", "Qdrant is a vector database and similarity search engine written in Rust."),
    ("web browser", "Green tea is made from leaves of Camellia sinensis."),
    ("显示系统信息", "通常是通过分析 /proc/cpuinfo，显示系统信息，如 内核版本、glibc 版本、处理器类型和内存大小。"),
]
LOGITS = [3.739997625350952, 3.708785057067871, 3.9453279972076416, -3.4310953617095947, 6.120416641235352]


def test_shipped_reranker_logits_are_pinned() -> None:
    got = CrossEncoderReranker(activation="raw").score_pairs(PAIRS)
    assert list(got) == pytest.approx(LOGITS, rel=1e-4)


def test_shipped_fusion_is_pinned() -> None:
    rr = CrossEncoderReranker()
    rr.warm_up()
    assert rr.fusion is not None
    assert (rr.fusion.w_rerank, rr.fusion.w_recall, rr.fusion.bias) == pytest.approx(
        (0.48699025768527243, 9.739805153705449, -8.028783316906422), rel=1e-6)
