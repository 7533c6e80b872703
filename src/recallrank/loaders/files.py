"""Folder search: the supported files under the paths given, each real file and folder once, and every path left
out with the reason (hidden, unsupported file type, dangling symlink, symlink loop, duplicate)."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from recallrank.errors import InvalidInputError

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst", ".text")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class FolderSearch:
    """Folders searched for supported files. Hidden entries are left out; symlinks to files are read like files,
    symlinks to folders are followed after every real tree has been searched; each real folder is searched once.
    Every path left out is listed in ``ignored`` with the reason, every folder that cannot be listed in
    ``skipped``."""

    def __init__(self, skipped: list[tuple[str, str]], ignored: list[tuple[str, str]]) -> None:
        self.skipped, self.ignored = skipped, ignored
        self.seen: dict[str, str] = {}  # real path of every folder searched -> the path it was searched as
        self.links: list[tuple[Path, list[Path]]] = []  # symlinked folders to follow, and where their files go

    def tree(self, top: Path, found: list[Path]) -> None:
        if os.path.realpath(top) in self.seen:
            return  # a folder named twice, or inside a folder named before: its files are found once
        self.seen[os.path.realpath(top)] = str(top)
        for folder, dirs, names in os.walk(top, onerror=self._unreadable):
            keep = []
            for d in sorted(dirs):
                path = Path(folder, d)
                real = os.path.realpath(path)
                if d.startswith("."):
                    self.ignored.append((str(path), "hidden"))
                elif path.is_symlink():
                    self.links.append((path, found))
                elif real not in self.seen:
                    self.seen[real] = str(path)
                    keep.append(d)
                elif self.seen[real] != str(path):  # else named as a folder of its own before: found once
                    self.ignored.append((str(path), f"duplicate (the same folder as {self.seen[real]})"))
            dirs[:] = keep
            for n in sorted(names):
                path = Path(folder, n)
                reason = "hidden" if n.startswith(".") else link_problem(path) or file_problem(path)
                if reason:
                    self.ignored.append((str(path), reason))
                else:
                    found.append(path)

    def follow_links(self) -> None:
        while self.links:
            link, found = self.links.pop(0)
            reason = link_problem(link)
            if reason is None:
                target, here = os.path.realpath(link), os.path.realpath(link.parent)
                if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
                    reason = f"symlink loop (it points to {target}, a folder that holds it)"
                elif target in self.seen:
                    reason = f"duplicate (the same folder as {self.seen[target]})"
            if reason is not None:
                self.ignored.append((str(link), reason))
            else:
                self.tree(link, found)

    def _unreadable(self, exc: OSError) -> None:
        self.skipped.append((str(exc.filename), f"{exc.filename}: cannot be read ({exc.strerror})"))

def once(files: Sequence[Path], ignored: list[tuple[str, str]]) -> list[Path]:
    """Each real file once, in order: under its own path where it is also reached through a symlink; the other
    paths are listed in ``ignored``."""
    chosen: dict[str, Path] = {}
    for f in files:
        real = os.path.realpath(f)
        first = chosen.setdefault(real, f)
        if first == f:
            continue
        kept, other = (f, first) if str(f) == real else (first, f)
        chosen[real] = kept
        ignored.append((str(other), f"duplicate (the same file as {kept})"))
    return list(chosen.values())

def link_problem(path: Path) -> str | None:
    """Why a symlink cannot be followed (``None`` for a path that is no symlink, or one that can)."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"dangling symlink (its target {os.readlink(path)} does not exist)"
    except RuntimeError:  # Python < 3.13 reports a chain of links that leads back to itself so
        return "symlink loop (it leads back to itself)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (it leads back to itself)"
        return f"symlink that cannot be followed ({exc.strerror})"
    return None

def file_problem(path: Path) -> str | None:
    if not supported(path):
        return f"unsupported file type ({path.suffix or 'no extension'})"
    if not path.is_file():
        return "not a regular file"
    return None

def supported(path: Path) -> bool:
    return path.suffix.lower() in TEXT_SUFFIXES + JSONL_SUFFIXES

def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it "
                                "to UTF-8 or leave it out") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror})") from exc
    return text

def under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)
