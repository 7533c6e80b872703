"""backend="onnxruntime" / "openvino": the same scores and vectors as torch, exported once and cached beside the
model (or in the cache folder when the model folder is read-only), exported again when the weights change; static
int8 on OpenVINO close to fp32 and calibrated once per pair set; what "auto" (the default) resolves to."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from recallrank import BiEncoder, CrossEncoderReranker
from recallrank.models import _runtime

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

PAIRS = [("apple stock price", "Apple Inc. shares rose today on strong iPhone sales."),
         ("apple stock price", "Apples are a fruit grown in orchards across the world. " * 4),
         ("q", "x")]
TEXTS = [d for _, d in PAIRS] + ["apple stock price"]


@pytest.fixture
def models(tiny_bi: str, tiny_cross: str, tmp_path: Path) -> tuple[str, str]:
    """Private copies, so exports land in this test's folders."""
    bi, cross = tmp_path / "bi", tmp_path / "cross"
    shutil.copytree(tiny_bi, bi)
    shutil.copytree(tiny_cross, cross)
    return str(bi), str(cross)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_same_scores_and_vectors_as_torch(models: tuple[str, str], backend: str) -> None:
    bi, cross = models
    # fp32 on both sides: this is the exported graph's equivalence to torch (int8 has its own test below, and
    # "auto" would pick int8 on a CPU with VNNI/AMX)
    ref = CrossEncoderReranker(cross, fusion=None, backend="torch", precision="fp32").logits(PAIRS)
    got = CrossEncoderReranker(cross, fusion=None, backend=backend, precision="fp32").logits(PAIRS)  # type: ignore[arg-type]
    assert np.allclose(got, ref, atol=1e-4), (got, ref)
    for pooling in (None, "cls"):
        ref_v = BiEncoder(bi, pooling=pooling, backend="torch", precision="fp32").encode_documents(  # type: ignore[arg-type]
            TEXTS)
        got_v = BiEncoder(bi, pooling=pooling, backend=backend,  # type: ignore[arg-type]
                          precision="fp32").encode_documents(TEXTS)
        assert got_v.shape == ref_v.shape and np.allclose(got_v, ref_v, atol=1e-4)
    exports = sorted(p.name for p in (Path(bi) / "onnx").glob("*.onnx"))
    assert len(exports) == 2  # one per pooling


def test_export_once_then_reuse_and_again_after_retraining(models: tuple[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, cross = models
    CrossEncoderReranker(cross, backend="onnxruntime").warm_up()
    (first,) = (Path(cross) / "onnx").glob("*.onnx")

    def no_export(*_: object) -> None:
        raise AssertionError("exported again although the model did not change")

    monkeypatch.setattr(_runtime, "export", no_export)
    CrossEncoderReranker(cross, backend="openvino").warm_up()  # same graph, other runtime: no export
    monkeypatch.undo()
    weights = next(Path(cross).glob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, (stat.st_atime, stat.st_mtime + 10))  # "retrained"
    CrossEncoderReranker(cross, backend="onnxruntime").warm_up()
    assert len(list((Path(cross) / "onnx").glob("*.onnx"))) == 2 and first.exists()


def test_read_only_model_folder_exports_to_the_cache(models: tuple[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bi, _ = models
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real = os.access
    # as for a model installed in a read-only site-packages (root can write anywhere, so chmod would not tell)
    monkeypatch.setattr(_runtime.os, "access", lambda path, mode: False if mode == os.W_OK else real(path, mode))
    vectors = BiEncoder(bi, backend="onnxruntime").encode_queries(["hello"])
    assert vectors.shape == (1, 384) and not (Path(bi) / "onnx").exists()
    assert len(list((tmp_path / "cache" / "recallrank" / "onnx").rglob("*.onnx"))) == 1


def test_bad_backend_settings() -> None:
    with pytest.raises(ValueError, match="backend='tensorrt' must be one of auto, torch, onnxruntime, openvino"):
        BiEncoder(backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision='int8' runs on backend='openvino'"):
        CrossEncoderReranker(backend="onnxruntime", precision="int8")
    with pytest.raises(ValueError, match="calibration needs at least 8"):
        CrossEncoderReranker(backend="openvino", precision="int8", calibration=[("q", "d")])
    with pytest.raises(ValueError, match="calibration pair 8 must be a"):
        BiEncoder(backend="openvino", precision="int8", calibration=[("q", "d")] * 8 + [("q", "")])


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_openvino_int8_is_static_calibrated_once_and_close_to_fp32(models: tuple[str, str],
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    import nncf

    from recallrank.models._calibration import default_pairs

    bi, cross = models
    pairs = default_pairs()[:48]  # a real pair set; scored below, so the calibration text is varied
    ref = CrossEncoderReranker(cross, fusion=None, backend="torch", precision="fp32").logits(pairs)
    got = CrossEncoderReranker(cross, fusion=None, backend="openvino", precision="int8").logits(pairs)
    assert _spearman(got, ref) > 0.95 and np.abs(got - ref).max() < 0.25 * np.abs(ref).max()
    texts = [t for pair in pairs[:16] for t in pair]
    ref_v = BiEncoder(bi, backend="torch", precision="fp32").encode_documents(texts)
    got_v = BiEncoder(bi, backend="openvino", precision="int8").encode_documents(texts)
    assert (got_v * ref_v).sum(1).min() > 0.98  # cosine of each int8 vector to its fp32 one
    assert len(list((Path(cross) / "onnx").glob("*-int8-*.xml"))) == 1

    def no_calibration(*_: object, **__: object) -> None:
        raise AssertionError("calibrated again although model and pairs did not change")

    monkeypatch.setattr(nncf, "quantize", no_calibration)
    again = CrossEncoderReranker(cross, fusion=None, backend="openvino", precision="int8").logits(pairs)
    assert np.array_equal(again, got)
    monkeypatch.undo()
    mine = [(f"query {i}", f"a document about topic {i} " * (i + 1)) for i in range(8)]
    capfd.readouterr()
    CrossEncoderReranker(cross, backend="openvino", precision="int8", calibration=mine).warm_up()
    assert len(list((Path(cross) / "onnx").glob("*-int8-*.xml"))) == 2  # its own pairs: its own int8 model
    printed = "".join(capfd.readouterr())
    assert "Statistics collection" not in printed and "\u2501" not in printed  # NNCF's progress bars stay quiet


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The defaults as a user gets them on a CPU machine, whatever RECALLRANK_BACKEND/_PRECISION a run sets."""
    monkeypatch.delenv("RECALLRANK_BACKEND", raising=False)
    monkeypatch.delenv("RECALLRANK_PRECISION", raising=False)
    monkeypatch.setattr(_runtime, "_has_cuda", lambda: False)
    return monkeypatch


@pytest.mark.parametrize(("flags", "installed", "expected"), [
    ({"avx512_vnni", "avx512_bf16"}, {"openvino", "nncf"}, ("openvino", "int8")),
    ({"amx_int8", "amx_bf16"}, {"openvino", "nncf"}, ("openvino", "int8")),
    ({"avx512_bf16"}, {"openvino", "nncf"}, ("openvino", "bf16")),      # no int8 dot products
    ({"avx2"}, {"openvino", "nncf"}, ("openvino", "fp32")),             # neither: bf16 would be emulated
    ({"avx512_vnni", "avx512_bf16"}, {"openvino"}, ("openvino", "bf16")),  # no nncf: no calibration
    ({"avx512_vnni", "avx512_bf16"}, set(), ("torch", "bf16")),           # no OpenVINO: torch
    ({"avx2"}, set(), ("torch", "fp32")),
])
def test_auto_resolves_by_cpu_and_what_is_installed(no_env: pytest.MonkeyPatch, flags: set[str],
                                                    installed: set[str], expected: tuple[str, str]) -> None:
    no_env.setattr(_runtime, "_cpu_flags", lambda: frozenset(flags))
    no_env.setattr(_runtime, "_installed", lambda module: module in installed)
    for encoder in (BiEncoder(), CrossEncoderReranker()):
        assert (encoder.backend, encoder.precision) == expected
        assert encoder.config()["backend"] == "auto" and encoder.config()["precision"] == "auto"  # settings kept


def test_auto_on_a_gpu_is_torch_and_the_environment_overrides(no_env: pytest.MonkeyPatch) -> None:
    assert _runtime.resolve("auto", "auto", "cuda") == ("torch", "bf16")
    assert _runtime.resolve("auto", "fp32", "cuda:1") == ("torch", "fp32")
    no_env.setenv("RECALLRANK_BACKEND", "torch")
    no_env.setenv("RECALLRANK_PRECISION", "bf16")
    enc = BiEncoder()
    assert (enc.backend, enc.precision) == ("torch", "bf16")
    assert (BiEncoder(backend="openvino", precision="fp32").backend, "fp32") == ("openvino", "fp32")  # explicit wins
    no_env.setenv("RECALLRANK_BACKEND", "tensorrt")
    with pytest.raises(ValueError, match=r"\$RECALLRANK_BACKEND='tensorrt' must be one of"):
        CrossEncoderReranker()


def test_defaults_run_two_stage_retrieval_end_to_end(models: tuple[str, str], no_env: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    from recallrank import Document, EdgeStore, TwoStageRetriever
    from recallrank.testing import SAMPLE_CORPUS

    bi, cross = models
    no_env.setattr(_runtime, "_cpu_flags", lambda: frozenset({"avx512_vnni", "avx512_bf16"}))
    encoder, reranker = BiEncoder(bi), CrossEncoderReranker(cross, fusion=None)
    assert (encoder.backend, encoder.precision, reranker.backend, reranker.precision) == \
        ("openvino", "int8", "openvino", "int8")
    retriever = TwoStageRetriever(EdgeStore(tmp_path / "index"), encoder, reranker, top_k=5, top_n=3)
    retriever.add_documents([Document(text, id=doc_id, metadata=meta) for doc_id, text, meta in SAMPLE_CORPUS])
    found = retriever.search("apple stock price")
    ref = CrossEncoderReranker(cross, fusion=None, backend="torch", precision="fp32")
    expected = ref.score("apple stock price", [r.document.text for r in found])
    assert len(found) == 3 and [r.score for r in found] == sorted((r.score for r in found), reverse=True)
    assert np.allclose([r.relevance_score for r in found], expected, atol=0.05)  # int8 scores near fp32's
    retriever.store.close()


def test_auto_times_the_native_precisions_once_and_keeps_the_fastest(models: tuple[str, str],
                                                                     no_env: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    """Where the CPU runs more than fp32 natively, the first load times each candidate on real batches and records
    the winner per model and CPU; the next load takes the record without timing anything."""
    import json

    from recallrank.models import _autotune

    bi, _ = models
    no_env.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    no_env.setattr(_runtime, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))  # fp32 and bf16 to choose from
    enc = BiEncoder(bi)
    assert enc.precision == "bf16"  # before the first use: the CPU flags' guess
    first = enc.encode_documents(TEXTS)
    [record] = list((tmp_path / "cache" / "recallrank" / "auto").glob("*.json"))
    found = json.loads(record.read_text())
    assert set(found["seconds"]) == {"fp32", "bf16"} and found["precision"] == enc.precision
    assert found["cpu"] == _autotune.cpu_name()

    def no_timing(*args: object, **kwargs: object) -> None:
        raise AssertionError("timed again")

    no_env.setattr("recallrank.models.bi_encoder.fastest", no_timing)
    again = BiEncoder(bi)
    assert np.allclose(again.encode_documents(TEXTS), first, atol=1e-2) and again.precision == found["precision"]
    no_env.setenv("RECALLRANK_PRECISION", "fp32")  # a precision set by the environment is never timed
    assert _runtime.auto_candidates("auto", "auto", "openvino", None) == ()
