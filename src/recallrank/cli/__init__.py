"""The ``recallrank`` command line: ``index``, ``search``, ``eval``, ``demo``, ``doctor``, ``mine``, ``config`` and
``train bi-encoder | reranker | distill``, one module each; the options they share are defined once in
:mod:`recallrank.cli.options` and the pipeline ``search`` and ``eval`` run is built once in
:mod:`recallrank.cli.pipeline`.

Options come from flags, ``RECALLRANK_*`` environment variables or a TOML file, in that order. Errors are one line
on stderr with exit status 2; ``--debug`` shows tracebacks.
"""

from recallrank.cli.main import main

__all__ = ["main"]
