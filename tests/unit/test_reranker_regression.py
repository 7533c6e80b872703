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
#: the reference logits and tolerance per (backend, precision) that "auto" (or $RECALLRANK_BACKEND/_PRECISION)
#: resolves to. fp32 is one graph on every backend: torch, onnxruntime and openvino agree to 1.1e-6 relative.
#: bf16 (torch autocast, measured 0.023 from fp32 at most; OpenVINO's bf16 hint, on CPUs with bf16 instructions)
#: stays near the fp32 logits. Static int8 (OpenVINO, NNCF-calibrated on the shipped pairs) and dynamic int8
#: (torch) move the logits by up to 0.41 / 2.5, so they keep their own reference, measured on an AVX2 CPU;
#: 0.1 covers the int8 model's float parts running in bf16 on CPUs that have it (4x the bf16 drift above), and
#: a changed checkpoint or tokenizer moves these logits by far more.
REFERENCE: dict[tuple[str, str], tuple[list[float], float]] = {
    ("torch", "fp32"): (LOGITS, 1e-4), ("onnxruntime", "fp32"): (LOGITS, 1e-4), ("openvino", "fp32"): (LOGITS, 1e-4),
    ("torch", "bf16"): (LOGITS, 0.1), ("openvino", "bf16"): (LOGITS, 0.1),
    ("openvino", "int8"): ([3.3505990505218506, 3.5910606384277344, 3.533306837081909, -3.3573153018951416,
                            5.919139862060547], 0.1),
    ("torch", "int8"): ([2.5500316619873047, 2.935594081878662, 3.4417378902435303, -3.071537971496582,
                         3.585782051086426], 0.1),
}


def test_shipped_reranker_logits_are_pinned() -> None:
    rr = CrossEncoderReranker(activation="raw")  # the runtime a user gets on this machine
    expected, tolerance = REFERENCE[(rr.backend, rr.precision)]
    got = rr.score_pairs(PAIRS)
    if rr.precision == "fp32":
        assert list(got) == pytest.approx(expected, rel=tolerance)
    else:
        assert list(got) == pytest.approx(expected, abs=tolerance), (rr.backend, rr.precision)


def test_shipped_fusion_is_pinned() -> None:
    rr = CrossEncoderReranker()
    rr.warm_up()
    assert rr.fusion is not None
    assert (rr.fusion.w_rerank, rr.fusion.w_recall, rr.fusion.bias) == pytest.approx(
        (0.48699025768527243, 9.739805153705449, -8.028783316906422), rel=1e-6)
