"""Debian package descriptions (English and Chinese) as a retrieval set, fetched with apt.

Query = a package's short description, relevant document = its long description. The files come from
apt's ``Translation-en`` / ``Translation-zh_CN`` indexes; this machine's apt config may switch translations
off, so the builder runs ``apt-get update`` with its own lists directory and ``Acquire::Languages`` in a
temporary folder (the system's apt state is never touched) and decompresses with ``apt-helper cat-file``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from recallrank.errors import DatasetError
from recipes.data.pairs import Pair

LANGS = {"en": "Translation-en", "zh": "Translation-zh%5fCN"}
APT_HELPER = "/usr/lib/apt/apt-helper"


def fetch_translations(dest: Path) -> dict[str, Path]:
    """Download and decompress the main archive's Translation files into ``dest``; returns lang -> file."""
    if shutil.which("apt-get") is None or not Path(APT_HELPER).exists():
        raise DatasetError("building the Debian set needs apt-get and apt-helper (a Debian/Ubuntu machine); "
                           "use the frozen splits shipped with recallrank instead")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recallrank-apt-") as tmp:
        lists, cache = Path(tmp, "lists"), Path(tmp, "cache")
        (lists / "partial").mkdir(parents=True)
        (cache / "archives" / "partial").mkdir(parents=True)
        # Acquire::Languages as one comma-separated value takes precedence over the list form that
        # Docker images set to "none"; private lists/cache dirs leave the system's apt state alone
        cmd = [
            "apt-get", "update", "-q", "-oAcquire::Languages=en,zh_CN",
            f"-oDir::State::Lists={lists}", f"-oDir::Cache={cache}",
            "-oDebug::NoLocking=1", "-oAPT::Sandbox::User=root",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        out: dict[str, Path] = {}
        for lang, suffix in LANGS.items():
            found = sorted(lists.glob(f"*_main_i18n_{suffix}*"))
            # the main suite's file is the largest; -updates/-security carry a handful of entries
            found = sorted(found, key=lambda p: p.stat().st_size, reverse=True)[:1]
            if not found:
                raise DatasetError(f"apt-get update fetched no {suffix} file (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()[-300:]}")
            target = dest / f"Translation-{lang}"
            with target.open("wb") as fh:
                subprocess.run([APT_HELPER, "cat-file", str(found[0])], stdout=fh, check=True)
            out[lang] = target
    return out


def parse_translation(path: Path) -> Iterator[tuple[str, str, str]]:
    """Yield (package, short description, long description) from a Translation file."""
    package = short = ""
    body: list[str] = []

    def flush() -> Iterator[tuple[str, str, str]]:
        if package and short:
            paras = [" ".join(p.split()) for p in "\n".join(body).split("\n.\n")]
            yield package, short.strip(), "\n".join(p for p in paras if p)

    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Package: "):
            yield from flush()
            package, short, body = line[9:].strip(), "", []
        elif line.startswith("Description-"):
            short = line.split(":", 1)[1]
        elif line.startswith(" ") and short:
            body.append("." if line.strip() == "." else line.strip())
    yield from flush()


def debian_pairs(path: Path, lang: str, min_chars: int = 40) -> Iterator[Pair]:
    """Pairs from one Translation file. The group is the long description's first paragraph, which
    packages built from one source share (``0ad`` / ``0ad-data``), so a family never straddles splits."""
    for package, short, long in parse_translation(path):
        if len(long) < min_chars or len(short) < 3:
            continue
        first_para = re.sub(r"\W+", " ", long.split("\n", 1)[0].casefold()).strip()
        yield Pair(key=f"{lang}:{package}", query=short, text=long, group=first_para)
