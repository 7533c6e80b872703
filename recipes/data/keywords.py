"""Keyword-shaped held-out sets from man pages: an option, environment variable, config key or error message ->
the paragraph that explains it.

``python -m recipes.data.keywords --out DIR`` downloads the packages below with ``apt-get download`` into a
temporary folder, unpacks them with ``dpkg-deb -x`` there (nothing is installed), renders their man pages with
``mandoc -Thtml`` (mandoc is fetched the same way; it reads both the man and the mdoc macros, so ``.TP``/``.IP``
entries and mdoc ``.It`` items alike come out as ``<dt>``/``<dd>``) and writes BEIR folders
``DIR/keywords-en/{test,dev}`` and ``DIR/keywords-zh/{test,dev}``. A package that cannot be had is skipped and named.

Every tagged list entry of a page (``.TP``, ``.IP tag``, ``.It``) whose explanation has at least 40 characters (a
Chinese character counts as two) is a document; its title is ``page(section): tag``, so the other entries of the same
page are the hard distractors. An entry is asked for in one of these shapes, picked by a hash of its id among those it
allows:

- option, bare (``--partial-dir``; long options only) or after its command (``rsync --partial-dir``, ``cp -n``,
  ``git commit --amend``);
- environment variable (``GIT_DIR``): an all-caps tag in an ENVIRONMENT (or VARIABLES, PARAMETERS) section;
- config key (``ForwardAgent``, ``max connections``, ``core.bare``): an identifier-shaped tag of a section-5 page or
  of ``git-config``;
- error message (``effective uid is not 0, is sudo installed setuid root?``): a tag of at least three words in a
  DIAGNOSTICS section.

A query text that more than one entry of the split answers (``--verbose``, or ``cp -v`` when two ``cp`` entries
name ``-v``) is dropped, so every query has exactly one relevant document. The Chinese set keeps the query in Latin
script (``cp --no-clobber``), as a user types it, over the Chinese explanation.

Held out: no package here is named by any training source (:mod:`recipes.data.faq`'s ``TRAIN_SOURCES``,
``HEADING_SOURCES``, ``CATALOG_SOURCES``, ``DEV_SOURCES``, :mod:`recipes.data.dictd`), nor by the other evaluation
sets; Chinese pages of commands that training packages ship (``perl``) are left out. (Debian's English package
descriptions, a training domain, describe every package, these included, in one or two sentences; no option text.)

- ``keywords-en/test``: rsync, sudo, tar, openssh-client, coreutils (cp, mv, ls, rm, ...), mandoc (its
  DIAGNOSTICS list of error messages), git-man (``git``, ``git-config`` and the everyday subcommands);
- ``keywords-en/dev``: wget, gzip, grep, findutils, less, openssh-server, make, man-db;
- ``keywords-zh/test`` and ``keywords-zh/dev``: manpages-zh (the zh_CN pages of sections 1, 5 and 8). It is the one
  Debian package with Chinese man pages, so dev is different upstream projects instead: the systemd, PostgreSQL
  and Samba pages are dev, everything else (coreutils, bash, util-linux, procps, ...) is test.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import subprocess
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from recallrank.datasets.beir import RetrievalSet, save_beir
from recipes.data import dictd, faq

log = logging.getLogger(__name__)

_GIT_COMMANDS = ("add", "bisect", "blame", "branch", "checkout", "cherry-pick", "clean", "clone", "commit", "config",
                 "diff", "fetch", "format-patch", "gc", "grep", "init", "log", "merge", "mv", "pull", "push", "rebase",
                 "reflog", "remote", "reset", "restore", "revert", "rm", "show", "stash", "status", "submodule",
                 "switch", "tag", "worktree")
_GIT_PAGES = ("usr/share/man/man1/git.1.gz", *(f"usr/share/man/man1/git-{c}.1.gz" for c in _GIT_COMMANDS))
_SUDO_PAGES = tuple(f"usr/share/man/{p}.gz" for p in ("man8/sudo.8", "man5/sudoers.5", "man8/visudo.8",
                                                    "man5/sudo.conf.5", "man8/sudoreplay.8", "man1/cvtsudoers.1"))
_SECTIONS_158 = ("usr/share/man/man1/*", "usr/share/man/man5/*", "usr/share/man/man8/*")
#: split -> package -> man page files (glob patterns under the unpacked package)
SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "keywords-en/test": {
        "rsync": _SECTIONS_158, "sudo": _SUDO_PAGES, "tar": _SECTIONS_158, "openssh-client": _SECTIONS_158,
        "coreutils": _SECTIONS_158, "mandoc": ("usr/share/man/man1/mandoc.1.gz",), "git-man": _GIT_PAGES,
    },
    "keywords-en/dev": {pkg: _SECTIONS_158 for pkg in (
        "wget", "gzip", "grep", "findutils", "less", "openssh-server", "make", "man-db")},
    "keywords-zh/test": {"manpages-zh": tuple(f"usr/share/man/zh_CN/man{s}/*" for s in "158")},
    "keywords-zh/dev": {"manpages-zh": tuple(f"usr/share/man/zh_CN/man{s}/*" for s in "158")},
}
#: Chinese dev pages (the rest of manpages-zh is test): systemd's and PostgreSQL's
_ZH_DEV_PAGE = re.compile(
    r"(systemd.*|journal.*|(journald|logind|networkd|resolved)\.conf(\.d)?|(hostname|locale|login|network|timedate"
    r"|system|boot|bus)ctl|nss-.*|machine-.*|os-release|binfmt\.d|modules-load\.d|sysctl\.d|vconsole\.conf"
    r"|locale\.conf"  # systemd
    r"|pg_.*|psql|postgres|postmaster|initdb|initlocation|ipcclean|(create|drop)(db|lang|user)|clusterdb|vacuumdb"
    r"|ecpg|pgtclsh|pgtksh"  # PostgreSQL
    r"|smb.*|nmb.*|testparm|testprns|wbinfo|findsmb|make_smbcodepage|lmhosts|swat)")  # Samba
#: Chinese man pages of commands that a training package ships: command -> that package
TRAINING_COMMANDS = {"perl": "perl-doc", "curl": "libcurl4-doc", "fetchmail": "fetchmail", "mc": "mc-data",
                     "ffmpeg": "ffmpeg-doc", "chronyc": "chrony", "chronyd": "chrony", "nano": "nano",
                     "fish": "fish-common", "xz": "xz-utils", "irssi": "irssi", "dot": "graphviz-doc"}
MANDOC = ("mandoc", "usr/bin/mandoc")
MIN_EXPLANATION = 40
SHAPES = ("error message", "env var", "config key", "bare option", "command + option")
MAX_CHARS = 1200
#: (queries, documents) at most per split
SIZES = {"keywords-en/test": 500, "keywords-en/dev": 300, "keywords-zh/test": 500, "keywords-zh/dev": 300}


def training_packages() -> set[str]:
    """Every package a training (or other evaluation) source of :mod:`recipes.data` names."""
    names = set(faq.TRAIN_SOURCES) | set(faq.CATALOG_SOURCES) | set(faq.HELD_OUT_SOURCES) | {faq.GNOME_HELP_ZH[0]}
    names |= {pkg for langs in faq.HEADING_SOURCES.values() for pkg in langs}
    names |= {pkg for pkgs in faq.DEV_SOURCES.values() for pkg in pkgs} | set(dictd.PACKAGES.values())
    return names | set(TRAINING_COMMANDS.values())


@dataclass(frozen=True)
class Entry:
    """One tagged list entry of a man page."""

    page: str
    section: str
    part: str
    heading: str
    text: str

    @property
    def title(self) -> str:
        return f"{self.page}({self.section}): {self.heading}"


_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-", "\u00a0": " "})


def _clean(text: str) -> str:
    return " ".join(text.translate(_DASHES).split())


@dataclass
class _Node:
    tag: str
    cls: str = ""
    children: list[_Node | str] = field(default_factory=list)


_VOID = frozenset({"br", "hr", "img", "meta", "link", "col", "wbr"})


class _Tree(HTMLParser):
    """mandoc's HTML fragment as a tree of :class:`_Node` (mandoc closes what it opens)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, dict(attrs).get("class") or "")
        self._stack[-1].children.append(node)
        if tag not in _VOID:
            self._stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, 0, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)


_BLOCKS = {"p", "br", "div", "pre", "li", "tr", "dt", "dd", "table"}


class _Walker:
    """Entries of a man page tree, in document order. Three shapes of entry:

    - ``<dt>``/``<dd>`` (``.TP``, ``.IP tag``, mdoc ``.It``); an untagged ``<dt>`` continues the entry before it;
    - a short ``<p>`` followed by an indented block (DocBook's ``.PP tag`` + ``.RS``: git, systemd);
    - in a DIAGNOSTICS section, a paragraph that opens with a bold line (mandoc's own message list).

    An entry's explanation leaves out the entries nested in it, which are entries of their own.
    """

    def __init__(self) -> None:
        self.part = ""
        self.entries: list[tuple[str, str, list[str]]] = []

    def walk(self, node: _Node, sink: list[str] | None) -> None:
        """Visit ``node``'s children; text outside nested entries goes to ``sink`` (the open entry's body)."""
        kids = node.children
        i = 0
        while i < len(kids):
            child = kids[i]
            if isinstance(child, str):
                if sink is not None:
                    sink.append(child)
            elif child.tag == "h1":
                self.part = _clean(_text(child))
            elif child.tag == "dl":
                self._list(child)
            elif child.tag == "p" and (indented := _indented_after(kids, i)) is not None:
                body: list[str] = []
                self.entries.append((self.part, _clean(_text(child)), body))
                self.walk(indented[1], body)
                i = indented[0]
            elif child.tag == "p" and "DIAGNOSTIC" in self.part.upper() and (opening := _bold_opening(child)):
                body = []
                self.entries.append((self.part, opening[0], body))
                self.walk(_Node("p", children=opening[1]), body)
            else:
                if sink is not None and child.tag in _BLOCKS:
                    sink.append(" ")
                self.walk(child, sink)
            i += 1

    def _list(self, dl: _Node) -> None:
        body: list[str] | None = None
        for item in dl.children:
            if isinstance(item, str):
                continue
            if item.tag == "dt":
                tag = _clean(_text(item))
                if tag or body is None:  # an untagged <dt> continues the entry before it
                    body = []
                    self.entries.append((self.part, tag, body))
            elif item.tag == "dd" and body is not None:
                body.append(" ")
                self.walk(item, body)


def _text(node: _Node | str) -> str:
    if isinstance(node, str):
        return node
    sep = " " if node.tag in _BLOCKS else ""
    return sep + "".join(_text(c) for c in node.children) + sep


def _indented_after(kids: list[_Node | str], i: int) -> tuple[int, _Node] | None:
    """(index, node) of the indented block (``div.Bd-indent``) right after the paragraph ``kids[i]`` when that paragraph
    reads as a tag: short, not a sentence ending in "." or ":", and only whitespace between the two."""
    text = _clean(_text(kids[i]))
    if not 0 < len(text) <= 120 or text.endswith((".", ":", "。", "：")):
        return None
    for j in range(i + 1, len(kids)):
        k = kids[j]
        if isinstance(k, str):
            if k.strip():
                return None
            continue
        return (j, k) if k.tag == "div" and "Bd-indent" in k.cls else None
    return None


def _bold_opening(p: _Node) -> tuple[str, list[_Node | str]] | None:
    """(bold first line, the rest) of ``<p><b>message</b><br/>explanation</p>``, else ``None``."""
    kids = [k for k in p.children if not (isinstance(k, _Node) and k.tag == "b" and not _text(k).strip())]
    for j, k in enumerate(kids):
        if isinstance(k, str) and not k.strip():
            continue
        if isinstance(k, _Node) and k.tag == "b":
            rest = kids[j + 1:]
            brk = next((n for n, r in enumerate(rest) if isinstance(r, _Node) and r.tag == "br"), None)
            if brk is not None and not "".join(_text(r) for r in rest[:brk]).strip():
                return _clean(_text(k)), rest[brk + 1:]
        return None
    return None


def page_entries(html_text: str, page: str, section: str) -> list[Entry]:
    tree = _Tree()
    tree.feed(html_text)
    walker = _Walker()
    walker.walk(tree.root, None)
    out = []
    for part, heading, body in walker.entries:
        text = _clean("".join(body))
        if heading and not re.fullmatch(r"[\W\d]{0,3}", heading):  # bullets and list numbers are not tags
            out.append(Entry(page, section, part, heading, text[:MAX_CHARS]))
    return out


def explanation_length(text: str) -> int:
    """Characters, a CJK one counted twice (it carries about as much as two Latin ones)."""
    return len(text) + len(faq._CJK.findall(text))


def render(mandoc: Path, path: Path) -> str:
    proc = subprocess.run([str(mandoc), "-Thtml", "-Ofragment", str(path)], capture_output=True, check=False,
                          timeout=60)
    return proc.stdout.decode("utf-8", errors="replace")


def man_pages(root: Path, patterns: tuple[str, ...]) -> list[tuple[str, str, Path]]:
    """(page, section, file) of the real pages matched (symlinks and ``.so`` stubs left out), by name."""
    out = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.is_symlink() or not path.is_file() or path.stat().st_size < 200:
                continue
            m = re.fullmatch(r"(.+)\.([158])[a-z]*(?:\.gz)?", path.name)
            if m:
                out.append((m.group(1), m.group(2), path))
    return out


# --- queries -------------------------------------------------------------------------------------------------------

_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z0-9?@#][\w?@#.-]*)")
_ENV = re.compile(r"\$?[A-Z][A-Z0-9_]{2,}")
_KEY = re.compile(r"[A-Za-z][\w.-]*(?: [a-z][\w-]*){0,3}")
#: section headings under which an all-caps tag is a variable (not a flag or a TCP state: IPC_CREAT, TIME_WAIT)
_VARIABLE_PARTS = ("ENVIRON", "VARIABLE", "PARAMETER", "环境", "变量", "参数")
#: pages whose list entries are the keys of a configuration file
_CONFIG_PAGE = re.compile(r".*[._-](conf|config)(\.d)?|sudoers")


def command(entry: Entry) -> str:
    """How a user names the page's command: ``git-commit`` -> ``git commit``."""
    return entry.page.replace("-", " ", 1) if entry.page.startswith("git-") else entry.page


def _keyish(key: str) -> bool:
    """A key a user would look up by name (``env_reset``, ``core.bare``, ``ForwardAgent``, ``max connections``),
    not a plain word (``Host``, ``username``) that many texts use."""
    return len(key) >= 6 and bool(re.search(r"[_. ]|[a-z][A-Z]", key))


def kind(entry: Entry) -> str:
    part = entry.part.upper()
    if ("DIAGNOSTIC" in part or "ERROR" in part) and len(entry.heading.split()) >= 3:
        return "error"
    names = [n.strip() for n in entry.heading.split(",")]
    if all(_ENV.fullmatch(n) for n in names) and any(w in part for w in _VARIABLE_PARTS):
        return "env"
    if entry.heading.startswith("-"):
        return "option"
    if _CONFIG_PAGE.fullmatch(entry.page) and _KEY.fullmatch(entry.heading) and _keyish(entry.heading):
        return "config"
    return "other"


def query_texts(entry: Entry) -> list[tuple[str, str]]:
    """Every (shape, query text) the entry's heading answers, in a fixed order."""
    k = kind(entry)
    if k == "error":
        return [("error message", entry.heading.lstrip("- "))]  # gzip's "-- not a regular file ..."
    if k == "env":
        return [("env var", n.strip().lstrip("$")) for n in entry.heading.split(",")]
    if k == "config":
        first, _, rest = entry.heading.partition(" ")
        # "positive-time-to-live service value": a key then its value's placeholders; "max connections": one key
        return [("config key", first if rest and re.search(r"[-_.]|[a-z][A-Z]", first) else entry.heading)]
    if k == "option":
        names = list(dict.fromkeys(_OPTION.findall(entry.heading)))
        bare = [("bare option", n) for n in names if n.startswith("--")]
        scoped = [("command + option", f"{command(entry)} {n}") for n in names] if entry.section in "18" else []
        return bare + scoped
    return []


def heading_names(entry: Entry) -> set[str]:
    """The :func:`query_key` of everything the entry's heading names, whatever its kind: the heading, its
    comma-separated names, every option in it, bare and after the command (git-submodule's ``set-branch --default``
    names ``--default`` as surely as an option entry does)."""
    names = {entry.heading, entry.heading.lstrip("- ")} | {n.strip().lstrip("$") for n in entry.heading.split(",")}
    for option in _OPTION.findall(entry.heading):
        names |= {option, f"{command(entry)} {option}"}
    return {query_key(n) for n in names if n} | {query_key(t) for _, t in query_texts(entry)}


def query_key(text: str) -> str:
    """What two query texts share when they are the same question: options are case-sensitive, the rest is not."""
    text = " ".join(text.split())
    return text if re.search(r"(^| )-", text) else text.casefold()


def _hash(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], 16)


def keyword_set(entries: list[tuple[str, Entry]], name: str, max_queries: int, zh: bool = False) -> RetrievalSet:
    """Documents = the entries with a long enough explanation (Chinese ones: mostly Chinese); queries = at most one
    unambiguous query text per entry, ``max_queries`` in all, taken in turn from each shape (so the rarer shapes,
    error messages and environment variables, are all kept) and within a shape in hash order."""
    docs = [(doc_id, e) for doc_id, e in entries if explanation_length(e.text) >= MIN_EXPLANATION
            and (not zh or len(faq._CJK.findall(e.text)) >= 10)]
    answers: dict[str, set[str]] = defaultdict(set)
    for doc_id, e in entries:  # every entry's heading counts for ambiguity, kept as a document or not
        for key in heading_names(e):
            answers[key].add(doc_id)
    pools: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for doc_id, e in docs:
        for shape, text in query_texts(e):
            if len(answers[query_key(text)]) == 1 and len(text) <= 200:
                pools[shape].append((_hash(f"{doc_id} {text}"), doc_id, text))
    queues = [sorted(pools[s], reverse=True) for s in SHAPES if pools[s]]
    picked: dict[str, str] = {}
    while queues and len(picked) < max_queries:
        for queue in queues:
            while queue:
                _, doc_id, text = queue.pop()
                if doc_id not in picked:
                    picked[doc_id] = text
                    break
            if len(picked) >= max_queries:
                break
        queues = [q for q in queues if q]
    ds = RetrievalSet(corpus={}, queries={}, qrels={}, name=name)
    for doc_id, e in docs:
        ds.corpus[doc_id] = e.text
        ds.titles[doc_id] = e.title
        if doc_id in picked:
            ds.queries[f"q:{doc_id}"] = picked[doc_id]
            ds.qrels[f"q:{doc_id}"] = {doc_id: 1}
    return ds


def split_entries(roots: dict[str, Path], sources: dict[str, tuple[str, ...]], mandoc: Path,
                  page_filter: re.Pattern[str] | None = None, keep_matching: bool = True
                  ) -> list[tuple[str, Entry]]:
    """(document id, entry) of every page of the split's packages; ids are ``page.section:n``."""
    out: list[tuple[str, Entry]] = []
    seen_pages: set[tuple[str, str]] = set()
    for pkg in sorted(sources):
        if pkg not in roots:
            continue
        for page, section, path in man_pages(roots[pkg], sources[pkg]):
            if (page, section) in seen_pages or page in TRAINING_COMMANDS:
                continue
            if page_filter is not None and bool(page_filter.fullmatch(page)) != keep_matching:
                continue
            seen_pages.add((page, section))
            for i, e in enumerate(page_entries(render(mandoc, path), page, section)):
                out.append((f"{page}.{section}:{i}", e))
    return out


def save_with_titles(ds: RetrievalSet, folder: Path, split: str) -> None:
    """:func:`save_beir`, then the titles written into ``corpus.jsonl`` (``save_beir`` writes none)."""
    import json

    save_beir(ds, folder, split=split)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, text in ds.corpus.items():
            fh.write(json.dumps({"_id": doc_id, "title": ds.titles.get(doc_id, ""), "text": text},
                                ensure_ascii=False) + "\n")


def build(out: Path, work: Path) -> dict[str, dict[str, object]]:
    used = training_packages() & {p for s in SOURCES.values() for p in s}
    if used:
        raise ValueError(f"{sorted(used)} are training sources; keyword sets must hold them out")
    report: dict[str, dict[str, object]] = {}
    wanted = sorted({p for s in SOURCES.values() for p in s} | {MANDOC[0]})
    roots = faq.fetch(wanted, work)
    missing = sorted(set(wanted) - set(roots))
    if MANDOC[0] not in roots:
        raise RuntimeError("mandoc could not be downloaded (apt-get download mandoc); it renders the man pages")
    mandoc = roots[MANDOC[0]] / MANDOC[1]
    for split_name, sources in SOURCES.items():
        name, split = split_name.split("/")
        zh = name.endswith("-zh")
        page_filter = _ZH_DEV_PAGE if zh else None
        entries = split_entries(roots, sources, mandoc, page_filter, keep_matching=split == "dev")
        ds = keyword_set(entries, f"{name}-{split}", SIZES[split_name], zh=zh)
        if not ds.queries:
            log.warning("%s: no queries (packages missing: %s)", split_name, missing)
            continue
        save_with_titles(ds, out / name / split, split)
        shapes = Counter(shape for d, e in entries if f"q:{d}" in ds.queries for shape, t in query_texts(e)
                         if t == ds.queries[f"q:{d}"])
        report[split_name] = {**ds.stats(), "packages": sorted(p for p in sources if p in roots),
                              "shapes": dict(sorted(shapes.items()))}
        log.info("%s: %s", split_name, report[split_name])
    if missing:
        log.warning("packages apt could not get (skipped): %s", missing)
    return report


def main(argv: list[str] | None = None) -> int:
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the BEIR folders go (OUT/keywords-en/test)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="recallrank-keywords-") as tmp:
        report = build(args.out, Path(tmp))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
