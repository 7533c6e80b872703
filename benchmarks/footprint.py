"""The default pipeline from the shell, as a user meets it: `recallrank index` of Debian descriptions (JSONL, all
defaults), the store it leaves on disk by component, and warm `recallrank search` calls: wall time and peak RSS of
each command (its own process, measured by the OS), side by side in one run.

    python benchmarks/footprint.py [--docs 2000] [--searches 3] [--demo]

``--demo`` also times `recallrank demo` with a fresh HOME and cache (what a newcomer's first `make demo` runs after
installing). Nothing else should run on the machine meanwhile; the results file names the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, publish, table

from recallrank import load_dataset
from recallrank.index.embedded.usage import WAL, disk_usage

QUERIES = ["install a web browser", "library for parsing JSON in Rust", "tool to compress PNG images"]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one command in its own process (``wait4``'s own rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(args)} failed:\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--searches", type=int, default=3)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("recallrank"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECALLRANK_")}
    ds = load_dataset("debian-en", "test")
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "debian.jsonl"
        with source.open("w") as f:
            for doc_id in list(ds.corpus)[:args.docs]:
                f.write(json.dumps({"id": doc_id, "text": ds.corpus[doc_id]}) + "\n")
        store = Path(tmp) / "index"
        wall, peak, out = timed([exe, "index", "--path", str(store), str(source), "--json"], env)
        report = json.loads(out)
        rows.append([f"recallrank index ({args.docs} descriptions, {report['chunks']} chunks)", f"{wall:.1f}",
                     f"{peak:.0f}", f"{args.docs / wall:.1f} docs/s (command wall)"])
        for i, query in enumerate(QUERIES[:args.searches]):
            wall, peak, _ = timed([exe, "search", "--path", str(store), query], env)
            rows.append([f"recallrank search #{i + 1} (warm: models cached)", f"{wall:.2f}", f"{peak:.0f}", query])
        parts = disk_usage(store / "recallrank")
        demo_row = None
        if args.demo:
            home = Path(tmp) / "home"
            home.mkdir()
            wall, peak, _ = timed([exe, "demo"], {**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")})
            demo_row = ["recallrank demo, fresh HOME", f"{wall:.1f}", f"{peak:.0f}", "first run: builds its index"]
        if demo_row:
            rows.append(demo_row)
    total = sum(parts.values())
    data = sum(v for k, v in parts.items() if k != WAL)
    disk_rows = [[k, f"{v / 2**20:.1f}", f"{v / args.docs / 1024:.2f}"] for k, v in sorted(
        parts.items(), key=lambda kv: -kv[1])]
    disk_rows += [["segments (all but the log)", f"{data / 2**20:.1f}", f"{data / args.docs / 1024:.2f}"],
                  ["total", f"{total / 2**20:.1f}", f"{total / args.docs / 1024:.2f}"]]
    body = "\n".join([f"Machine: {machine()}.\n", table(["command", "wall s", "peak RSS MB", "note"], rows), "",
                      f"Store after the ingest ({args.docs} source documents):\n",
                      table(["component", "MB", "KB per source document"], disk_rows)])
    print(publish("footprint", "The default pipeline from the shell: speed, memory, disk", body).read_text())


if __name__ == "__main__":
    main()
