"""Lower-precision inference shared by both encoders: bf16 autocast and int8 dynamic quantisation.

``"bf16"`` runs matmuls in bfloat16 under ``torch.autocast`` (about 1.8x the fp32 pairs/s on CPUs with
AVX512-BF16 or AMX); ``"int8"`` replaces every ``nn.Linear`` by a dynamically quantised int8 one (VNNI on x86,
CPU only). ``benchmarks/backends.py`` shows the nDCG@10 each keeps against fp32.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Literal

Precision = Literal["fp32", "bf16", "int8"]
PrecisionSetting = Literal["auto", "fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "int8")


def check_precision(precision: str) -> PrecisionSetting:
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(PRECISIONS)}")
    return precision  # type: ignore[return-value]


def quantize_int8(module: Any, device: Any) -> None:
    """Swap the ``nn.Linear`` layers of the transformer blocks in ``module`` for int8 dynamic ones, in place.

    Only the encoder stack is quantised (a BERT-style ``...encoder`` with ``.layer``); pooler and score heads
    stay fp32, where a 384 -> 1 projection would lose most of its resolution. CPU only.
    """
    import torch

    if str(device).startswith("cuda"):
        raise ValueError("precision='int8' is CPU-only (dynamic quantisation); use 'bf16' on a GPU")
    stacks = [m for name, m in module.named_modules() if name.endswith("encoder") and hasattr(m, "layer")]
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        for target in stacks or [module]:
            torch.ao.quantization.quantize_dynamic(target, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def autocast(precision: Precision, device: Any) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast for ``"bf16"``; nothing otherwise (int8 layers are already swapped in)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16)
