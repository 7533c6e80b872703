"""``recallrank``'s entry point: parse, run the command, and turn errors into one line on stderr."""

from __future__ import annotations

import logging
import os
import sys

from recallrank.cli.parser import COMMANDS, build_parser
from recallrank.errors import RecallrankError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(message)s")
    if not debug:
        _quiet_libraries()
    try:
        return int(COMMANDS[args.command].run(args))
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
