"""A held-out long-document retrieval set: real FAQ questions over whole FAQ files and chapters.

``python -m recipes.data.long_documents --out DIR [--cache DIR]`` downloads the packages below with ``apt-get
download`` (:func:`recipes.data.faq.fetch`: unpacked with ``dpkg-deb -x`` in a temporary folder, nothing is
installed) and writes the BEIR folder ``DIR/long-docs-en/test`` (``corpus.jsonl``, ``queries.jsonl``,
``qrels/test.tsv``) plus ``answers.jsonl``: one line per query, ``{"query_id", "doc_id", "start", "end"}``, the
character span of its answer section inside the stored document text, for passage-level checks. A package that
cannot be had is skipped and named; ``--cache DIR`` keeps the unpacked packages between runs.

It measures document-level retrieval when documents are far longer than a model's 256-token window (about 1,000
characters):

- a document (unit) is a whole FAQ file or one chapter of it (an R-FAQ chapter, a top-level section of the
  cryptsetup FAQ, one Privoxy FAQ page, one SECTION of the Vim FAQ, ...), or a whole long document without
  questions (English man pages of sections 5 and 7, HOWTOs) as a distractor. Only units of at least
  :data:`MIN_UNIT_CHARS` characters are kept, each cut at :data:`MAX_UNIT_CHARS`;
- every question heading (a heading, a bold or ``<dt>`` question paragraph, a numbered ``Q:`` line, ... ending in
  "?") is removed from its unit, answers are kept, so a question is never matched by its own copy; table-of-contents
  lines that repeat a question are removed too, and a question whose text still occurs in any unit is dropped;
- a query is a question whose answer starts past the first :data:`MIN_ANSWER_START` characters of its unit, at
  most :data:`MAX_QUERIES_PER_UNIT` per unit and :data:`MAX_QUERIES_PER_PACKAGE` per package (each spread evenly
  over the document, so no FAQ dominates); its one relevant document is its unit (score 1, split ``test``).
  Questions asked in two units, with fewer than three words or naming nothing ("Who wrote this?") are left out.
  FAQ units whose questions all start early stay in the corpus as distractors.

Held out: every package below is absent from every training and dev source of :mod:`recipes.data` (``faq``'s
``TRAIN_SOURCES``, ``HEADING_SOURCES``, ``CATALOG_SOURCES``, ``DEV_SOURCES``; ``keywords``' ``SOURCES``, all splits;
``dictd``'s dictionaries; ``debian``'s package descriptions and ``docstrings``' Python sources name no package)
and from the Data tables of ``models/*/README.md``; :func:`build` checks the first against
:func:`excluded_packages`. Debian's English package descriptions, a training domain, describe each package in a
sentence or two; no FAQ or manual text. ``mandoc`` is only the renderer of the man pages (its own text is not used).

=====================  =============================================  ===========================================
package                used                                           why it is held out
=====================  =============================================  ===========================================
r-doc-html             R-FAQ, one unit per chapter                    faq-en test source (never trained on)
cryptsetup             FAQ.md, one unit per top-level section         faq-en test source (never trained on)
privoxy                the FAQ pages, one unit each                   faq-en test source (never trained on)
zsh-doc                the zsh FAQ, one unit per chapter (FAQ0n)      named by no training or dev source
git-doc                gitfaq; the howto/ texts (distractors)         idem (git-man's gitfaq.7 is no keywords page)
sqlite3-doc            faq.html; long articles (distractors)          idem
mksh                   FAQ.htm                                        idem
borgbackup-doc         the FAQ page                                   idem
putty-doc              Appendix A, the PuTTY FAQ                      idem
debian-faq             the Debian FAQ, one unit per chapter           idem (debian-handbook, a training source, is
                                                                      another text on the same subject)
xterm                  the xterm FAQ (HTML), one unit per part        idem
vim-doc                the Vim FAQ, one unit per SECTION              idem
sed                    the sed FAQ, one unit per part                 idem
cvs                    the CVS FAQ, one unit per category             idem
rxvt-unicode           README.FAQ                                     idem
slrn                   FAQ                                            idem
mdadm                  FAQ                                            idem
dnsmasq-base           FAQ                                            idem
zlib1g-dev             FAQ                                            idem
procmail               FAQ                                            idem
ppp                    FAQ                                            idem
screen                 FAQ                                            idem
vsftpd                 FAQ                                            idem
sysstat                FAQ.md                                         idem
rkhunter               FAQ                                            idem
rdiff-backup           FAQ.adoc                                       idem
exim4-base             GnuTLS-FAQ                                     idem
dar-docs               FAQ.html; the mini-howto (distractor)          idem
mplayer-doc            the English FAQ                                idem
proftpd-doc            faq.html; the howto/ pages (distractors)       idem
smartmontools          badblockhowto.html (distractor)                idem
ncurses-doc            the NCURSES Programming HOWTO (distractor)     idem
manpages               sections 5 and 7, one page a unit (distractor) idem (manpages-zh, keywords-zh's source, is
                                                                      another package)
=====================  =============================================  ===========================================

Tried and not used: ``bash``/``bash-doc`` and ``openssh-client`` ship no FAQ in bookworm, ``gnupg``'s FAQ is a
pointer to the web, ``tmux``, ``squid-common`` and ``samba`` ship none (``samba-doc`` is not in the archive);
``python3-doc`` (its FAQ) is left out because Python docstrings are a training domain.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import statistics
import tempfile
import textwrap
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TypeVar

from recallrank.datasets.beir import RetrievalSet, save_beir
from recipes.data import dictd, faq, keywords

log = logging.getLogger(__name__)

MIN_UNIT_CHARS = 4000
MAX_UNIT_CHARS = 200_000
MIN_ANSWER_START = 2000
MIN_ANSWER_CHARS = 40
MAX_QUERIES_PER_UNIT = 25
MAX_QUERIES_PER_PACKAGE = 60
NAME = "long-docs-en"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Source:
    """Files of one package read one way.

    ``fmt``: ``html``, ``text`` or ``man`` (rendered with mandoc). ``asks``: whether its question headings are
    queries (and removed from the text); a distractor source keeps its text whole. For ``text``, ``question`` is the
    regular expression a paragraph's first line matches when it opens a section (a question when that line, or the
    line it wraps onto, ends in "?"). ``chapter`` is the regular expression of the line (text) or heading text
    (html, headings ``h1``..``h<chapter_level>``) that starts a new unit; without one a file is one unit.
    ``heading`` (text): the line of a section heading that is neither (it ends the answer before it).
    """

    files: tuple[str, ...]
    fmt: str
    asks: bool = True
    question: str | None = None
    chapter: str | None = None
    chapter_level: int = 2
    heading: str | None = None


def _faq(*files: str, fmt: str, question: str | None = None, chapter: str | None = None, chapter_level: int = 2,
         heading: str | None = None) -> Source:
    return Source(files, fmt, True, question, chapter, chapter_level, heading)


def _docs(fmt: str, *files: str) -> Source:
    return Source(files, fmt, asks=False)


_DEBIAN_FAQ = tuple(f"usr/share/doc/debian/FAQ/{c}.en.html" for c in (
    "basic-defs", "getting-debian", "choosing", "compatibility", "software", "ftparchives", "pkg-basics", "pkgtools",
    "uptodate", "kernel", "customizing", "support", "contributing", "redistributing", "nextrelease"))
_SQLITE_ARTICLES = tuple(f"usr/share/doc/sqlite3/{n}.html" for n in (
    "howtocorrupt", "atomiccommit", "lockingv3", "wal", "fileformat2", "queryplanner", "optoverview", "lang_select",
    "datatype3", "isolation", "testing", "whentouse"))

#: package -> its sources
SOURCES: dict[str, tuple[Source, ...]] = {
    "r-doc-html": (_faq(*faq.HELD_OUT_SOURCES["r-doc-html"], fmt="html", chapter=r"\d+ "),),
    "cryptsetup": (_faq(*faq.HELD_OUT_SOURCES["cryptsetup"], fmt="text", question=r"\s*\*\s+\*\*",
                        chapter=r"# (?:\d+|[A-Z])\. "),),
    "privoxy": (_faq(*faq.HELD_OUT_SOURCES["privoxy"], fmt="html"),),
    "zsh-doc": (_faq("usr/share/doc/zsh-common/html/FAQ0[1-9].html", fmt="html"),),
    "git-doc": (_faq("usr/share/doc/git-doc/gitfaq.html", fmt="html"),
                _docs("text", "usr/share/doc/git-doc/howto/*.txt")),
    "sqlite3-doc": (_faq("usr/share/doc/sqlite3/faq.html", fmt="html"), _docs("html", *_SQLITE_ARTICLES)),
    "mksh": (_faq("usr/share/doc/mksh/FAQ.htm", fmt="html"),),
    "borgbackup-doc": (_faq("usr/share/doc/borgbackup/html/faq.html", fmt="html"),),
    "putty-doc": (_faq("usr/share/doc/putty-doc/AppendixA.html", fmt="html"),),
    "debian-faq": (_faq(*_DEBIAN_FAQ, fmt="html"),),
    "xterm": (_faq("usr/share/doc/xterm/xterm.faq.html", fmt="html", chapter=r".", chapter_level=2),),
    "vim-doc": (_faq("usr/share/doc/vim/FAQ.gz", fmt="text", question=r"\d+\.\d+\.\s", chapter=r"SECTION \d+ - "),),
    "sed": (_faq("usr/share/doc/sed/sedfaq.txt.gz", fmt="text", question=r"\d+(?:\.\d+)+\.\s",
                 chapter=r"\d+\. [A-Z]"),),
    "cvs": (_faq("usr/share/doc/cvs/FAQ.gz", fmt="text", question=r" {4}\d+\. ", chapter=r" {2}Category: /"),),
    "rxvt-unicode": (_faq("usr/share/doc/rxvt-unicode/README.FAQ.gz", fmt="text", question=r" {3}\S",
                          heading=r" {0,2}\S"),),
    "slrn": (_faq("usr/share/doc/slrn/FAQ.gz", fmt="text", question=r" {2}\d+\.\d+(?:\.\d+)?\.\s"),),
    "mdadm": (_faq("usr/share/doc/mdadm/FAQ.gz", fmt="text", question=r"\d+[a-z]?\.\s"),),
    "dnsmasq-base": (_faq("usr/share/doc/dnsmasq-base/FAQ.gz", fmt="text", question=r"Q:\s"),),
    "zlib1g-dev": (_faq("usr/share/doc/zlib1g-dev/FAQ.gz", fmt="text", question=r" ?\d+\.\s"),),
    "procmail": (_faq("usr/share/doc/procmail/FAQ", fmt="text", question=r"\d+\.\s"),),
    "ppp": (_faq("usr/share/doc/ppp/FAQ.gz", fmt="text", question=r"Q:\s"),),
    "screen": (_faq("usr/share/doc/screen/FAQ.gz", fmt="text", question=r"Q:\s"),),
    "vsftpd": (_faq("usr/share/doc/vsftpd/FAQ.gz", fmt="text", question=r"Q\)\s"),),
    "sysstat": (_faq("usr/share/doc/sysstat/FAQ.md.gz", fmt="text", question=r"\d+\.\d+\.(?:<a name=[^>]*></a>)?\s",
                     heading=r"#+ "),),
    "rkhunter": (_faq("usr/share/doc/rkhunter/FAQ.gz", fmt="text", question=r"\d+\.\d+\)\s", heading=r"\d+\. [A-Z]"),),
    "rdiff-backup": (_faq("usr/share/doc/rdiff-backup/FAQ.adoc.gz", fmt="text", question=r"==\s"),),
    "exim4-base": (_faq("usr/share/doc/exim4-base/GnuTLS-FAQ.txt.gz", fmt="text", question=r"\(\d+\):?\s"),),
    "dar-docs": (_faq("usr/share/doc/dar-docs/FAQ.html", fmt="html"),
                 _docs("html", "usr/share/doc/dar-docs/mini-howto/dar-differential-backup-mini-howto.en.html")),
    "mplayer-doc": (_faq("usr/share/doc/mplayer/HTML/en/faq.html", fmt="html"),),
    "proftpd-doc": (_faq("usr/share/doc/proftpd-doc/faq.html", fmt="html"),
                    _docs("html", "usr/share/doc/proftpd-doc/howto/*.html")),
    "smartmontools": (_docs("html", "usr/share/doc/smartmontools/badblockhowto.html"),),
    "ncurses-doc": (_docs("html", "usr/share/doc/ncurses-doc/html/NCURSES-Programming-HOWTO.html"),),
    "manpages": (_docs("man", "usr/share/man/man5/*.5.gz", "usr/share/man/man7/*.7.gz"),),
}
#: packages that are not sources of other sets but must stay out for their subject (Python docstrings are trained on)
DOMAIN_EXCLUDED = frozenset({"python3-doc", "python3.11-doc"})


def excluded_packages() -> set[str]:
    """Every package a training or dev source of :mod:`recipes.data` names, and every package of the keyword sets
    (all splits): none may feed this set. The faq-en test sources are held out of all training and may."""
    names = keywords.training_packages() - set(faq.HELD_OUT_SOURCES)
    names |= {pkg for split in keywords.SOURCES.values() for pkg in split}
    return names | set(dictd.PACKAGES.values()) | DOMAIN_EXCLUDED


# --- reading: every format becomes a list of blocks -----------------------------------------------------------------

@dataclass
class Block:
    """A paragraph (or heading) of a document. ``kind``: ``body``, ``heading`` or ``question``; ``level``: a
    heading's depth (``h2`` is 2, "2.2.1." is 3; question paragraphs that are no heading are 7), so an answer runs
    on over the deeper headings inside it; ``chapter``: it starts a new unit."""

    kind: str
    text: str
    chapter: bool = False
    level: int = 1


_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "dt", "dd", "pre", "tr", "td", "th", "table", "blockquote", "ul",
                         "ol", "dl", "hr", "section", "article", "header", "footer", "caption", "center", "form",
                         "address", "figure", "h1", "h2", "h3", "h4", "h5", "h6"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "col", "wbr", "input", "area", "base"})
_SKIP_TAGS = frozenset({"script", "style", "head", "nav"})
#: navigation and tables of contents: they repeat the questions
_SKIP_CLASSES = frozenset({"sphinxsidebar", "sphinxsidebarwrapper", "related", "navheader", "navfooter",
                           "navigation", "contents", "shortcontents", "footer", "header", "menu"})


class _Blocks(HTMLParser):
    """An HTML page as blocks: one per heading, paragraph, list item, table cell, ...; ``<pre>`` keeps its lines. A
    block records its heading level, whether all its text is bold, and whether it is a ``<dt>`` or a DocBook
    ``class="question"`` element (whose cells are held together as one block). Short blocks that are (nearly) all
    links to anchors are tables of contents and left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int, str, bool]] = []  # (text, heading level, shape, pre)
        self._parts: list[str] = []
        self._level = 0
        self._dt = False
        self._bold = 0
        self._link = 0
        self._chars = [0, 0, 0]  # bold, all, inside links to an anchor
        self._pre = 0
        self._skip: list[tuple[str, int]] = []  # (tag, nesting) of the element being skipped
        self._hold: list[str] = []  # tags of open question elements

    def _flush(self) -> None:
        raw = "".join(self._parts)
        if self._pre:
            text = textwrap.dedent("\n".join(line.rstrip() for line in raw.split("\n"))).strip("\n")
        else:
            text = " ".join(raw.split())
        toc_entry = not self._level and len(text) < 300 and self._chars[2] >= 0.8 * self._chars[1]
        if text.strip() and not toc_entry:
            shape = ("question" if self._hold else "dt" if self._dt
                     else "bold" if 0 < self._chars[1] == self._chars[0] else "")
            self.blocks.append((text, self._level, shape, bool(self._pre)))
        self._parts, self._level, self._dt, self._chars = [], 0, False, [0, 0, 0]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag == self._skip[-1][0]:
                self._skip[-1] = (tag, self._skip[-1][1] + 1)
            return
        classes = set((dict(attrs).get("class") or "").casefold().split())
        ident = (dict(attrs).get("id") or "").casefold()
        if tag in _SKIP_TAGS or (tag not in _VOID and (classes & _SKIP_CLASSES or ident in {"toc", "contents"}
                                                       or any(c.startswith("toc") for c in classes))):
            self._skip.append((tag, 1))
            return
        if tag in _BLOCK_TAGS and not self._hold:
            self._flush()
        if "question" in classes and tag not in _VOID:
            self._hold.append(tag)
        if tag in ("b", "strong"):
            self._bold += 1
        elif tag == "a" and "#" in (dict(attrs).get("href") or ""):
            self._link += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "dt":
            self._dt = True
        elif re.fullmatch(r"h[1-6]", tag):
            self._level = int(tag[1])

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            name, depth = self._skip[-1]
            if tag == name:
                self._skip[-1] = (name, depth - 1)
                if depth == 1:
                    self._skip.pop()
            return
        if tag in ("b", "strong"):
            self._bold = max(0, self._bold - 1)
        elif tag == "a":
            self._link = max(0, self._link - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if self._hold and tag == self._hold[-1]:
            if len(self._hold) == 1:
                self._flush()
            self._hold.pop()
        elif tag in _BLOCK_TAGS and not self._hold:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._parts.append(data)
        n = len(data.strip())
        self._chars[1] += n
        if self._bold:
            self._chars[0] += n
        if self._link:
            self._chars[2] += n


def html_blocks(text: str, source: Source) -> list[Block]:
    parser = _Blocks()
    parser.feed(text)
    parser.close()
    parser._flush()
    chapter = re.compile(source.chapter) if source.chapter else None
    out = []
    for body, level, shape, pre in parser.blocks:
        head = faq._HEADING_TAIL.sub("", body).strip() if (level or shape) and not pre else body
        if source.asks and (level or shape) and not pre and _is_question(head):
            kind = "question"
        else:  # a DocBook question that asks nothing ("I get this error.") still ends the answer before it
            kind = "heading" if level or shape == "question" else "body"
        starts = bool(level and chapter and level <= source.chapter_level and chapter.match(head))
        out.append(Block(kind, head if kind != "body" else body, starts, level or 7))
    return out


def _is_question(text: str) -> bool:
    return _asks(text) and 10 <= len(text) <= 300


def _asks(line: str) -> bool:
    """Whether a line ends in "?", markup after it (``**``, ``</a>``) aside."""
    return re.sub(r"(?:<[^>]*>|[\s*_=#`])+$", "", line).endswith("?")


_RULE = re.compile(r"[\s=\-#*~^_+.]*")


def text_blocks(text: str, source: Source) -> list[Block]:
    """A plain-text (or Markdown, AsciiDoc) FAQ as blocks: paragraphs are separated by blank lines; a paragraph
    whose first line matches ``source.question`` opens a section: a question when that line ends in "?" (or, when
    it fills the line, the line it wraps onto, up to three), a heading otherwise; the rest of the paragraph is body.
    Lines of only rule characters are dropped."""
    question = re.compile(source.question) if source.question and source.asks else None
    chapter = re.compile(source.chapter) if source.chapter else None
    heading = re.compile(source.heading) if source.heading else None
    out: list[Block] = []
    for para in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        lines = [line.rstrip() for line in para.split("\n") if not _RULE.fullmatch(line)]
        while lines:
            first = lines[0]
            if chapter and chapter.match(first):
                out.append(Block("heading", first.strip(), chapter=True, level=0))
                lines = lines[1:]
                continue
            if heading and heading.match(first):
                out.append(Block("heading", first.strip(), level=0))
                lines = lines[1:]
                continue
            if question and question.match(first):
                end = 0
                while (not _asks(lines[end]) and end < 2 and end + 1 < len(lines)
                       and len(lines[end]) >= 60 and lines[end + 1].strip()):
                    end += 1
                while end + 1 < min(len(lines), 4) and _asks(lines[end]) and _asks(lines[end + 1]):
                    end += 1  # "Why can't I match a newline?" / "Why can't I match 2 or more lines?"
                head = " ".join(" ".join(lines[: end + 1]).split())
                if _asks(lines[end]) and _is_question(head):
                    out.append(Block("question", head, level=_depth(first)))
                    lines = lines[end + 1:]
                else:
                    out.append(Block("heading", first.strip(), level=_depth(first)))
                    lines = lines[1:]
            if lines:
                out.append(Block("body", textwrap.dedent("\n".join(lines)).strip("\n")))
            break
    return out


def _depth(line: str) -> int:
    """How deep a numbered heading is ("2.2.1." is 3); 1 for an unnumbered one."""
    m = re.match(r"\W*(\d+(?:\.\d+)*)", line)
    return len(m.group(1).split(".")) if m else 1


def read_file(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


# --- units ------------------------------------------------------------------------------------------------------

_MARKER = re.compile(r"^(?:Q\s*[:.)]\s*|\(?[A-Z]?\d+[a-z]?(?:\.\d+[a-z]?)*[.):]*\s+|[A-Z](?:\.\d+)+[.:]?\s+)")


def question_text(raw: str) -> str:
    """The question as a user asks it: Markdown/AsciiDoc marks, links and the numbering ("2.3.", "Q:", "(3)",
    "A.1.1", "[1.4.](#1_4)") taken off."""
    text = " ".join(raw.split())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<a name=[^>]*></a>", "", text)
    text = text.replace("**", "").replace("``", '"').replace("''", '"').strip("=#*_ ")
    text = faq.heading_text(text)
    previous = None
    while previous != text:
        previous, text = text, _MARKER.sub("", text).strip()
    return re.sub(r"\s+\?$", "?", text)


#: words that name nothing: a question made only of them ("What is it?", "What gives?") is not asked of a corpus
_VAGUE = frozenset({
    "what", "which", "where", "when", "why", "how", "who", "whom", "whose", "is", "are", "was", "were", "be", "been",
    "being", "do", "does", "did", "done", "doing", "the", "a", "an", "of", "to", "in", "on", "for", "it", "its",
    "this", "that", "these", "those", "there", "here", "i", "me", "my", "we", "you", "your", "he", "she", "they",
    "them", "their", "can", "could", "should", "would", "will", "shall", "may", "might", "must", "have", "has", "had",
    "not", "no", "yes", "so", "and", "or", "but", "if", "then", "else", "with", "about", "from", "into", "at", "by",
    "as", "any", "some", "all", "more", "less", "much", "many", "very", "just", "also", "too", "use", "used", "using",
    "get", "got", "give", "gives", "make", "made", "need", "needs", "know", "want", "go", "going", "other", "thing",
    "things", "way", "ok", "okay", "wrong", "happen", "happens", "mean", "means", "good", "bad", "work", "works",
    "now"
})


def vague(question: str) -> bool:
    """A question that names nothing, or at most one thing besides "this"/"it" ("Who wrote this?")."""
    words = norm(question).split()
    named = [w for w in words if w not in _VAGUE]
    return not named or (len(named) == 1 and bool({"this", "it", "these"} & set(words)))


def norm(text: str) -> str:
    """Case, punctuation and spacing folded, for finding copies of a question."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


@dataclass
class Unit:
    doc_id: str
    text: str
    #: (question, answer start, answer end) of every question heading removed from the text, in document order
    answers: list[tuple[str, int, int]] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:40] or "part"


def split_chapters(blocks: list[Block], base_id: str) -> list[tuple[str, list[Block]]]:
    """(id, blocks) of each unit: one per chapter when the source has chapters (what precedes the first is front
    matter and left out, and a leading table of contents that repeats the first chapter's heading with it), else
    the whole file."""
    starts = [i for i, b in enumerate(blocks) if b.chapter]
    if not starts:
        return [(base_id, blocks)]
    first = norm(blocks[starts[0]].text)
    starts = starts[max(i for i, s in enumerate(starts) if norm(blocks[s].text) == first):]
    out: list[tuple[str, list[Block]]] = []
    seen: dict[str, int] = {}
    for n, s in enumerate(starts):
        slug = _slug(question_text(blocks[s].text) if blocks[s].kind == "question" else blocks[s].text)
        seen[slug] = seen.get(slug, 0) + 1
        suffix = f"-{seen[slug]}" if seen[slug] > 1 else ""
        out.append((f"{base_id}#{slug}{suffix}", blocks[s: starts[n + 1] if n + 1 < len(starts) else len(blocks)]))
    return out


def _without_questions(lines: list[str], asked: set[str]) -> list[str]:
    """The lines less those that (alone, or wrapped over up to three lines) repeat a question: table of contents
    entries."""
    kept: list[str] = []
    i = 0
    while i < len(lines):
        span = next((k for k in (1, 2, 3) if i + k <= len(lines)
                     and norm(question_text(" ".join(lines[i:i + k]))) in asked), 0)
        if span:
            i += span
        else:
            kept.append(lines[i])
            i += 1
    return kept


def assemble(doc_id: str, blocks: list[Block], sep: str) -> Unit:
    """The unit's text without its question headings, and each question's answer span: from the block after it to
    the end of what follows up to the next question, or the next heading as high as the question. Body lines that
    repeat a question of the unit (a table of contents) are removed."""
    asked = {norm(question_text(b.text)) for b in blocks if b.kind == "question"}
    parts: list[Block] = []
    for b in blocks:
        if b.kind == "body" and asked:
            kept = _without_questions(b.text.split("\n"), asked)
            if "".join(kept).strip():
                parts.append(Block("body", "\n".join(kept)))
        else:
            parts.append(b)
    unit = Unit(doc_id, "")
    pieces: list[str] = []
    offset = 0
    open_q: tuple[str, int, int, int] | None = None  # (question, level, start, end) while its answer is read

    def close() -> None:
        if open_q is not None and open_q[3] > open_q[2]:
            unit.answers.append((open_q[0], open_q[2], open_q[3]))

    for b in parts:
        if b.kind == "question" or (b.kind == "heading" and (open_q is None or b.level <= open_q[1] or b.chapter)):
            close()
            open_q = (b.text, b.level, -1, -1) if b.kind == "question" else None
            if b.kind == "question":
                continue
        if pieces:
            pieces.append(sep)
            offset += len(sep)
        pieces.append(b.text)
        if open_q is not None:  # body, or a heading deeper than the question
            open_q = (open_q[0], open_q[1], offset if open_q[2] < 0 else open_q[2], offset + len(b.text))
        offset += len(b.text)
    close()
    unit.text = "".join(pieces)
    last = {norm(question_text(q)): i for i, (q, _, _) in enumerate(unit.answers)}
    # a question asked twice (a table of contents of question paragraphs first): the last one is the section
    unit.answers = [a for i, a in enumerate(unit.answers) if last[norm(question_text(a[0]))] == i]
    if len(unit.text) > MAX_UNIT_CHARS:
        unit.text = unit.text[:MAX_UNIT_CHARS]
        unit.answers = [(q, s, min(e, MAX_UNIT_CHARS)) for q, s, e in unit.answers if s < MAX_UNIT_CHARS]
    return unit


def source_units(root: Path, package: str, source: Source, mandoc: Path | None = None) -> list[Unit]:
    """Every unit of one source of an unpacked package, in file order (short ones included)."""
    units = []
    seen: set[Path] = set()
    for pattern in source.files:
        for path in sorted(root.glob(pattern)):
            # man page links are aliases; a documentation file may be a link into the package (r-doc-html's R-FAQ)
            if (path.is_symlink() and source.fmt == "man") or not path.is_file() or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            base_id = f"{package}/{path.name.removesuffix('.gz')}"
            if source.fmt == "man":
                if mandoc is None:
                    continue
                raw = read_file(path)
                if raw.lstrip().startswith(".so "):
                    continue
                blocks = html_blocks(keywords.render(mandoc, path), source)
            elif source.fmt == "html":
                blocks = html_blocks(read_file(path), source)
            else:
                blocks = text_blocks(read_file(path), source)
            sep = "\n\n" if source.fmt == "text" else "\n"
            for doc_id, part in split_chapters(blocks, base_id):
                units.append(assemble(doc_id, part, sep))
    return units


# --- the set ----------------------------------------------------------------------------------------------------

def _spread(items: list[_T], k: int) -> list[_T]:
    """``k`` items evenly spread over the list (its first and last included)."""
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def long_document_set(units: list[Unit], name: str = f"{NAME}-test"
                      ) -> tuple[RetrievalSet, list[dict[str, object]], dict[str, int]]:
    """The retrieval set, the answer spans (one dict per query) and the counts of questions left out, by reason."""
    units = sorted((u for u in units if len(u.text) >= MIN_UNIT_CHARS), key=lambda u: u.doc_id)
    normed = {u.doc_id: norm(u.text) for u in units}
    asked_in: dict[str, set[str]] = {}
    for u in units:
        for q, _, _ in u.answers:
            asked_in.setdefault(norm(question_text(q)), set()).add(u.doc_id)
    dropped = {"answer too early": 0, "answer too short": 0, "too few or vague words": 0, "asked in two units": 0,
               "copy in a unit": 0, "over the per-unit cap": 0, "over the per-package cap": 0}
    ds = RetrievalSet(corpus={}, queries={}, qrels={}, name=name)
    answers: list[dict[str, object]] = []
    by_package: dict[str, list[tuple[str, str, int, int, int]]] = {}  # (doc id, question, start, end, n)
    for u in units:
        ds.corpus[u.doc_id] = u.text
        eligible = []
        for n, (raw, start, end) in enumerate(u.answers):
            q = question_text(raw)
            key = norm(q)
            probe = key[:80]
            if start < MIN_ANSWER_START:
                dropped["answer too early"] += 1
            elif end - start < MIN_ANSWER_CHARS:
                dropped["answer too short"] += 1
            elif len(key.split()) < 3 or vague(q):
                dropped["too few or vague words"] += 1
            elif len(asked_in[key]) > 1:
                dropped["asked in two units"] += 1
            elif any(probe in text for text in normed.values()):
                dropped["copy in a unit"] += 1
            else:
                eligible.append((q, start, end, n))
        chosen = _spread(eligible, MAX_QUERIES_PER_UNIT)
        dropped["over the per-unit cap"] += len(eligible) - len(chosen)
        by_package.setdefault(u.doc_id.split("/")[0], []).extend((u.doc_id, *c) for c in chosen)
    for package_queries in by_package.values():
        kept = _spread(package_queries, MAX_QUERIES_PER_PACKAGE)
        dropped["over the per-package cap"] += len(package_queries) - len(kept)
        for doc_id, q, start, end, n in kept:
            qid = f"q:{doc_id}:{n}"
            ds.queries[qid] = q
            ds.qrels[qid] = {doc_id: 1}
            answers.append({"query_id": qid, "doc_id": doc_id, "start": start, "end": end})
    return ds, answers, dropped


def stats(ds: RetrievalSet, answers: list[dict[str, object]]) -> dict[str, object]:
    lengths = sorted(len(t) for t in ds.corpus.values())
    starts = [int(str(a["start"])) for a in answers]
    with_queries = {str(a["doc_id"]) for a in answers}
    return {
        "units": len(lengths), "units with queries": len(with_queries), "queries": len(ds.queries),
        "median unit chars": statistics.median(lengths) if lengths else 0,
        "mean unit chars": round(statistics.fmean(lengths)) if lengths else 0,
        "share of units over 8000 chars": round(sum(n > 8000 for n in lengths) / len(lengths), 3) if lengths else 0,
        "median answer start": statistics.median(starts) if starts else 0,
    }


def fetch_cached(packages: list[str], cache: Path) -> dict[str, Path]:
    """:func:`recipes.data.faq.fetch`, reusing what an earlier run unpacked under ``cache``."""
    roots = {p: cache / p / "root" for p in packages if (cache / p / "root").is_dir()}
    roots.update(faq.fetch([p for p in packages if p not in roots], cache))
    return roots


def build(out: Path, work: Path) -> dict[str, object]:
    used = excluded_packages() & set(SOURCES)
    if used:
        raise ValueError(f"{sorted(used)} are training, dev or keyword-set sources; this set must hold them out")
    wanted = sorted(SOURCES)
    roots = fetch_cached([*wanted, keywords.MANDOC[0]], work)
    mandoc = roots[keywords.MANDOC[0]] / keywords.MANDOC[1] if keywords.MANDOC[0] in roots else None
    if mandoc is None:
        log.warning("mandoc could not be downloaded: the man pages are left out")
    units: list[Unit] = []
    per_package: dict[str, int] = {}
    for pkg in wanted:
        if pkg not in roots:
            continue
        for source in SOURCES[pkg]:
            found = source_units(roots[pkg], pkg, source, mandoc)
            units += found
            per_package[pkg] = per_package.get(pkg, 0) + sum(len(u.text) >= MIN_UNIT_CHARS for u in found)
    ds, answers, dropped = long_document_set(units)
    folder = save_beir(ds, out / NAME / "test", split="test")
    with (folder / "answers.jsonl").open("w", encoding="utf-8") as fh:
        for a in answers:
            fh.write(json.dumps(a, ensure_ascii=False) + "\n")
    queries_per_package: dict[str, int] = {}
    for a in answers:
        pkg = str(a["doc_id"]).split("/")[0]
        queries_per_package[pkg] = queries_per_package.get(pkg, 0) + 1
    report: dict[str, object] = {
        **stats(ds, answers), "folder": str(folder),
        "units per package": per_package, "queries per package": dict(sorted(queries_per_package.items())),
        "questions left out": dropped,
        "packages apt could not get": sorted(set(wanted) - set(roots)),
    }
    missing = report["packages apt could not get"]
    if missing:
        log.warning("packages apt could not get (skipped): %s", missing)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help=f"where the BEIR folder goes (OUT/{NAME}/test)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="keep the downloaded, unpacked packages here and reuse them (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        report = build(args.out, args.cache)
    else:
        with tempfile.TemporaryDirectory(prefix="recallrank-longdocs-") as tmp:
            report = build(args.out, Path(tmp))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
