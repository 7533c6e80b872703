"""Real FAQ questions from Debian documentation packages: question heading -> its answer section.

``python -m recallrank.datasets.faq --out DIR`` downloads the packages with ``apt-get download`` into a temporary
folder, unpacks them with ``dpkg-deb -x`` there (nothing is installed), and writes a BEIR folder: queries are the
question headings (those ending in "?"), the corpus is every section of every package (answers to other questions
and non-question sections are the distractors), and each question's one relevant document is its own section.
A package that cannot be had is skipped and named.

The sources shipped as ``faq-en`` are held out of all training (R-FAQ, cryptsetup's FAQ, Privoxy's FAQ).
"""

from __future__ import annotations

import argparse
import gzip
import html
import logging
import re
import subprocess
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from recallrank.datasets.beir import RetrievalSet, save_beir

log = logging.getLogger(__name__)

#: package -> files (relative to the unpacked root) holding its FAQ
HELD_OUT_SOURCES: dict[str, tuple[str, ...]] = {
    "r-doc-html": ("usr/share/doc/r-doc-html/manual/R-FAQ.html",),
    "cryptsetup": ("usr/share/doc/cryptsetup/FAQ.md.gz",),
    "privoxy": tuple(f"usr/share/doc/privoxy/faq/{n}.html"
                     for n in ("general", "installation", "configuration", "misc", "trouble")),
}
_NUMBER = re.compile(r"^\s*(?:[A-Z]?\d+(?:\.\d+)*\.?|[A-Z]\.)\s+")
MAX_ANSWER_CHARS = 2000


class _Sections(HTMLParser):
    """(heading, text) for every h2-h4 heading of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[tuple[str, list[str]]] = []
        self._in_heading = False
        self._heading: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("h2", "h3", "h4"):
            self._in_heading, self._heading = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("h2", "h3", "h4") and self._in_heading:
            self._in_heading = False
            self.sections.append((" ".join("".join(self._heading).split()), []))

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_heading:
            self._heading.append(data)
        elif self.sections:
            self.sections[-1][1].append(data)


def clean(text: str) -> str:
    return " ".join(html.unescape(text).split())


def html_sections(text: str) -> Iterator[tuple[str, str]]:
    parser = _Sections()
    parser.feed(text)
    for heading, body in parser.sections:
        yield _NUMBER.sub("", heading).strip(), clean(" ".join(body))


def markdown_sections(text: str) -> Iterator[tuple[str, str]]:
    """cryptsetup's FAQ.md: ``  * **2.3 How do I set up encrypted swap?**`` headings."""
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^\s*\*\s+\*\*(.+?)\*\*\s*$", line)
        if m:
            if heading is not None:
                yield heading, clean(" ".join(body))
            heading, body = _NUMBER.sub("", m.group(1)).strip(), []
        elif heading is not None:
            body.append(line)
    if heading is not None:
        yield heading, clean(" ".join(body))


def package_sections(root: Path, package: str, files: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for rel in files:
        path = root / rel
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        yield from (markdown_sections(text) if ".md" in path.suffixes else html_sections(text))


def fetch(packages: list[str], dest: Path) -> dict[str, Path]:
    """Unpack each package under ``dest/<package>``; packages apt cannot get are skipped (logged)."""
    got = {}
    for pkg in packages:
        work = dest / pkg
        work.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["apt-get", "download", pkg], cwd=work, check=True, capture_output=True, timeout=300)
            deb = next(work.glob("*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True, capture_output=True)
        except (OSError, subprocess.SubprocessError, StopIteration) as exc:
            log.warning("skipped %s: %s", pkg, exc)
            continue
        got[pkg] = work / "root"
    return got


def build_faq_set(roots: dict[str, Path], sources: dict[str, tuple[str, ...]], name: str,
                  min_answer_chars: int = 40) -> RetrievalSet:
    ds = RetrievalSet(corpus={}, queries={}, qrels={}, name=name)
    for pkg, root in roots.items():
        for i, (heading, body) in enumerate(package_sections(root, pkg, sources[pkg])):
            if len(body) < min_answer_chars:
                continue
            doc_id = f"{pkg}:{i}"
            ds.corpus[doc_id] = body[:MAX_ANSWER_CHARS]
            if heading.endswith("?") and len(heading) > 10:
                ds.queries[f"q:{doc_id}"] = heading
                ds.qrels[f"q:{doc_id}"] = {doc_id: 1}
    return ds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the BEIR folder goes (OUT/faq-en/test)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="recallrank-faq-") as tmp:
        roots = fetch(list(HELD_OUT_SOURCES), Path(tmp))
        ds = build_faq_set(roots, HELD_OUT_SOURCES, "faq-en-test")
        save_beir(ds, args.out / "faq-en" / "test", split="test")
    log.info("faq-en test: %s from %s", ds.stats(), sorted(roots))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
