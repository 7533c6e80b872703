"""Inference backends for both encoders: ``"torch"``, ``"onnxruntime"`` and ``"openvino"``, and ``"auto"`` (the
default), which picks by what ``benchmarks/backends.py`` measured: OpenVINO on a CPU, torch on a GPU.

The model's forward pass (transformer, pooling, head or normalisation, with any pooling override applied) is
exported to ONNX once and cached: in the model's own folder (``<model>/onnx/``) when it is a writable local
folder, else under ``$XDG_CACHE_HOME/recallrank/onnx/``. The file name carries a key made from the weights' size
and modification time and the export settings, so a retrained model is exported again and an unchanged one is
never. Tokenization, batching and truncation reporting stay the encoders' own: only the forward pass moves.

``precision="int8"`` on OpenVINO is *static* quantisation (NNCF, transformer preset: matmul inputs int8, softmax,
layer norms and GELU kept in bf16/f32), calibrated once on real pairs (:mod:`recallrank.models._calibration`)
and cached beside the export. ``precision="auto"`` on OpenVINO times fp32 and the precisions the CPU runs natively
(bf16 with bf16 instructions, int8 with VNNI/AMX) on the first use of each model and keeps the fastest, cached per
model and CPU (:mod:`recallrank.models._autotune`); where only fp32 is native it is fp32 without timing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from recallrank.errors import MissingDependencyError
from recallrank.models._calibration import check_pairs
from recallrank.models._precision import Precision, PrecisionSetting, check_precision

log = logging.getLogger("recallrank.models")

Backend = Literal["torch", "onnxruntime", "openvino"]
BackendSetting = Literal["auto", "torch", "onnxruntime", "openvino"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime", "openvino")
EXPORT_VERSION = 1
QUANT_VERSION = 1
#: the tokenizer outputs an exported graph may take, in this order
INPUT_KEYS: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
_export_lock = threading.Lock()


def check_backend(backend: str, precision: str) -> BackendSetting:
    """``backend`` if known and able to run ``precision``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} must be one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and precision == "int8":
        raise ValueError("precision='int8' runs on backend='openvino' (static, calibrated) or 'torch' (dynamic); "
                         "with backend='onnxruntime' use 'fp32' or 'bf16'")
    return backend  # type: ignore[return-value]


class Runtime(NamedTuple):
    """Who runs an encoder's forward pass: the settings as given (``"auto"`` kept, for ``config()``), what they
    resolved to on this machine, and the int8 calibration pairs (``None``: the shipped ones)."""

    backend_setting: BackendSetting
    precision_setting: PrecisionSetting
    backend: Backend
    precision: Precision
    calibration: list[tuple[str, str]] | None


def runtime(backend: str, precision: str, device: str | None,
            calibration: Sequence[tuple[str, str]] | None) -> Runtime:
    """Check and resolve an encoder's runtime settings (no I/O beyond reading the CPU's flags)."""
    setting = check_precision(precision)
    return Runtime(check_backend(backend, precision), setting, *resolve(backend, precision, device),
                   check_pairs(calibration))


def resolve(backend: str, precision: str, device: str | None) -> tuple[Backend, Precision]:
    """The concrete (backend, precision) for the settings: ``"auto"`` takes ``$RECALLRANK_BACKEND`` /
    ``$RECALLRANK_PRECISION`` when set, else picks what ``benchmarks/backends.py`` measured fastest at fp32
    quality on this kind of machine (see the module docstring). No I/O beyond reading the CPU's flags."""
    backend = _from_env("RECALLRANK_BACKEND", BACKENDS) if backend == "auto" else backend
    precision = _from_env("RECALLRANK_PRECISION", ("auto", "fp32", "bf16", "int8")) if precision == "auto" \
        else precision
    check_backend(backend, precision)
    on_cpu = (device is None and not _has_cuda()) or (device is not None and str(device).startswith("cpu"))
    if backend == "auto":
        backend = "openvino" if on_cpu and _installed("openvino") else "torch"
    if precision == "auto":
        if not on_cpu:
            precision = "bf16" if device is None or str(device).startswith("cuda") else "fp32"
        elif backend == "openvino" and cpu_has("int8") and _installed("nncf"):
            precision = "int8"
        elif backend == "onnxruntime":
            precision = "fp32"  # ONNX Runtime runs the fp32 graph as it is
        else:
            precision = "bf16" if cpu_has("bf16") else "fp32"
    if backend == "openvino" and precision == "int8" and not _installed("nncf"):
        raise MissingDependencyError("precision='int8' on backend='openvino' needs nncf (calibrated static "
                                     "quantisation): pip install nncf, or use precision='bf16'")
    return backend, precision  # type: ignore[return-value]


def auto_candidates(backend_setting: str, precision_setting: str, backend: str, device: str | None,
                    ) -> tuple[str, ...]:
    """The precisions ``precision="auto"`` times on first use (:mod:`recallrank.models._autotune`): on OpenVINO on
    a CPU, fp32 and each precision the CPU runs natively (bf16, int8); empty where there is nothing to choose
    (one candidate, a precision given or set by ``$RECALLRANK_PRECISION``, another runtime)."""
    if precision_setting != "auto" or os.environ.get("RECALLRANK_PRECISION", "auto").strip() not in ("", "auto"):
        return ()
    on_cpu = (device is None and not _has_cuda()) or (device is not None and str(device).startswith("cpu"))
    if backend != "openvino" or not on_cpu:
        return ()
    found = ["fp32"] + (["bf16"] if cpu_has("bf16") else []) + (
        ["int8"] if cpu_has("int8") and _installed("nncf") else [])
    return tuple(found) if len(found) > 1 else ()


def onnx_path(model_name: str, output: str | Sequence[str], keys: Sequence[str], extra: str = "") -> Path:
    """Where the exported graph of ``model_name`` lives (see the module docstring)."""
    output = output if isinstance(output, str) else "+".join(output)
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


def export(model: Any, path: Path, output: str | Sequence[str], keys: Sequence[str]) -> Path:
    """Export ``model``'s forward pass (sentence-transformers features in, ``output`` out: one name, or several,
    e.g. the pooled vector and the token vectors of one pass) to ``path``, with dynamic batch and sequence axes.
    Written to a temporary name and renamed, so a crash leaves no half file."""
    import torch

    outputs = [output] if isinstance(output, str) else list(output)

    class Forward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> Any:
            found = self.model(dict(zip(keys, tensors, strict=True)))
            return found[outputs[0]] if len(outputs) == 1 else tuple(found[o] for o in outputs)

    sample = model.tokenizer(["a query of a few words", "a longer document text to export the model with"],
                             ["a document", "another document text"], padding=True, return_tensors="pt") \
        if outputs == ["scores"] else model.tokenizer(["a short text", "a somewhat longer text to export"],
                                                   padding=True, return_tensors="pt")
    args = tuple(sample[k] for k in keys)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    axes = {k: {0: "batch", 1: "tokens"} for k in keys}
    axes.update({o: {0: "batch", 1: "tokens"} if o == "token_embeddings" else {0: "batch"} for o in outputs})
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's advisories, not the user's concern
            torch.onnx.export(Forward(), args, str(tmp), input_names=list(keys), output_names=outputs,
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    log.info("exported %s to %s", output, path)
    return path


def quantized_path(path: Path, key: str) -> Path:
    """Where the calibrated int8 model of the export at ``path`` lives (``key``: its calibration's fingerprint)."""
    return path.with_name(f"{path.stem}-int8-q{QUANT_VERSION}-{key}.xml")


def ready(model_name: str, output: str | Sequence[str], keys: Sequence[str], backend: Backend, precision: str,
          extra: str = "", calibration_key: str = "") -> bool:
    """Whether :func:`compiled` would find everything in the cache (export, and for OpenVINO int8 the calibrated
    model), so it needs no torch model to export or calibrate from."""
    path = onnx_path(model_name, output, keys, extra)
    if backend == "openvino" and precision == "int8":
        target = quantized_path(path, calibration_key)
        return target.is_file() and target.with_suffix(".bin").is_file()
    return path.is_file()


def quantized(path: Path, calibration: Callable[[], list[dict[str, np.ndarray]]], key: str) -> Path:
    """The static int8 OpenVINO model of the export at ``path``, calibrated on ``calibration()``'s feature
    batches, made once and cached beside it (``<export>-int8-<key>.xml``)."""
    target = quantized_path(path, key)
    if target.is_file() and target.with_suffix(".bin").is_file():
        return target
    import nncf
    import openvino as ov

    batches = calibration()
    log.info("calibrating int8 on %d batches for %s (once)", len(batches), path.name)
    nncf.set_log_level(logging.ERROR)
    with warnings.catch_warnings(), _rich_console_quiet():
        warnings.simplefilter("ignore")
        model = nncf.quantize(ov.Core().read_model(str(path)), nncf.Dataset(batches), subset_size=len(batches),
                              model_type=nncf.ModelType.TRANSFORMER, preset=nncf.QuantizationPreset.MIXED)
    tmp = target.with_name(f"{target.stem}.tmp-{os.getpid()}.xml")
    try:
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        tmp.with_suffix(".bin").replace(target.with_suffix(".bin"))
        tmp.replace(target)  # the .xml last: its presence means both files are whole
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _rich_console_quiet() -> Iterator[None]:
    """Keep NNCF's calibration progress bars off the terminal: NNCF draws them on rich's shared console (a
    one-time step, already logged at INFO above), and a library run prints nothing but what its caller asks for."""
    try:
        from rich import get_console
    except ImportError:  # an NNCF without rich draws nothing there
        yield
        return
    console = get_console()
    was_quiet = console.quiet
    console.quiet = True
    try:
        yield
    finally:
        console.quiet = was_quiet


def compiled(model: Any, model_name: str, output: str | Sequence[str], keys: Sequence[str], backend: Backend,
             precision: str, extra: str = "", calibration: Callable[[], list[dict[str, np.ndarray]]] | None = None,
             calibration_key: str = "") -> Callable[[dict[str, np.ndarray]], Any]:
    """A function from numpy features to the ``output`` array (a tuple of arrays for several outputs), run by
    ``backend`` on the cached export (int8 on OpenVINO: the calibrated model, see :func:`quantized`)."""
    outputs = [output] if isinstance(output, str) else list(output)
    path = onnx_path(model_name, output, keys, extra)
    with _export_lock:
        if not path.is_file():
            export(model, path, output, keys)
        if backend == "openvino" and precision == "int8":
            if calibration is not None:
                path = quantized(path, calibration, calibration_key)
            elif ready(model_name, output, keys, backend, precision, extra, calibration_key):
                path = quantized_path(path, calibration_key)  # calibrated before: nothing to calibrate from
            else:
                raise ValueError("precision='int8' on backend='openvino' needs calibration batches")
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

        def run_ort(features: dict[str, np.ndarray]) -> Any:
            found = [np.asarray(a) for a in session.run(outputs, {k: features[k] for k in names})]
            return found[0] if isinstance(output, str) else tuple(found)

        return run_ort
    try:
        import openvino as ov
    except ImportError as exc:
        raise MissingDependencyError("backend='openvino' needs openvino: pip install 'recallrank[fast]'") from exc
    core = ov.Core()
    # int8 models keep softmax, norms and GELU in floating point: bf16 where the CPU has it
    hint = "bf16" if precision in ("bf16", "int8") and cpu_has("bf16") else "f32"
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
                              "PERFORMANCE_HINT": "LATENCY"}
    blobs = _blob_cache()
    if blobs is not None:  # OpenVINO keeps the compiled model: a later start loads it (0.14 s vs 0.6 s for MiniLM)
        config["CACHE_DIR"] = blobs
    compiled_model = core.compile_model(str(path), "CPU", config)
    request_lock = threading.Lock()
    request = compiled_model.create_infer_request()
    ov_names = [i.get_any_name() for i in compiled_model.inputs]

    def run_ov(features: dict[str, np.ndarray]) -> Any:
        with request_lock:
            result = request.infer({k: features[k] for k in ov_names})
            found = [np.array(result[compiled_model.output(o)]) for o in outputs]
        return found[0] if isinstance(output, str) else tuple(found)

    return run_ov


def _blob_cache() -> str | None:
    """Where OpenVINO keeps compiled models (``$XDG_CACHE_HOME/recallrank/openvino``); ``None`` where it cannot
    be written (each start then compiles again)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "recallrank" / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(folder) if os.access(folder, os.W_OK) else None


def _threads() -> int:
    """Threads per forward pass: torch's count where torch is loaded, else the cores this process may use."""
    if "torch" in sys.modules:
        return max(1, sys.modules["torch"].get_num_threads())
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


_CPU_FEATURES = {
    # without these, bf16 inference is emulated and slower than f32
    "bf16": ("avx512_bf16", "amx_bf16"),
    # int8 dot products: without them int8 matmuls are no faster than f32 ones
    "int8": ("avx512_vnni", "avx_vnni", "amx_int8"),
}


def cpu_has(feature: Literal["bf16", "int8"]) -> bool:
    """Whether this CPU has native ``feature`` matmul instructions (x86 flags in /proc/cpuinfo)."""
    flags = _cpu_flags()
    return any(f in flags for f in _CPU_FEATURES[feature])


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def _from_env(name: str, allowed: Sequence[str]) -> str:
    value = os.environ.get(name, "").strip() or "auto"
    if value not in allowed:
        raise ValueError(f"${name}={value!r} must be one of {', '.join(allowed)} (or unset)")
    return value


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_cuda() -> bool:
    """Whether torch sees a CUDA device; without NVIDIA device files, ``False`` without importing torch."""
    if "torch" not in sys.modules and not Path("/dev/nvidiactl").exists() and not os.environ.get(
            "CUDA_VISIBLE_DEVICES"):
        return False
    import torch

    return bool(torch.cuda.is_available())
