"""``recallrank serve``: the search pipeline and a reranker over HTTP, loaded once, JSON in and out (see
:mod:`recallrank.cli.service` for the endpoints)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from recallrank.cli import pipeline
from recallrank.cli.common import require_collection
from recallrank.cli.options import SEARCH, add_options, resolve
from recallrank.cli.search import response_json
from recallrank.cli.service import Service, make_server, serve_until_stopped
from recallrank.errors import InvalidInputError


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser("serve", parents=[common], help="serve /search and /rerank over HTTP (JSON)",
                           description="Load the pipeline `recallrank search` runs once and answer HTTP requests: "
                           "POST /search, POST /rerank (Cohere-style), GET /health, GET /openapi.json. Stops on "
                           "Ctrl-C or SIGTERM after the requests in flight.")
    add_options(serve, *SEARCH)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for "
                       "every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--concurrency", type=int, default=1,
                       help="requests that run the models at once (default 1: each forward pass already uses "
                       "every core)")
    serve.add_argument("--queue", type=int, default=64,
                       help="requests that may wait for the models; more are answered 503 with Retry-After "
                       "(default 64)")


def run(args: argparse.Namespace) -> int:
    resolve(args, SEARCH)
    for name, low in (("concurrency", 1), ("queue", 0), ("port", 0)):
        if getattr(args, name) < low or (name == "port" and args.port > 65535):
            raise InvalidInputError(f"--{name} {getattr(args, name)}: use a whole number >= {low}"
                                    + (" and <= 65535" if name == "port" else ""))
    s = args.settings
    retriever = pipeline.open_retriever(s)
    require_collection(retriever.store, s)
    retriever.store.open()
    pipeline.warm_up(retriever, probe="warm up")  # each stage measured once, for requests with a latency_budget
    service = Service(retriever, response_json, args.concurrency, args.queue, s["precision"])
    server = make_server(service, args.host, args.port)
    host, port = str(server.server_address[0]), int(server.server_address[1])

    def ready() -> None:
        print(f"serving {retriever.store.name} on http://{host}:{port} (POST /search, POST /rerank, GET /health, "
              "GET /openapi.json); Ctrl-C stops", flush=True)

    seconds = serve_until_stopped(server, ready)
    retriever.store.close()
    print(f"stopped after {seconds:.0f} s", file=sys.stderr)
    return 0
