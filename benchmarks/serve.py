"""`recallrank serve` under concurrent clients: requests per second and latency percentiles of POST /search (the
default pipeline) over HTTP, for 1, 4 and 16 clients, with the server's --concurrency 1 and 2, in one run.

    python benchmarks/serve.py [--docs 2000] [--requests 60]

The index is `recallrank index` of Debian descriptions (all defaults); the server runs as its own process, loaded
once; each client sends its share of the questions back to back. Nothing else should run on the machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import machine, percentile, publish, table

from recallrank import load_dataset


def post(base: str, query: str) -> float:
    start = time.perf_counter()
    request = urllib.request.Request(base + "/search", data=json.dumps({"query": query}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        json.loads(response.read())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("recallrank"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECALLRANK_")}
    ds = load_dataset("debian-en", "test")
    queries = list(ds.queries.values())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "debian.jsonl"
        with source.open("w") as f:
            for doc_id in list(ds.corpus)[:args.docs]:
                f.write(json.dumps({"id": doc_id, "text": ds.corpus[doc_id]}) + "\n")
        subprocess.run([exe, "index", "--path", f"{tmp}/index", str(source)], check=True, env=env,
                       capture_output=True)
        for concurrency in (1, 2):
            server = subprocess.Popen([exe, "serve", "--path", f"{tmp}/index", "--port", "0", "--concurrency",
                                       str(concurrency)], stdout=subprocess.PIPE, text=True, env=env)
            try:
                assert server.stdout is not None
                base = server.stdout.readline().split()[3]
                post(base, queries[0])  # warm
                for clients in (1, 4, 16):
                    asked = queries[:args.requests]
                    start = time.perf_counter()
                    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                        latencies = list(pool.map(post, [base] * len(asked), asked))
                    wall = time.perf_counter() - start
                    rows.append([concurrency, clients, f"{len(asked) / wall:.1f}",
                                 f"{percentile(latencies, 50) * 1000:.0f}", f"{percentile(latencies, 95) * 1000:.0f}"])
                    print(rows[-1], flush=True)
            finally:
                server.terminate()
                server.wait(60)
    body = "\n".join([f"Machine: {machine()}. {args.docs} Debian descriptions, {args.requests} questions per row.\n",
                      table(["--concurrency", "clients", "requests/s", "p50 ms", "p95 ms"], rows)])
    print(publish("serve", "recallrank serve: POST /search under concurrent clients", body).read_text())


if __name__ == "__main__":
    main()
