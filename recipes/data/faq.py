"""Real FAQ questions from Debian documentation packages: question heading -> its answer section.

``python -m recipes.data.faq --out DIR [--train-dir DIR]`` downloads the packages with
``apt-get download`` into a temporary folder, unpacks them with ``dpkg-deb -x`` there (nothing is installed), and
writes a BEIR folder: queries are the question headings (those ending in "?"), the corpus is every section of every
package (answers to other questions and non-question sections are the distractors), and each question's one
relevant document is its own section. A package that cannot be had is skipped and named.

The sources shipped as ``faq-en`` are held out of all training (R-FAQ, cryptsetup's FAQ, Privoxy's FAQ), and so
is ``gnome-help-zh``: the Chinese GNOME Help, page title -> page.
``--train-dir DIR`` also writes the pairs training may use, one JSON object per line with the package (and
chapter) it came from as ``group``: ``faq-en.jsonl`` (question -> answer, :data:`TRAIN_SOURCES`),
``headings-en.jsonl`` and ``headings-zh.jsonl`` (section heading -> section text, :data:`HEADING_SOURCES`) and
``catalogs-en-zh.jsonl`` (English message -> its zh_CN translation, :data:`CATALOG_SOURCES`). The
packages in :data:`DEV_SOURCES` are kept out of training and written as dev splits (``faq-en/dev``,
``headings-zh/dev``) for choosing fusion weights.
"""

from __future__ import annotations

import argparse
import gzip
import html
import logging
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

from recallrank.datasets.beir import RetrievalSet, save_beir
from recipes.data.build import write_pairs
from recipes.data.pairs import Pair

log = logging.getLogger(__name__)

#: package -> files (relative to the unpacked root) holding its FAQ
HELD_OUT_SOURCES: dict[str, tuple[str, ...]] = {
    "r-doc-html": ("usr/share/doc/r-doc-html/manual/R-FAQ.html",),
    "cryptsetup": ("usr/share/doc/cryptsetup/FAQ.md.gz",),
    "privoxy": tuple(f"usr/share/doc/privoxy/faq/{n}.html"
                     for n in ("general", "installation", "configuration", "misc", "trouble")),
}
#: English FAQs training may use: package -> (file patterns under the unpacked root, format)
TRAIN_SOURCES: dict[str, tuple[tuple[str, ...], str]] = {
    "perl-doc": (("usr/share/perl/*/pod/perlfaq[1-9].pod", "usr/share/perl/*/pod/perlunifaq.pod"), "pod"),
    "libcurl4-doc": (("usr/share/doc/libcurl4/FAQ.gz",), "text"),
    "fetchmail": (("usr/share/doc/fetchmail/fetchmail-FAQ.html",), "html"),
    "mc-data": (("usr/share/doc/mc-data/FAQ.gz",), "text"),
    "ffmpeg-doc": (("usr/share/doc/ffmpeg/manual/faq.html",), "html"),
    "chrony": (("usr/share/doc/chrony/FAQ.gz",), "text"),
    "docutils-doc": (("usr/share/doc/docutils-doc/FAQ.html",), "html"),
    "harden-doc": (("usr/share/doc/harden-doc/html/en-US/*.html",), "html"),
    "python-sqlalchemy-doc": (("usr/share/doc/python-sqlalchemy-doc/html/faq/*.html",), "html"),
    "graphviz-doc": (("usr/share/doc/graphviz/html/FAQ.html",), "bold-q"),
    "nano": (("usr/share/doc/nano/faq.html",), "html"),
    "fish-common": (("usr/share/doc/fish/faq.html",), "html"),
    "xz-utils": (("usr/share/doc/xz-utils/faq.txt.gz",), "text"),
    "irssi": (("usr/share/doc/irssi/faq.html",), "html"),
}
#: section heading -> section text: language -> package -> file patterns (generated HTML)
HEADING_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"debian-handbook": ("usr/share/doc/debian-handbook/html/en-US/*.html",)},
    "zh": {"debian-handbook": ("usr/share/doc/debian-handbook/html/zh-CN/*.html",),
           "harden-doc": ("usr/share/doc/harden-doc/html/zh-CN/*.html",),
           "debian-reference-zh-cn": ("usr/share/debian-reference/*.zh-cn.html",)},
}
#: zh_CN gettext catalogs (English msgid -> Chinese msgstr), for aligning the two languages
CATALOG_SOURCES: dict[str, str] = {pkg: "usr/share/locale/zh_CN/LC_MESSAGES/*.mo"
                                   for pkg in ("nano", "mc-data", "fish-common", "xz-utils")}
_NUMBER = re.compile(r"^\s*(?:Q[:.]\s*|[A-Z]?\d+(?:\.\d+)*\.?\s+|[A-Z]\.\s+)")
#: what documentation generators append to headings: pilcrows, "#", "TOC" links
_HEADING_TAIL = re.compile(r"(?:\s*(?:¶|#|TOC))+\s*$")
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


def heading_text(heading: str) -> str:
    """A heading without its number ("2.3 ", "Q: ") or the link glyphs a generator appended ("¶", "# TOC")."""
    return _NUMBER.sub("", _HEADING_TAIL.sub("", heading)).strip()


def html_sections(text: str) -> Iterator[tuple[str, str]]:
    parser = _Sections()
    parser.feed(text)
    for heading, body in parser.sections:
        yield heading_text(heading), clean(" ".join(body))


def _line_sections(text: str, heading_of: Callable[[str], str | None], body_of: Callable[[str], str | None]
                   ) -> Iterator[tuple[str, str]]:
    """(heading, body) of a line-based document: a line ``heading_of`` names starts a section; the lines after
    it that ``body_of`` keeps are its body."""
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        found = heading_of(line)
        if found is not None:
            if heading is not None:
                yield heading, clean(" ".join(body))
            heading, body = found, []
        elif heading is not None and (kept := body_of(line)) is not None:
            body.append(kept)
    if heading is not None:
        yield heading, clean(" ".join(body))


def pod_sections(text: str) -> Iterator[tuple[str, str]]:
    """Perl POD: every ``=headN`` with the paragraphs under it (POD commands and markup letters dropped)."""
    def heading_of(line: str) -> str | None:
        m = re.match(r"^=head[1-4]\s+(.*)", line)
        return heading_text(_pod_markup(m.group(1))) if m else None

    return _line_sections(text, heading_of, lambda line: None if line.startswith("=") else _pod_markup(line))


def _pod_markup(text: str) -> str:
    text = re.sub(r"X<+[^<>]*>+", "", text)  # index entries are not text
    text = re.sub(r"[A-Z]<<+\s+(.+?)\s+>>+", r"\1", text)  # B<< <$fh> >>: may hold angle brackets
    return re.sub(r"[A-Z]<([^<>]*)>", r"\1", text)


def text_sections(text: str) -> Iterator[tuple[str, str]]:
    """Plain-text FAQs: a question is a short line ending in "?" at most 4 spaces in (numbered, "Q:", "=="
    or "#" headings included); its answer runs to the next question."""
    def heading_of(line: str) -> str | None:
        bare = heading_text(line.strip().strip("=#* "))
        question = bare.endswith("?") and 10 < len(bare) < 160 and len(line) - len(line.lstrip()) <= 4
        return bare if question else None

    return _line_sections(text, heading_of,
                          lambda line: None if re.fullmatch(r"[\s=\-#*~^]*", line) else line.strip())


def markdown_sections(text: str) -> Iterator[tuple[str, str]]:
    """cryptsetup's FAQ.md: ``  * **2.3 How do I set up encrypted swap?**`` headings."""
    def heading_of(line: str) -> str | None:
        m = re.match(r"^\s*\*\s+\*\*(.+?)\*\*\s*$", line)
        return _NUMBER.sub("", m.group(1)).strip() if m else None

    return _line_sections(text, heading_of, lambda line: line)


def bold_q_sections(text: str) -> Iterator[tuple[str, str]]:
    """HTML FAQs whose questions are bold paragraphs, ``<B>Q3</A>. How ...?</B>`` (Graphviz's)."""
    tag = re.compile(r"<[^>]+>")
    for part in re.split(r"<B>\s*Q\d+", text, flags=re.IGNORECASE)[1:]:
        end = re.search(r"</B>", part, re.IGNORECASE)
        question, answer = (part[:end.start()], part[end.end():]) if end else (part, "")
        yield heading_text(clean(tag.sub(" ", question)).lstrip(". ")), clean(tag.sub(" ", answer))


PARSERS = {"html": html_sections, "pod": pod_sections, "text": text_sections, "markdown": markdown_sections,
           "bold-q": bold_q_sections}


def package_sections(root: Path, package: str, files: tuple[str, ...], kind: str | None = None
                     ) -> Iterator[tuple[str, str]]:
    """Sections of the files (glob patterns) of one unpacked package, in file order."""
    for pattern in files:
        for path in sorted(root.glob(pattern)):
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            text = raw.decode("utf-8", errors="replace")
            parse = PARSERS[kind] if kind is not None else (
                markdown_sections if ".md" in path.suffixes else html_sections)
            yield from parse(text)


def train_pairs(roots: dict[str, Path], sources: dict[str, tuple[tuple[str, ...], str]] | None = None,
                min_answer_chars: int = 40) -> list[Pair]:
    """Question -> answer pairs of the training FAQs, ``group`` = the package (deduplicated by question)."""
    sources = sources if sources is not None else TRAIN_SOURCES
    out: dict[tuple[str, str], Pair] = {}
    for pkg, root in roots.items():
        files, kind = sources[pkg]
        for i, (heading, body) in enumerate(package_sections(root, pkg, files, kind)):
            if heading.endswith("?") and len(heading) > 10 and len(body) >= min_answer_chars:
                out.setdefault((pkg, heading.lower()), Pair(f"{pkg}:{i}", heading, body[:MAX_ANSWER_CHARS], pkg))
    return list(out.values())


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


_CJK = re.compile(r"[\u3400-\u9fff]")


def heading_pairs(roots: dict[str, Path], sources: dict[str, tuple[str, ...]], min_text_chars: int = 120,
                  chinese: bool = False) -> list[Pair]:
    """Section heading -> section text of generated HTML manuals; ``group`` = package/chapter file, so a chapter
    never straddles splits. Very short headings and near-empty sections are left out; with ``chinese``, so are
    sections the translation left in English (heading without a CJK character, or text with fewer than 40)."""
    out: dict[tuple[str, str], Pair] = {}
    for pkg, root in roots.items():
        for pattern in sources.get(pkg, ()):
            for path in sorted(root.glob(pattern)):
                text = path.read_text(encoding="utf-8", errors="replace")
                for i, (heading, body) in enumerate(html_sections(text)):
                    if chinese and (not _CJK.search(heading) or len(_CJK.findall(body)) < 40):
                        continue
                    # a Chinese character carries about as much as two Latin ones
                    if len(heading) >= (2 if chinese else 4) and len(body) >= min_text_chars // (2 if chinese else 1):
                        out.setdefault((pkg, heading.lower()), Pair(f"{pkg}/{path.stem}:{i}", heading,
                                                                    body[:MAX_ANSWER_CHARS], f"{pkg}/{path.stem}"))
    return list(out.values())


def catalog_pairs(roots: dict[str, Path], sources: dict[str, str] | None = None, min_chars: int = 12) -> list[Pair]:
    """English -> Chinese message pairs of zh_CN gettext catalogs (``.mo``); format strings, messages with a
    context and short ones are left out."""
    import gettext

    sources = sources if sources is not None else CATALOG_SOURCES
    out: dict[str, Pair] = {}
    for pkg, root in roots.items():
        if pkg not in sources:
            continue
        for path in sorted(root.glob(sources[pkg])):
            with path.open("rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
            for i, (msgid, msgstr) in enumerate(catalog.items()):
                if not isinstance(msgid, str) or not isinstance(msgstr, str) or not msgid:
                    continue
                en, zh = clean(msgid), clean(msgstr)
                if "\x04" in msgid or "|" in en:  # msgctxt, or mc's "Context|text" convention
                    continue
                if len(en) >= min_chars and _CJK.search(zh) and "%" not in en and en not in out:
                    out[en] = Pair(f"{pkg}/{path.stem}:{i}", en, zh, f"{pkg}/{path.stem}")
    return list(out.values())


#: Chinese held-out set: GNOME Help in Chinese (page title -> page), never trained on
#: training-source packages kept out of training as dev sets (choosing fusion weights): training file -> packages
DEV_SOURCES: dict[str, tuple[str, ...]] = {"faq-en": ("harden-doc", "chrony"), "headings-zh": ("harden-doc",)}


def is_dev(file: str, pair: Pair) -> bool:
    return pair.group.split("/")[0].split(":")[0] in DEV_SOURCES.get(file, ())


def dev_set(pairs: list[Pair], file: str) -> RetrievalSet:
    """The dev pairs' questions over every section of the training file (the others are distractors)."""
    ds = RetrievalSet(corpus={p.key: p.text for p in pairs}, queries={}, qrels={}, name=f"{file}-dev")
    for p in pairs:
        if is_dev(file, p):
            ds.queries[f"q:{p.key}"] = p.query
            ds.qrels[f"q:{p.key}"] = {p.key: 1}
    return ds


GNOME_HELP_ZH = ("gnome-user-docs", "usr/share/help/zh_CN/gnome-help/*.page")


def mallard_page(text: str) -> tuple[str, str, str] | None:
    """(title, desc, body text) of a Mallard help page, or ``None`` when it is not one."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    ns = "{http://projectmallard.org/1.0/}"
    title = root.find(f"{ns}title")
    info = root.find(f"{ns}info")
    desc = info.find(f"{ns}desc") if info is not None else None
    skip = {id(e) for e in (title, info) if e is not None}
    parts = [" ".join(child.itertext()) for child in root if id(child) not in skip]
    return (clean(" ".join(title.itertext())) if title is not None else "",
            clean(" ".join(desc.itertext())) if desc is not None else "", clean(" ".join(parts)))


def gnome_help_set(root: Path, name: str = "gnome-help-zh-test", min_cjk: int = 40) -> RetrievalSet:
    """Page title -> page text of the Chinese GNOME Help; pages mostly left in English are left out."""
    ds = RetrievalSet(corpus={}, queries={}, qrels={}, name=name)
    seen: set[str] = set()
    for path in sorted(root.glob(GNOME_HELP_ZH[1])):
        page = mallard_page(path.read_text(encoding="utf-8", errors="replace"))
        if page is None:
            continue
        title, _, body = page
        if len(_CJK.findall(body)) < min_cjk or not _CJK.search(title) or title in seen:
            continue
        seen.add(title)
        ds.corpus[path.stem] = body[:MAX_ANSWER_CHARS]
        ds.queries[f"q:{path.stem}"] = title
        ds.qrels[f"q:{path.stem}"] = {path.stem: 1}
    return ds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the BEIR folder goes (OUT/faq-en/test)")
    parser.add_argument("--train-dir", type=Path, default=None,
                        help="also write the training pairs (faq-en, headings-en, headings-zh .jsonl) to this folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="recallrank-faq-") as tmp:
        roots = fetch(list(HELD_OUT_SOURCES), Path(tmp))
        ds = build_faq_set(roots, HELD_OUT_SOURCES, "faq-en-test")
        save_beir(ds, args.out / "faq-en" / "test", split="test")
        log.info("faq-en test: %s from %s", ds.stats(), sorted(roots))
        gnome = fetch([GNOME_HELP_ZH[0]], Path(tmp) / "zh")
        if gnome:
            zh = gnome_help_set(gnome[GNOME_HELP_ZH[0]])
            save_beir(zh, args.out / "gnome-help-zh" / "test", split="test")
            log.info("gnome-help-zh test: %s", zh.stats())
        if args.train_dir is not None:
            wanted = sorted(set(TRAIN_SOURCES) | {p for langs in HEADING_SOURCES.values() for p in langs}
                            | set(CATALOG_SOURCES))
            roots = fetch(wanted, Path(tmp) / "train")
            sets = {"faq-en": train_pairs({k: v for k, v in roots.items() if k in TRAIN_SOURCES})}
            for lang, sources in HEADING_SOURCES.items():
                sets[f"headings-{lang}"] = heading_pairs({k: v for k, v in roots.items() if k in sources}, sources,
                                                         chinese=lang == "zh")
            sets["catalogs-en-zh"] = catalog_pairs(roots)
            for name, pairs in sets.items():
                write_pairs(pairs, args.train_dir / f"{name}.jsonl")  # creates the folder
                if name in DEV_SOURCES:
                    save_beir(dev_set(pairs, name), args.out / name / "dev", split="dev")
                by_package = sorted({p.group.split("/")[0] for p in pairs})
                log.info("%s: %d pairs from %s", name, len(pairs), by_package)
            log.info("packages apt could not get: %s", sorted(set(wanted) - set(roots)) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
