"""Inference backends for both encoders: ``"torch"`` (the default), ``"onnxruntime"`` and ``"openvino"``.

The model's forward pass (transformer, pooling, head or normalisation, with any pooling override applied) is
exported to ONNX once and cached: in the model's own folder (``<model>/onnx/``) when it is a writable local
folder, else under ``$XDG_CACHE_HOME/recallrank/onnx/``. The file name carries a key made from the weights' size
and modification time and the export settings, so a retrained model is exported again and an unchanged one is
never. Tokenization, batching and truncation reporting stay the encoders' own: only the forward pass moves.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recallrank.errors import MissingDependencyError

log = logging.getLogger("recallrank.encoders")

Backend = Literal["torch", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime", "openvino")
EXPORT_VERSION = 1
#: the tokenizer outputs an exported graph may take, in this order
INPUT_KEYS: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
_export_lock = threading.Lock()


def check_backend(backend: str, precision: str) -> Backend:
    """``backend`` if known and able to run ``precision``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} must be one of {', '.join(BACKENDS)}")
    if backend != "torch" and precision == "int8":
        raise ValueError(f"precision='int8' runs on backend='torch' (dynamic quantisation); with "
                         f"backend={backend!r} use 'fp32' or 'bf16'")
    return backend  # type: ignore[return-value]


def onnx_path(model_name: str, output: str, keys: Sequence[str], extra: str = "") -> Path:
    """Where the exported graph of ``model_name`` lives (see the module docstring)."""
    folder = Path(model_name).expanduser()
    stamp = ""
    if folder.is_dir():
        for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
            st = f.stat()
            stamp += f"{f.name}:{st.st_size}:{int(st.st_mtime)};"
    key = hashlib.sha1(f"{EXPORT_VERSION}|{folder.resolve() if folder.is_dir() else model_name}|{stamp}|{output}|"
                       f"{','.join(keys)}|{extra}".encode()).hexdigest()[:12]
    name = f"recallrank-{output}-{key}.onnx"
    if folder.is_dir() and os.access(folder, os.W_OK):
        return folder / "onnx" / name
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recallrank" / "onnx" / hashlib.sha1(model_name.encode()).hexdigest()[:12] / name


def export(model: Any, path: Path, output: str, keys: Sequence[str]) -> Path:
    """Export ``model``'s forward pass (sentence-transformers features in, ``output`` out) to ``path``, with
    dynamic batch and sequence axes. Written to a temporary name and renamed, so a crash leaves no half file."""
    import torch

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(keys, tensors, strict=True)))[output]

    sample = model.tokenizer(["a query of a few words", "a longer document text to export the model with"],
                             ["a document", "another document text"], padding=True, return_tensors="pt") \
        if output == "scores" else model.tokenizer(["a short text", "a somewhat longer text to export"],
                                                   padding=True, return_tensors="pt")
    args = tuple(sample[k] for k in keys)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    axes = {k: {0: "batch", 1: "tokens"} for k in keys}
    axes[output] = {0: "batch"}
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's advisories, not the user's concern
            torch.onnx.export(Forward(), args, str(tmp), input_names=list(keys), output_names=[output],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    log.info("exported %s to %s", output, path)
    return path


def compiled(model: Any, model_name: str, output: str, keys: Sequence[str], backend: Backend, precision: str,
             extra: str = "") -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A function from numpy features to the ``output`` array, run by ``backend`` on the cached export."""
    path = onnx_path(model_name, output, keys, extra)
    with _export_lock:
        if not path.is_file():
            export(model, path, output, keys)
    threads = _threads()
    if backend == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("backend='onnxruntime' needs onnxruntime: pip install "
                                         "'recallrank[fast]'") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run_ort(features: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(session.run([output], {k: features[k] for k in names})[0])

        return run_ort
    try:
        import openvino as ov
    except ImportError as exc:
        raise MissingDependencyError("backend='openvino' needs openvino: pip install 'recallrank[fast]'") from exc
    core = ov.Core()
    hint = "bf16" if precision == "bf16" and _cpu_has_bf16() else "f32"
    compiled_model = core.compile_model(core.read_model(str(path)), "CPU",
                                        {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
                                         "PERFORMANCE_HINT": "LATENCY"})
    request_lock = threading.Lock()
    request = compiled_model.create_infer_request()
    ov_names = [i.get_any_name() for i in compiled_model.inputs]

    def run_ov(features: dict[str, np.ndarray]) -> np.ndarray:
        with request_lock:
            result = request.infer({k: features[k] for k in ov_names})
            return np.array(result[compiled_model.output(output)])

    return run_ov


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def _cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: without either, bf16 inference is emulated and slower than f32, so f32 is used."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags
