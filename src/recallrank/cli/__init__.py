"""The ``recallrank`` command line: ``index``, ``search``, ``eval``, ``demo``, ``doctor``, ``mine``, ``config`` and
``train bi-encoder | reranker | distill``.

Options come from flags, ``RECALLRANK_*`` environment variables or a TOML file, in that order
(:mod:`recallrank.cli.config`). Errors are one line on stderr with exit status 2; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from recallrank.cli.config import DEFAULT_CONFIG, ENV_PREFIX, OPTIONS, add_options
from recallrank.cli.train import add_parsers as add_train_parsers
from recallrank.errors import RecallrankError

STORE = ["path", "url", "api_key", "collection"]
INDEX = [*STORE, "bi_encoder", "precision", "stages", "chunk_size", "chunk_overlap", "batch_size", "text_field",
         "progress", "on_disk", "quantization", "shards", "replicas", "write_consistency", "grpc"]
SEARCH = [*STORE, "bi_encoder", "reranker", "stages", "precision", "top_k", "top_n", "score_threshold", "rerank"]
EVAL = ["dataset", "split", "queries", "top_k", "bi_encoder", "reranker", "precision"]
DEMO = ["bi_encoder", "reranker", "precision", "top_k", "top_n"]
DOCTOR = [*STORE, "bi_encoder", "precision"]
MINE = [*STORE, "bi_encoder", "precision"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at ``--help``."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and logs")
    common.add_argument("--config", default=argparse.SUPPRESS, metavar="TOML",
                        help=f"settings file (default ${ENV_PREFIX}CONFIG, else ./{DEFAULT_CONFIG} if present)")
    parser = _Parser(prog="recallrank", parents=[common], description=(
        "Two-stage retrieval: a bi-encoder recalls top_k candidates from Qdrant, a cross-encoder reranks them to "
        f"the top_n. Every option is also read from {ENV_PREFIX}<OPTION> or a TOML file (flag > env > TOML)."))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = sub.add_parser("index", parents=[common], help="chunk, embed and store files, folders or JSONL",
                           description="Index text/Markdown files, folders of them and JSONL records. Unchanged "
                           "chunks are skipped, so re-running is a no-op and an interrupted run resumes.")
    index.add_argument("sources", nargs="*", metavar="SOURCE", help="file, folder or .jsonl")
    add_options(index, *INDEX)
    index.add_argument("--json", action="store_true", help="print the report as one JSON object")
    index.add_argument("--skip-errors", action="store_true",
                       help="index what can be read and list the files, folders or chunks that cannot (a chunk "
                       "in which the model finds no word, say); default: any such source is an error and nothing "
                       "is indexed")
    index.add_argument("--verbose", "-v", action="store_true",
                       help="list every path the folder search left out, with the reason (hidden, unsupported file "
                       "type, dangling symlink, symlink loop, duplicate); by default one line counts them")
    index.add_argument("--reembed", action="store_true",
                       help="recompute every stored vector with --bi-encoder (after fine-tuning one): ids and payloads "
                       "are kept; an embedded collection is rebuilt beside the old one and swapped in, the old one "
                       "kept as a backup folder")
    index.add_argument("--into", default=None, metavar="COLLECTION",
                       help="with --reembed: write the re-embedded points to this new collection instead (required "
                       "for a server; the source collection is only read)")
    index.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                       help="remove the chunks of files under the given folders that were deleted since they were "
                       "indexed (default: on; chunks of files that shrank or were emptied are always removed)")

    search = sub.add_parser("search", parents=[common], help="two-stage search of an index",
                            description="Recall top_k by vector, rerank, print the top_n with both scores and "
                            "the seconds each stage took.")
    search.add_argument("query", metavar="QUERY")
    add_options(search, *SEARCH)
    search.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                        help="metadata filter: KEY=VALUE matches the string VALUE exactly (zip=02139 stays a "
                        "string); KEY:=VALUE matches a number or boolean (year:=2023, draft:=false); repeat a key "
                        "to accept any of its values")
    search.add_argument("--json", action="store_true", help="print one JSON object")

    ev = sub.add_parser("eval", parents=[common], help="bi-encoder alone vs two-stage on a dataset",
                        description="nDCG@10, MRR@10, Recall@10 and Recall@top_k of the bi-encoder alone, the "
                        "cross-encoder's order and two-stage retrieval, with mean seconds per stage.")
    add_options(ev, *EVAL)
    ev.add_argument("--json", action="store_true", help='print one JSON object: {"bi": {"ndcg@10": ...}, ...}')
    ev.add_argument("--sweep", default=None, metavar="K,K,...",
                    help="also compare these top_k values, e.g. 10,20,50,100,200 (quality and rerank latency)")
    ev.add_argument("--plot", default=None, metavar="PNG", help="draw the sweep to this PNG file")
    ev.add_argument("--per-query", default=None, metavar="JSONL", help="write each query's metrics per stage here")
    ev.add_argument("--cross-only", type=int, default=0, metavar="N",
                    help="also rank the whole corpus with the cross-encoder alone on the first N queries (slow)")
    ev.add_argument("--latency-queries", type=int, default=20, metavar="N",
                    help="queries on which the sweep's rerank latency is measured")

    demo = sub.add_parser("demo", parents=[common], help="watch two-stage retrieval on the Debian corpus",
                          description="Build (once, cached) an embedded index of 5,000 English Debian package "
                          "descriptions, then show the bi-encoder order, the reranked order, both scores and "
                          "stage timings for a few queries.")
    demo.add_argument("extra", nargs="*", metavar="QUERY", help="your own queries, after the built-in ones")
    add_options(demo, *DEMO)
    demo.add_argument("--cache", default=None, help="index folder (default ~/.cache/recallrank/demo)")
    demo.add_argument("--show", type=int, default=5, help="rows per order")
    demo.add_argument("--docs", type=int, default=None, help="index only the first N descriptions (a quick look)")

    doctor = sub.add_parser("doctor", parents=[common], help="check a store for damage and repair it",
                            description="Check an embedded store: an interrupted swap (finished from its journal), "
                            "recallrank.json and the engine's edge_config.json against each other, the write-ahead "
                            "log, the point count against the one recorded at the last close, every part of every "
                            "point (payload and text, dense vector, each token-vector field), points missing the "
                            "token vectors of a field the collection declares, that the last index build finished, "
                            "and the folders earlier rebuilds and repairs left beside it (listed with their sizes). "
                            "Exit status 0 when healthy (or repaired), 1 when problems remain.")
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

    mine = sub.add_parser("mine", parents=[common], help="hard negatives for labelled queries from an index",
                          description="For each labelled pair (JSONL: query, positive or positive_id, optional "
                          "negatives and score), recall the index's top --depth and keep up to --negatives "
                          "candidates that are not the positive and score at least --margin below it (likely "
                          "unlabelled relevant documents are skipped). Writes JSONL; the index is only read.")
    mine.add_argument("pairs", help="JSONL file of labelled pairs")
    mine.add_argument("--out", required=True, help="JSONL file to write (written whole or not at all)")
    mine.add_argument("--overwrite", action="store_true", help="replace --out when it exists (else refused)")
    mine.add_argument("--negatives", type=int, default=5, help="negatives per query (default 5)")
    mine.add_argument("--depth", type=int, default=30, help="candidates recalled per query (default 30)")
    mine.add_argument("--margin", type=float, default=0.05,
                      help="skip candidates scoring within this of the positive (default 0.05)")
    mine.add_argument("--ratio", type=float, default=None,
                      help="also skip candidates scoring above RATIO x the positive's score")
    mine.add_argument("--teacher", default=None, metavar="RERANKER",
                      help="judge candidates with this cross-encoder ('shipped', 'bilingual', a folder or hub id) "
                      "instead of the bi-encoder")
    add_options(mine, *MINE)

    cfg = sub.add_parser("config", parents=[common], help="show the effective settings and where each comes from")
    cfg.add_argument("--write", metavar="TOML", default=None, help="write the non-secret settings to this file")
    add_options(cfg, *OPTIONS)

    add_train_parsers(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(message)s")
    if not debug:
        _quiet_libraries()
    from recallrank.cli import commands, train

    try:
        return int(getattr(train if args.command == "train" else commands, f"cmd_{args.command}")(args))
    except KeyboardInterrupt:
        print("recallrank: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (RecallrankError, ValueError, OSError) as exc:
        if debug:
            raise
        print(f"recallrank: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        print(f"recallrank: error: unexpected {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _quiet_libraries() -> None:
    """Model-loading progress bars and advisory warnings are noise on a command line (read at import time)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    raise SystemExit(main())
