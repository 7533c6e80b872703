"""The ``recallrank`` argument parser: the options every command shares, then each command's own parser from its
module (:mod:`~recallrank.cli.index`, :mod:`~recallrank.cli.search`, ...)."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType
from typing import NoReturn

from recallrank.cli import config, demo, doctor, index, mine, search, serve, train, tune
from recallrank.cli import eval as eval_command
from recallrank.cli.options import DEFAULT_CONFIG, ENV_PREFIX

#: each command's module, by name: it defines ``add_parser(sub, common)`` and ``run(args) -> int``
COMMANDS: dict[str, ModuleType] = {"index": index, "search": search, "eval": eval_command, "demo": demo,
                                   "doctor": doctor, "mine": mine, "config": config, "train": train, "serve": serve,
                                   "tune": tune}


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
        "Two-stage retrieval: a bi-encoder recalls top_k candidates from Qdrant, a rerank stage reorders them and "
        "keeps the top_n. By default that stage is zero-shot MaxSim over the bi-encoder's own token vectors, fused "
        "with the recall score (none after multilingual-e5-small, the recall model of non-Latin text); --stages "
        f"and --reranker choose others. Every option is also read from {ENV_PREFIX}<OPTION> or a TOML file "
        "(flag > env > TOML)."))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub, common)
    return parser
