"""Calibration pairs for static int8 (``precision="int8"`` on ``backend="openvino"``).

Static quantisation fixes each activation's int8 range ahead of time from real inputs. The package ships
``calibration_pairs.jsonl``: (query, text) pairs drawn from the *train* splits of debian-en, python-docs and
foldoc (half relevant, half not), so no evaluation split's text is ever seen. Rebuild it with
``python -m recallrank.models._calibration`` after ``python -m recipes.data.build``; pass your own pairs
(``calibration=`` on either encoder) to calibrate on your collection's text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path

PAIRS_FILE = Path(__file__).with_name("calibration_pairs.jsonl")
#: train splits drawn from and pairs taken from each
SOURCES = (("debian-en", 96), ("python-docs", 64), ("foldoc", 32))
MAX_CHARS = 1500


def default_pairs() -> list[tuple[str, str]]:
    """The shipped calibration pairs."""
    with PAIRS_FILE.open(encoding="utf-8") as fh:
        return [(row["query"], row["text"]) for row in map(json.loads, fh)]


def check_pairs(pairs: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
    """``pairs`` as a list of (str, str), or a ValueError that says what is wrong."""
    if pairs is None:
        return None
    out = list(pairs)
    if len(out) < 8:
        raise ValueError(f"calibration needs at least 8 (query, text) pairs to fix int8 ranges, got {len(out)}")
    for i, pair in enumerate(out):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) and x.strip()
                                                                            for x in pair)):
            raise ValueError(f"calibration pair {i} must be a (query, text) tuple of two non-empty strings, "
                             f"got {pair!r:.80}")
    return [(q, t) for q, t in out]


def fingerprint(pairs: Sequence[tuple[str, str]]) -> str:
    """A short hash of the pairs: part of the int8 model's cache key."""
    h = hashlib.sha1()
    for q, t in pairs:
        h.update(q.encode())
        h.update(b"\0")
        h.update(t.encode())
        h.update(b"\1")
    return h.hexdigest()[:10]


def build(pairs_root: Path, out: Path = PAIRS_FILE, seed: int = 0) -> int:
    """Write the calibration file from the train splits under ``pairs_root/<source>/train.jsonl``."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for source, n in SOURCES:
        with (pairs_root / source / "train.jsonl").open(encoding="utf-8") as fh:
            train = [json.loads(line) for line in fh]
        picked = rng.sample(train, n)
        for i, row in enumerate(picked):
            text = row["text"] if i % 2 == 0 else rng.choice(train)["text"]  # every other pair is irrelevant
            rows.append({"source": source, "query": row["query"], "text": text[:MAX_CHARS]})
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=Path, default=Path.home() / ".cache" / "recallrank" / "datasets" / "pairs",
                   help="folder of <source>/train.jsonl (written by recipes.data.build)")
    p.add_argument("--out", type=Path, default=PAIRS_FILE)
    args = p.parse_args()
    print(f"wrote {build(args.pairs, args.out)} pairs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
