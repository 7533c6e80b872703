"""The HTTP service behind ``recallrank serve``: one loaded pipeline answering JSON requests, for stacks that are
not Python. Standard library only (``http.server``), threads per connection, a bounded number of requests waiting
for the models (past it: 503 with ``Retry-After``), and a shutdown that finishes the requests in flight.

Endpoints (``GET /openapi.json`` describes them):

* ``POST /search`` ``{"query", "top_k"?, "top_n"?, "filter"?, "score_threshold"?, "rerank"?}``: the pipeline
  ``recallrank search`` runs, results with the score fields every front end gives (``score``, ``relevance_score``,
  ``retrieval_score``, ``score_stage``, ``score_model``) and per-stage milliseconds.
* ``POST /rerank`` Cohere-style ``{"query", "documents": [str | {"text"}], "top_n"?, "return_documents"?}``: the
  routine LangChain's, Haystack's and LlamaIndex's rerankers use (:func:`recallrank.rerank.foreign.rerank_incoming`,
  the bilingual cross-encoder fused with the arrival order); each result has ``index`` (into ``documents``),
  ``relevance_score`` (the cross-encoder's probability) and ``score`` (what the order follows).
* ``GET /health``: the collection and its point count.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from recallrank.documents import check_text
from recallrank.errors import InvalidInputError, RecallrankError, StoreError
from recallrank.index.base import check_filter

#: the largest request body read (bytes); a bigger one is answered 413
MAX_BODY = 8 * 2**20
#: the most documents one /rerank request may send (Cohere's own limit is 1,000)
MAX_DOCUMENTS = 1000
#: seconds a connection may stay silent (an idle keep-alive, a body shorter than its Content-Length) before it is
#: closed, so a stop is never held up by a client that sends nothing
IDLE_TIMEOUT = 15

SCORES = {"score": {"type": "number"}, "relevance_score": {"type": ["number", "null"]},
          "retrieval_score": {"type": ["number", "null"]}, "probability": {"type": ["number", "null"]},
          "score_stage": {"type": ["string", "null"]},
          "score_model": {"type": ["string", "null"]}}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "recallrank", "version": "1", "description": "Two-stage retrieval and reranking over HTTP."},
    "paths": {
        "/search": {"post": {"summary": "recall top_k from the collection, rerank, keep top_n", "requestBody": {
            "required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["query"], "properties": {
                    "query": {"type": "string"}, "top_k": {"type": "integer", "minimum": 1},
                    "top_n": {"type": "integer", "minimum": 1}, "score_threshold": {"type": "number"},
                    "min_probability": {"type": ["number", "string", "null"], "description": "a probability, "
                                        "'auto', or 'none' / 0 (never abstain); null: the server's setting"},
                    "latency_budget": {"type": "number", "description": "seconds per query for the rerank cascade"},
                    "documents": {"type": "boolean", "description": "documents instead of chunks, each scored by "
                                  "its best passage(s); null: the server's setting"},
                    "passages": {"type": "integer", "minimum": 1, "maximum": 100},
                    "document_score": {"type": "string", "enum": ["max", "sum"]},
                    "evidence": {"type": "boolean", "description": "snippets where each result matched"},
                    "filter": {"type": "object", "description": "metadata filter, as TwoStageRetriever.search "
                               "takes it: {key: value}, {key: [values]}, or Qdrant-shaped must/should/must_not"},
                    "rerank": {"type": "boolean", "default": True}}}}}},
            "responses": {"200": {"description": "ranked results", "content": {"application/json": {"schema": {
                "type": "object", "properties": {
                    "query": {"type": "string"}, "recalled": {"type": "integer"},
                    "abstained": {"type": "boolean"}, "best_probability": {"type": ["number", "null"]},
                    "calibration": {"type": ["string", "null"]}, "min_probability": {"type": ["number", "null"]},
                    "skipped": {"type": "array", "items": {"type": "string"}},
                    "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
                    "results": {"type": "array", "items": {"type": "object", "properties": {
                        "rank": {"type": "integer"}, "id": {"type": ["string", "null"]},
                        "point_id": {"type": "string"}, "text": {"type": "string"}, "metadata": {"type": "object"},
                        "passages": {"type": "array", "items": {"type": "object"}, "description": "a document's "
                                     "best passages with their offsets (documents mode)"},
                        "evidence": {"type": "array", "items": {"type": "object"}, "description": "snippets where "
                                     "it matched: offsets, text, highlights"},
                        **SCORES}}}}}}}},
                          "400": {"description": "bad input: the message says what to change"},
                          "503": {"description": "busy (Retry-After) or the store is unavailable"}}}},
        "/rerank": {"post": {"summary": "rerank given documents (Cohere-style)", "requestBody": {
            "required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["query", "documents"], "properties": {
                    "query": {"type": "string"}, "top_n": {"type": "integer", "minimum": 1},
                    "documents": {"type": "array", "items": {"oneOf": [
                        {"type": "string"}, {"type": "object", "required": ["text"], "properties": {
                            "text": {"type": "string"},
                            "score": {"type": "number",
                                      "description": "the score it arrived with (higher is better)"}}}]}},
                    "return_documents": {"type": "boolean", "default": False},
                    "model": {"type": "string", "description": "accepted and ignored (Cohere clients send it)"},
                    "fusion": {"type": "string", "enum": ["auto", "score", "order", "none"], "default": "auto",
                               "description": "what the order follows: the cross-encoder fused with the documents' "
                               "scores ('score', needs one on each), with their order ('order'), or alone ('none'); "
                               "'auto': 'score' when every document has one, else 'order'. Fusion measured above "
                               "the cross-encoder alone on held-out question sets (benchmarks/foreign_rerank.py)"}}}}}},
            "responses": {"200": {"description": "results, best first", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"results": {"type": "array", "items": {
                    "type": "object", "description": "best first: ordered by score (relevance_score is the "
                    "cross-encoder's own probability)", "properties": {"index": {"type": "integer"}, **SCORES,
                                                     "document": {"type": "object"}}}}}}}}},
                          "400": {"description": "bad input"}, "503": {"description": "busy"}}}},
        "/health": {"get": {"summary": "the collection and its point count",
                            "responses": {"200": {"description": "serving"}}}},
    },
}


def _query(body: dict[str, Any]) -> str:
    if "query" not in body:
        raise InvalidInputError("the body has no \"query\"; send {\"query\": \"...\"}")
    return check_text(body["query"], "query")


class Busy(Exception):
    """More requests wait for the models than the queue holds."""


class Gate:
    """At most ``concurrency`` requests run the models at once and at most ``queue`` wait; past that, :class:`Busy`."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self.queue, self.waiting = queue, 0

    def run(self, work: Callable[[], Any]) -> Any:
        if not self._slots.acquire(blocking=False):  # no free slot: wait, if the queue has room
            with self._lock:
                if self.waiting >= self.queue:
                    raise Busy
                self.waiting += 1
            self._slots.acquire()
            with self._lock:
                self.waiting -= 1
        try:
            return work()
        finally:
            self._slots.release()


class Service:
    """The requests' logic over one retriever (and, for ``/rerank``, a cross-encoder loaded on first use)."""

    def __init__(self, retriever: Any, to_json: Callable[[str, Any], dict[str, Any]], concurrency: int = 1,
                 queue: int = 64, precision: str = "auto") -> None:
        self.retriever, self.to_json, self.precision = retriever, to_json, precision
        self.gate = Gate(concurrency, queue)
        self._cross: Any = None
        self._cross_lock = threading.Lock()

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        query = _query(body)
        known = ("query", "top_k", "top_n", "filter", "score_threshold", "rerank", "min_probability", "latency_budget",
                 "documents", "passages", "document_score", "evidence")
        unknown = set(body) - set(known)
        if unknown:
            raise InvalidInputError(f"unknown field(s) {sorted(unknown)} for /search; known: {', '.join(known)}")
        flt = body.get("filter")
        check_filter(flt)
        rerank = body.get("rerank", True)
        if not isinstance(rerank, bool):
            raise InvalidInputError(f"rerank must be true or false, got {rerank!r:.40}")
        response = self.gate.run(lambda: self.retriever.search(
            query, top_k=body.get("top_k"), top_n=body.get("top_n"), filter=flt,
            score_threshold=body.get("score_threshold"), rerank=rerank, min_probability=body.get("min_probability"),
            latency_budget=body.get("latency_budget"), documents=body.get("documents"),
            passages=body.get("passages"), document_score=body.get("document_score"), evidence=body.get("evidence")))
        return self.to_json(query, response)

    def rerank(self, body: dict[str, Any]) -> dict[str, Any]:
        from recallrank.rerank.foreign import Incoming, default_reranker, rerank_incoming

        query = _query(body)
        unknown = set(body) - {"query", "documents", "top_n", "return_documents", "fusion", "model"}
        if unknown:
            raise InvalidInputError(f"unknown field(s) {sorted(unknown)} for /rerank; known: query, documents, top_n, "
                                    "return_documents, fusion (and model, accepted and ignored: the served "
                                    "cross-encoder answers)")
        documents = body.get("documents")
        keep = body.get("return_documents", False)
        if not isinstance(keep, bool):
            raise InvalidInputError(f"return_documents must be true or false, got {keep!r:.40}")
        if isinstance(documents, list) and len(documents) > MAX_DOCUMENTS:
            raise InvalidInputError(f"{len(documents)} documents; send at most {MAX_DOCUMENTS} per request")
        if not isinstance(documents, list):
            raise InvalidInputError("documents must be a list of strings or {\"text\": ..., \"score\"?: ...} objects")
        texts, scores = [], []
        for i, d in enumerate(documents):
            text = d.get("text") if isinstance(d, dict) else d
            if not isinstance(text, str):
                raise InvalidInputError(f"document {i} must be a string or an object with a \"text\" string")
            texts.append(text)
            scores.append(d.get("score") if isinstance(d, dict) else None)
        with self._cross_lock:
            if self._cross is None:
                self._cross = default_reranker(self.precision)
        found = self.gate.run(lambda: rerank_incoming(
            self._cross, query, [Incoming(str(i), t, s) for i, (t, s) in enumerate(zip(texts, scores, strict=True))],
            top_n=body.get("top_n"),
            fusion=body.get("fusion", "auto")))
        return {"results": [{"index": i, **r.score_fields(), **({"document": {"text": texts[i]}} if keep else {})}
                            for i, r in found]}

    def health(self) -> dict[str, Any]:
        store = self.retriever.store
        return {"status": "ok", "collection": store.name, "points": store.count()}


def make_server(service: Service, host: str, port: int) -> ThreadingHTTPServer:
    """A threading HTTP server answering :data:`OPENAPI`'s endpoints with ``service``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "recallrank"
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default, as the CLI is
            pass

        def _route(self, method: str) -> str | None:
            """The path without its query string, or ``None`` after answering 404 / 405 for it."""
            path = self.path.split("?", 1)[0]
            allowed = [m for m, paths in (("GET", ("/openapi.json", "/health")), ("POST", ("/search", "/rerank")))
                       if path in paths]
            if method in allowed:
                return path
            if allowed:
                self._send(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{path} takes {allowed[0]}, not {method}"},
                           headers={"Allow": allowed[0]})
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no {method} {path}; see GET /openapi.json"})
            return None

        def do_GET(self) -> None:
            path = self._route("GET")
            if path == "/openapi.json":
                self._send(HTTPStatus.OK, OPENAPI)
            elif path == "/health":
                self._answer(service.health)

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def do_PATCH(self) -> None:
            self._route("PATCH")

        def do_OPTIONS(self) -> None:
            self._route("OPTIONS")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_POST(self) -> None:
            routes = {"/search": service.search, "/rerank": service.rerank}
            path = self._route("POST")
            if path is None:
                return
            if self.headers.get("Transfer-Encoding"):
                self._send(HTTPStatus.LENGTH_REQUIRED, {"error": "send the body with a Content-Length (no "
                                                                 "chunked transfer encoding)"}, close=True)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                status = HTTPStatus.BAD_REQUEST if length < 0 else HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                self._send(status, {"error": f"Content-Length {self.headers.get('Content-Length')!r}: send the body's "
                                             f"size in bytes, at most {MAX_BODY}"}, close=True)
                return
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except (ValueError, RecursionError) as exc:
                self._send(HTTPStatus.BAD_REQUEST, {"error": f"the body is not JSON (or nested too deep): "
                                                             f"{str(exc)[:200]}"})
                return
            if not isinstance(body, dict):
                self._send(HTTPStatus.BAD_REQUEST, {"error": "send a JSON object, e.g. {\"query\": \"...\"}"})
                return
            self._answer(lambda: routes[path](body))

        def _answer(self, work: Callable[[], dict[str, Any]]) -> None:
            try:
                self._send(HTTPStatus.OK, work())
            except Busy:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "busy: too many requests waiting; retry"},
                           headers={"Retry-After": "1"})
            except (InvalidInputError, ValueError, TypeError) as exc:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            except StoreError as exc:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
            except RecallrankError as exc:
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})

        def _send(self, status: HTTPStatus, payload: dict[str, Any], headers: dict[str, str] | None = None,
                  close: bool = False) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        #: connections the kernel holds before they are accepted: a burst is answered (503 past the queue), not
        #: left hanging in a backlog of 5
        request_queue_size = 1024

        def handle_error(self, request: Any, client_address: Any) -> None:
            import sys

            if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client that went away: quiet
                super().handle_error(request, client_address)

    server = Server((host, port), Handler)
    server.daemon_threads = False  # shutdown waits for the requests in flight
    server.block_on_close = True
    return server


def serve_until_stopped(server: ThreadingHTTPServer, on_ready: Callable[[], None] | None = None) -> float:
    """Serve until SIGINT/SIGTERM; finish the requests in flight, then return the seconds served."""
    import signal

    start = time.perf_counter()
    stop = threading.Event()

    def request_stop(*_: Any) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if on_ready is not None:
            on_ready()
        server.serve_forever(poll_interval=0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()  # joins the request threads (block_on_close)
    return time.perf_counter() - start
