"""Definitions from Debian's dictd dictionaries (FOLDOC, WordNet, ...): query = headword, document = definition.

The packages (``dict-foldoc``, ``dict-wn``) are downloaded with ``apt-get download`` and unpacked with
``dpkg-deb`` in a temporary folder; nothing is installed. ``.dict.dz`` is dictzip, which gzip reads.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from recallrank.errors import DatasetError
from recipes.data.pairs import Pair

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
PACKAGES = {"foldoc": "dict-foldoc", "wn": "dict-wn"}


def _b64(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + _B64.index(ch)
    return n


def fetch_dictionary(name: str, dest: Path) -> tuple[Path, Path]:
    """Download the dictd package for ``name`` (a key of ``PACKAGES``); returns (index, dict.dz) paths."""
    if name not in PACKAGES:
        raise DatasetError(f"unknown dictionary {name!r}; choose one of {sorted(PACKAGES)}")
    index, data = dest / f"{name}.index", dest / f"{name}.dict.dz"
    if index.exists() and data.exists():
        return index, data
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recallrank-dict-") as tmp:
        proc = subprocess.run(["apt-get", "download", "-oAPT::Sandbox::User=root", PACKAGES[name]],
                              cwd=tmp, capture_output=True, text=True, check=False)
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise DatasetError(f"apt-get download {PACKAGES[name]} failed: {proc.stderr.strip()[-300:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), tmp], check=True)
        base = Path(tmp, "usr/share/dictd")
        (base / f"{name}.index").replace(index)
        (base / f"{name}.dict.dz").replace(data)
    return index, data


def _clean(text: str) -> str:
    text = re.sub(r"\{([^{}]*?)\s*\([^(){}]*\)\}", r"\1", text)  # {label (url)} -> label
    text = text.replace("{", "").replace("}", "")
    text = re.sub(r"\n\s*\(\d{4}-\d{2}-\d{2}\)\s*$", "", text.strip())  # FOLDOC's trailing date
    return "\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip())


def dictionary_pairs(name: str, index: Path, data: Path, min_chars: int = 60, max_chars: int = 1500) -> Iterator[Pair]:
    """One pair per headword: the definition with its headword line removed, so the match is not verbatim."""
    with gzip.open(data) as fh:
        blob = fh.read()
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00database"):
            continue
        word = parts[0]
        entry = blob[_b64(parts[1]): _b64(parts[1]) + _b64(parts[2])].decode("utf-8", errors="replace")
        _head, _, definition = entry.strip("\n").partition("\n")
        text = _clean(definition)[:max_chars]
        if len(text) < min_chars or len(word) < 2:
            continue
        yield Pair(key=f"{name}:{word}", query=word, text=text, group=word.casefold()[:3])
