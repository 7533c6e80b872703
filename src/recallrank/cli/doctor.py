"""``recallrank doctor``: check an embedded store for damage and, with ``--repair``, fix what can be fixed."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from recallrank.cascade import make_stage
from recallrank.cli import pipeline
from recallrank.cli.common import settings_store, where
from recallrank.cli.options import DOCTOR, add_options, resolve
from recallrank.errors import InvalidInputError, RecallrankError
from recallrank.index.embedded import EdgeStore
from recallrank.index.embedded.doctor import check_edge
from recallrank.index.embedded.swap import human_bytes
from recallrank.index.embedded.usage import disk_usage
from recallrank.models.identity import SAME_MODEL, label, registry_name, same_model
from recallrank.retrieval.recorded import agreement_of, encoder_for, recorded_encoder

log = logging.getLogger(__name__)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    doctor = sub.add_parser("doctor", parents=[common], help="check a store for damage and repair it",
                            description="Check an embedded store: an interrupted swap (finished from its journal), "
                            "recallrank.json and the engine's edge_config.json against each other, the write-ahead "
                            "log, the point count against the one recorded at the last close, every part of every "
                            "point (payload and text, dense vector, each token-vector field), points missing the "
                            "token vectors of a field the collection declares, that the last index build finished, "
                            "and the folders earlier rebuilds and repairs left beside it (listed with their sizes); "
                            "prints the collection's bytes on disk by component (vector fields, payloads, indexes, "
                            "the write-ahead log, which Qdrant Edge keeps at about one to three 32 MB segments "
                            "whatever the collection's size). Exit status 0 when healthy (or repaired), 1 when "
                            "problems remain.")
    add_options(doctor, *DOCTOR)
    doctor.add_argument("--repair", action="store_true",
                        help="rewrite recallrank.json or edge_config.json from the other, set aside (keep) a "
                        "write-ahead log that cannot be replayed, finish the index build, record the new count; a "
                        "store with parts that cannot be read is rebuilt beside the old one (kept) keeping every "
                        "document whose payload is readable: lost dense vectors are re-embedded from the stored "
                        "text with --bi-encoder (the default model unless given), lost or missing token vectors "
                        "('maxsim', 'colbert') with the model the field records; only documents whose payload "
                        "cannot be read are left out (their ids listed)")
    doctor.add_argument("--remove-stale", action="store_true",
                        help="delete the leftover folders listed (unfinished rebuilds, backups kept by earlier "
                        "repairs and re-embeds, set-aside write-ahead logs)")
    doctor.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    """Check a store; with ``--repair`` fix what can be fixed. Exit 0 when healthy (or repaired), 1 otherwise."""
    resolve(args, DOCTOR)
    s = args.settings
    store = settings_store(s)
    if not isinstance(store, EdgeStore):
        store.open()
        print(f"{where(s)}: {store.count()} points; a Qdrant server checks and repairs its own storage")
        return 0
    # loads only if a lost vector must be re-embedded: with the model the collection records (--bi-encoder must be
    # that model), all-MiniLM-L6-v2 where it records none
    embed = repair_embedder(store, pipeline.recall_encoder(s["bi_encoder"], s["precision"]), s["precision"])
    report = check_edge(store, repair=args.repair, embed=embed,
                        token_encoders=token_encoders(store, s["precision"]), remove_stale=args.remove_stale)
    if store.location.exists():
        report.disk = disk_usage(store.location)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0 if report.healthy else 1
    counted = f"{report.points} points" if report.points is not None else "points not counted"
    print(f"{report.location}: {counted}; " + ("healthy" if not report.findings else
          f"{len(report.findings)} problem(s)"))
    if report.disk:
        print("  " + disk_line(report.disk, report.points))
    for f in report.findings:
        print(f"  - {f.problem}; " + (f"repaired: {f.fix}" if f.repaired else f"--repair would {f.fix}"
                                      if not args.repair else f"NOT repaired: {f.fix}"))
    if report.backup:
        print(f"  the damaged folder was kept as {report.backup}; delete it once you are satisfied")
    if report.lost_ids:
        print(f"  deleted point ids ({len(report.lost_ids)}): {', '.join(report.lost_ids[:20])}"
              + (" ..." if len(report.lost_ids) > 20 else ""))
    for x in report.removed:
        print(f"  removed {x.path} ({human_bytes(x.bytes)}): {x.what}")
    if report.leftovers:
        print(f"  {len(report.leftovers)} folder(s) left beside the collection "
              f"({human_bytes(sum(x.bytes for x in report.leftovers))}); `--remove-stale` deletes them:")
        for x in report.leftovers:
            print(f"    {x.path} ({human_bytes(x.bytes)}): {x.what}")
    return 0 if report.healthy else 1


def disk_line(disk: dict[str, int], points: int | None) -> str:
    """``disk 112 MB (50 KB per point): maxsim vectors 29.8 MB, write-ahead log 75 MB, ...``, largest first."""
    total = sum(disk.values())
    per = f" ({human_bytes(total // points)} per point)" if points else ""
    return f"disk {human_bytes(total)}{per}: " + ", ".join(
        f"{k} {human_bytes(v)}" for k, v in sorted(disk.items(), key=lambda kv: -kv[1]) if v)


def token_encoders(store: Any, precision: str) -> dict[str, Any]:
    """The encoders of the collection's token-vector fields the CLI knows by name ('maxsim', 'colbert'; nothing is
    loaded until one is used); doctor uses one only when its model is the one the field records."""
    try:
        fields = store.engine_multivectors()
    except (OSError, ValueError):
        return {}
    out = {}
    for name in fields:
        if name in ("maxsim", "colbert"):
            try:
                out[name] = make_stage(name, precision=precision).encoder
            except RecallrankError as exc:  # e.g. the package shipping the trained ColBERT is not installed
                log.warning("cannot re-encode '%s' token vectors: %s", name, exc)
    return out


def repair_embedder(store: Any, encoder: Any, precision: str) -> Callable[[Sequence[str]], Any]:
    """What re-embeds lost dense vectors: the recorded bi-encoder (or ``encoder``, refused unless it is that
    model), built and checked only when a vector must be re-embedded."""
    try:
        record = recorded_encoder(store)
    except RecallrankError:  # a damaged record: the repair rewrites it; the model given (or the default) embeds
        record = None
    chosen: list[Any] = []

    def embed(texts: Sequence[str]) -> Any:
        if not chosen:
            model = encoder if encoder is not None else encoder_for(store if record else _NoRecord(), None, precision)
            if record is not None and encoder is not None and not same_model(record, encoder):
                raise InvalidInputError(f"the collection was built with {label(record)}; repair it with that model "
                                        f"(--bi-encoder {record['name']}, or no --bi-encoder), not "
                                        f"{registry_name(encoder)}")
            if record is None:  # a collection from before records: the surviving vectors must be this model's
                try:
                    agreement = agreement_of(store, model)
                except RecallrankError:
                    agreement = None
                if (agreement is None and encoder is None) or (agreement is not None and agreement < SAME_MODEL):
                    seen = "no stored vector could be read to recognise it by" if agreement is None else \
                        f"its surviving vectors and {registry_name(model)}'s agree to a cosine of {agreement:.2f}"
                    raise InvalidInputError(f"the collection records no bi-encoder and {seen}: pass --bi-encoder "
                                            "with the model that built it, so the lost vectors are re-embedded with it")
            chosen.append(model)
        return chosen[0].encode_documents(texts)

    return embed


class _NoRecord:
    """A store that records nothing, so :func:`encoder_for` builds the default bi-encoder."""

    def exists(self) -> bool:
        return False
