"""backend="onnxruntime" / "openvino": the same scores and vectors as torch, exported once and cached beside the
model (or in the cache folder when the model folder is read-only), exported again when the weights change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from recallrank import BiEncoder, CrossEncoderReranker
from recallrank.encoders import _runtime

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
    ref = CrossEncoderReranker(cross, fusion=None).logits(PAIRS)
    got = CrossEncoderReranker(cross, fusion=None, backend=backend).logits(PAIRS)  # type: ignore[arg-type]
    assert np.allclose(got, ref, atol=1e-4), (got, ref)
    for pooling in (None, "cls"):
        ref_v = BiEncoder(bi, pooling=pooling).encode_documents(TEXTS)  # type: ignore[arg-type]
        got_v = BiEncoder(bi, pooling=pooling, backend=backend).encode_documents(TEXTS)  # type: ignore[arg-type]
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
    with pytest.raises(ValueError, match="backend='tensorrt' must be one of torch, onnxruntime, openvino"):
        BiEncoder(backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision='int8' runs on backend='torch'"):
        CrossEncoderReranker(backend="onnxruntime", precision="int8")
