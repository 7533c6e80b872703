"""Python docstrings as a retrieval set: query = the summary line, relevant document = the rest.

Sources are read with ``ast`` (nothing is imported or executed) from the standard library and from the
installed packages, so the set is built offline on any machine with Python.
"""

from __future__ import annotations

import ast
import inspect
import sysconfig
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from recipes.data.pairs import Pair

_SKIP_DIRS = {"test", "tests", "testing", "idlelib", "lib2to3", "turtledemo", "__pycache__", "site-packages"}


def default_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
    return [r for r in dict.fromkeys(roots) if r.is_dir()]


def _python_files(root: Path, skip_site: bool) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(p in _SKIP_DIRS for p in rel[:-1]) and (skip_site or "site-packages" not in rel[:-1]):
            continue
        yield path


def docstring_pairs(roots: Iterable[Path] | None = None, min_body: int = 80, max_body: int = 2000) -> Iterator[Pair]:
    """Yield one pair per function/class docstring with a one-line summary and a body of prose."""
    for root in roots if roots is not None else default_roots():
        is_stdlib = "site-packages" not in root.parts
        for path in _python_files(root, skip_site=is_stdlib):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts)
            top_package = rel.parts[0]
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue
                doc = ast.get_docstring(node, clean=False)
                if not doc:
                    continue
                summary, _, body = inspect.cleandoc(doc).partition("\n\n")
                summary, body = " ".join(summary.split()), body.strip()
                if not (15 <= len(summary) <= 200) or len(body) < min_body or body.startswith((">>>", "..")):
                    continue
                yield Pair(key=f"py:{module}.{node.name}:{node.lineno}", query=summary,
                           text=body[:max_body], group=top_package)
