"""``recallrank config``: the effective settings, where each comes from, and the pipeline they make."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recallrank.cli import pipeline
from recallrank.cli.common import settings_store, store_options, where
from recallrank.cli.options import OPTIONS, add_options, resolve, shown, to_toml
from recallrank.errors import RecallrankError
from recallrank.evaluation.summary import pipeline_summary
from recallrank.redact import has_secret


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    cfg = sub.add_parser("config", parents=[common], help="show the effective settings and where each comes from",
                         description="Print every setting with its value and where it comes from (flag, "
                         "environment, TOML file or default), then the pipeline `search` and `eval` build from them: "
                         "the bi-encoder, each rerank stage with its model, top_k and top_n.")
    cfg.add_argument("--write", metavar="TOML", default=None, help="write the non-secret settings to this file")
    add_options(cfg, *OPTIONS)


def run(args: argparse.Namespace) -> int:
    resolved = resolve(args, list(OPTIONS))
    width = max(map(len, OPTIONS))
    for name, (value, source) in resolved.items():
        print(f"{name:{width}} = {shown(name, value):40} ({source}; env {OPTIONS[name].env})")
    for line in pipeline_lines(args.settings):
        print(line)
    if args.write:
        target = Path(args.write)
        target.write_text(to_toml({n: v for n, (v, _) in resolved.items()}), encoding="utf-8")
        print(f"wrote {target} (secrets left out" + (": the URL holds credentials, so it was not written; set "
              "RECALLRANK_URL)" if has_secret(resolved["url"][0]) else ")"))
    return 0


def pipeline_lines(s: dict[str, Any]) -> list[str]:
    """The pipeline ``search`` runs with these settings, one line a stage. No model is loaded; without
    ``--bi-encoder`` the collection's record of its bi-encoder is read (a new collection gets the default)."""
    try:
        store = settings_store(s, **store_options(s))
    except (RecallrankError, ValueError) as exc:  # e.g. an API key without a server URL
        return ["", f"pipeline: none, these settings name no store ({' '.join(str(exc).split())})"]
    note = "--bi-encoder" if s["bi_encoder"] is not None else "the one the collection records, else the default"
    try:
        retriever = pipeline.build_retriever(store, s)
    except (RecallrankError, OSError) as exc:  # e.g. a server that is not running: describe a new collection's
        note = f"the default: {where(s)} could not be read ({type(exc).__name__})"
        default = pipeline.recall_encoder(s["bi_encoder"], s["precision"], required=True)
        retriever = pipeline.build_retriever(store, s, encoder=default)
    finally:
        store.close()
    p = pipeline_summary(retriever)
    lines = ["", "pipeline (what `search` and `eval` run with these settings):",
             f"  recall  {p['bi_encoder']} ({note}): top_k={p['top_k']} candidates"]
    if not p["stages"]:
        lines.append(f"  no rerank stage (the recall model's default, or --no-rerank): the recall order, "
                     f"top_n={p['top_n']}")
    for i, st in enumerate(p["stages"], 1):
        last = i == len(p["stages"])
        keep = f"top_n={p['top_n']}" if last and st["keep"] is None else f"keep {st['keep'] or 'all'}"
        fusion = f"; fusion: {st['fusion']}" if st["fusion"] else ""
        lines.append(f"  stage {i} {st['stage']}: {st['model']}{fusion}; {keep}")
    return lines
