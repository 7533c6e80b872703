"""``recallrank serve``: the same results as ``search`` over HTTP, Cohere-style /rerank, clear 4xx errors, a bounded
queue (503 + Retry-After), an OpenAPI description, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recallrank import CrossEncoderReranker, Document, EdgeStore, TwoStageRetriever
from recallrank.cli.search import response_json
from recallrank.cli.service import OPENAPI, Service, make_server
from tests.conftest import CORPUS
from tests.unit.test_cli import SCRIPT, index  # noqa: F401  (the CLI's module-scoped index)
from tests.unit.test_cli import corpus as corpus


def call(base: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any], Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


@pytest.fixture
def served(tmp_path: Path, tiny_bi: str, tiny_cross: str) -> Iterator[tuple[str, TwoStageRetriever, Service]]:
    from recallrank import BiEncoder

    retriever = TwoStageRetriever(EdgeStore(tmp_path / "index"), BiEncoder(tiny_bi), top_k=5, top_n=3)
    retriever.add_documents([Document(text, meta, doc_id) for doc_id, text, meta in CORPUS])
    service = Service(retriever, response_json, concurrency=1, queue=2)
    service._cross = CrossEncoderReranker(tiny_cross, fusion=None)  # the shipped one is what serve loads
    server = make_server(service, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", retriever, service
    server.shutdown()
    server.server_close()
    thread.join()
    retriever.store.close()


def test_search_over_http_is_what_the_retriever_returns(served: tuple[str, TwoStageRetriever, Service]) -> None:
    base, retriever, _ = served
    status, got, _ = call(base, "/search", {"query": "apple stock price", "top_n": 2})
    assert status == 200
    want = response_json("apple stock price", retriever.search("apple stock price", top_n=2))
    assert [r["id"] for r in got["results"]] == [r["id"] for r in want["results"]]
    for a, b in zip(got["results"], want["results"], strict=True):
        assert set(a) >= {"score", "probability", "relevance_score", "retrieval_score", "score_stage", "score_model",
                          "text"}
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["probability"] is None  # no calibration is fitted for this test model, and the response says so
    assert got["calibration"] is None and got["abstained"] is False
    assert set(got["timings_ms"]) >= {"embed", "recall", "rerank", "total"}
    status, filtered, _ = call(base, "/search", {"query": "apple", "filter": {"topic": "food"}})
    assert status == 200 and filtered["results"]
    assert {r["metadata"]["topic"] for r in filtered["results"]} == {"food"}
    assert call(base, "/health")[1] == {"status": "ok", "collection": retriever.store.name, "points": len(CORPUS)}


@pytest.mark.parametrize(("path", "body", "raw", "status", "message"), [
    ("/search", {"query": ""}, None, 400, "query"),
    ("/search", {"query": "x", "top_n": 0}, None, 400, "top_n"),
    ("/search", {"query": "x", "limit": 3}, None, 400, "unknown field(s) ['limit']"),
    ("/search", {"query": "x", "min_probability": 0.5}, None, 400, "no fitted calibration"),
    ("/search", {"query": "x", "min_probability": 2}, None, 400, "min_probability must be a probability"),
    ("/search", None, b"{not json", 400, "not JSON"),
    ("/search", [1, 2], None, 400, "JSON object"),
    ("/rerank", {"query": "x", "documents": "one"}, None, 400, "documents must be a list"),
    ("/rerank", {"query": "x", "documents": [{"title": "t"}]}, None, 400, "document 0"),
    ("/nowhere", {"query": "x"}, None, 404, "openapi.json"),
    ("/search", {}, None, 400, "no \"query\""),
    ("/rerank", {"query": "x", "documents": ["a"], "top": 3}, None, 400, "unknown field(s) ['top']"),
    ("/rerank", {"query": "x", "documents": [{"text": "a"}, "b"], "fusion": "score"}, None, 400, "needs a score"),
    ("/rerank", {"query": "x", "documents": ["a"], "return_documents": "no"}, None, 400, "return_documents"),
    ("/rerank", {"query": "x", "documents": ["a"] * 1001}, None, 400, "at most 1000"),
    ("/search", None, b"[" * 100000, 400, "not JSON"),
])
def test_bad_requests_say_what_to_change(served: tuple[str, TwoStageRetriever, Service], path: str, body: Any,
                                         raw: bytes | None, status: int, message: str) -> None:
    got_status, got, _ = call(served[0], path, body, raw)
    assert got_status == status and message in got["error"]


def test_rerank_is_cohere_shaped_and_the_foreign_routine(served: tuple[str, TwoStageRetriever, Service]) -> None:
    from recallrank.rerank.foreign import Incoming, rerank_incoming

    base, _, service = served
    docs = ["Apple Inc. shares rose today.", {"text": "Apples grow in orchards."}, "Tea is a drink."]
    status, got, _ = call(base, "/rerank", {"query": "apple stock price", "documents": docs, "top_n": 2,
                                            "return_documents": True})
    assert status == 200 and len(got["results"]) == 2
    texts = [d if isinstance(d, str) else d["text"] for d in docs]
    want = rerank_incoming(service._cross, "apple stock price", [Incoming(str(i), t) for i, t in enumerate(texts)],
                           top_n=2)
    assert [r["index"] for r in got["results"]] == [i for i, _ in want]
    assert [r["relevance_score"] for r in got["results"]] == pytest.approx([r.relevance_score for _, r in want])
    assert got["results"][0]["document"]["text"] == texts[got["results"][0]["index"]]


def test_routes_ignore_the_query_string_and_a_wrong_method_is_405(
        served: tuple[str, TwoStageRetriever, Service]) -> None:
    base = served[0]
    assert call(base, "/health?probe=1")[0] == 200
    status, body, headers = call(base, "/search")  # a GET
    assert status == 405 and headers["Allow"] == "POST" and "takes POST" in body["error"]
    request = urllib.request.Request(base + "/health", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 405


def test_a_bad_content_length_is_400_and_a_chunked_body_411(served: tuple[str, TwoStageRetriever, Service]) -> None:
    import http.client

    host, port = served[0].removeprefix("http://").split(":")
    for headers, status in (({"Content-Length": "abc"}, 400), ({"Content-Length": "-1"}, 400),
                            ({"Transfer-Encoding": "chunked"}, 411)):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.putrequest("POST", "/search")
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == status and "error" in json.loads(response.read())
        conn.close()


def test_rerank_fuses_the_scores_documents_arrive_with(served: tuple[str, TwoStageRetriever, Service]) -> None:
    base = served[0]
    docs = [{"text": "Apple Inc. shares rose today.", "score": 0.2}, {"text": "Apples grow.", "score": 0.9}]
    status, got, _ = call(base, "/rerank", {"query": "apple stock price", "documents": docs, "model": "any"})
    assert status == 200 and {r["score_stage"] for r in got["results"]} == {"cross+score"}
    assert sorted(r["retrieval_score"] for r in got["results"]) == [0.2, 0.9]


def test_a_full_queue_is_answered_503_with_retry_after(served: tuple[str, TwoStageRetriever, Service]) -> None:
    base, retriever, service = served
    release, started = threading.Event(), threading.Event()
    search = retriever.search

    def slow(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(30)
        return search(*args, **kwargs)

    retriever.search = slow  # type: ignore[method-assign]
    results: list[int] = []
    workers = [threading.Thread(target=lambda: results.append(call(base, "/search", {"query": "apple"})[0]))
               for _ in range(3)]  # one runs, two wait: the queue (2) is full
    workers[0].start()
    assert started.wait(30)
    for w in workers[1:]:
        w.start()
    while service.gate.waiting < 2:
        threading.Event().wait(0.01)
    status, body, headers = call(base, "/search", {"query": "apple"})
    assert status == 503 and "busy" in body["error"] and headers["Retry-After"] == "1"
    release.set()
    for w in workers:
        w.join(60)
    assert results == [200, 200, 200]


def test_queue_zero_runs_one_request_and_refuses_waiting(served: tuple[str, TwoStageRetriever, Service]) -> None:
    from recallrank.cli.service import Busy, Gate

    gate = Gate(concurrency=1, queue=0)
    assert gate.run(lambda: 42) == 42  # an idle server answers
    release, started = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: gate.run(lambda: (started.set(), release.wait(30))))
    worker.start()
    assert started.wait(30)
    with pytest.raises(Busy):
        gate.run(lambda: 0)  # no slot, no room to wait
    release.set()
    worker.join(30)


def test_openapi_describes_every_endpoint(served: tuple[str, TwoStageRetriever, Service]) -> None:
    status, spec, _ = call(served[0], "/openapi.json")
    assert status == 200 and spec == OPENAPI and set(spec["paths"]) == {"/search", "/rerank", "/health"}


def test_the_command_serves_and_stops_cleanly_on_sigterm(index: Path) -> None:  # noqa: F811
    import os

    assert SCRIPT is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECALLRANK_")}
    proc = subprocess.Popen([SCRIPT, "serve", "--path", str(index), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env, "HF_HUB_OFFLINE": "1"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("serving recallrank on http://127.0.0.1:"), (line, proc.stderr and proc.stderr.read())
        base = line.split()[3]
        status, got, _ = call(base, "/search", {"query": "payload filters"})
        assert status == 200 and got["results"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
