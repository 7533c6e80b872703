"""The shipped keyword-shaped sets (``recipes/data/keywords.py``): they load, every query has exactly one relevant
document that exists, no query names the heading of two documents, and no training package is a source."""

from __future__ import annotations

import re

import pytest

from recallrank.datasets import available, load_dataset
from recipes.data.keywords import SOURCES, TRAINING_COMMANDS, training_packages

SPLITS = [("keywords-en", "test"), ("keywords-en", "dev"), ("keywords-zh", "test"), ("keywords-zh", "dev")]
_OPTION = re.compile(r"(?<![\w-])--?[\w?@#.-]+")  # not the "-u" of "ESC-u" or the "-M" of "N-M"
_CJK = re.compile(r"[\u3400-\u9fff]")


def _headings(title: str) -> tuple[str, str]:
    """(command, heading) of a title ``page(section): heading``; ``git-commit`` is the command ``git commit``."""
    page, _, heading = title.partition(": ")
    page = page.rsplit("(", 1)[0]
    return (page.replace("-", " ", 1) if page.startswith("git-") else page), heading


def _named(title: str) -> set[str]:
    """What a document's heading names: its names (case-folded), its options as written, alone and after the
    command, and a config key before its value's placeholders ("positive-time-to-live service value")."""
    cmd, heading = _headings(title)
    names = {n.strip().lstrip("$") for n in heading.split(",")} | {heading.lstrip("- ")}
    first = heading.split(" ", 1)[0]
    if re.search(r"[-_.]|[a-z][A-Z]", first):
        names.add(first)
    options = set(_OPTION.findall(heading))
    folded = {n.casefold() for n in names if not n.startswith("-")}
    return folded | names | options | {f"{cmd} {o}" for o in options}


@pytest.mark.parametrize(("name", "split"), SPLITS)
def test_split_loads_with_one_relevant_document_per_query(name: str, split: str) -> None:
    assert split in available()[name]
    ds = load_dataset(name, split)
    assert ds.stats()["queries"] >= 150 and ds.stats()["documents"] >= 250
    for qid in ds.queries:
        assert len(ds.qrels[qid]) == 1 and set(ds.qrels[qid]) <= set(ds.corpus)
    assert len(set(ds.queries.values())) == len(ds.queries)


@pytest.mark.parametrize(("name", "split"), SPLITS)
def test_no_query_names_two_headings(name: str, split: str) -> None:
    ds = load_dataset(name, split)
    index: dict[str, set[str]] = {}
    for doc_id, title in ds.titles.items():
        for key in _named(title):
            index.setdefault(key, set()).add(doc_id)
    for qid, query in ds.queries.items():
        option_shaped = query.split()[-1].startswith("-")  # options are case-sensitive: -s is not -S
        named = index.get(query, set()) | (set() if option_shaped else index.get(query.casefold(), set()))
        assert named == set(ds.qrels[qid]), (query, sorted(named))


def test_chinese_sets_ask_in_latin_script_for_chinese_text() -> None:
    for split in ("test", "dev"):
        ds = load_dataset("keywords-zh", split)
        assert not any(_CJK.search(q) for q in ds.queries.values())
        assert all(_CJK.search(ds.corpus[d]) for rel in ds.qrels.values() for d in rel)


def test_no_training_source_is_used() -> None:
    used = {pkg for sources in SOURCES.values() for pkg in sources}
    assert not used & training_packages()
    assert {"perl-doc", "nano", "xz-utils", "harden-doc", "debian-handbook", "dict-foldoc"} <= training_packages()
    for split in ("test", "dev"):
        pages = {d.split(".")[0] for d in load_dataset("keywords-zh", split).corpus}
        assert not pages & set(TRAINING_COMMANDS)
    # dev and test come from different packages (English) and different upstream projects (Chinese)
    assert not set(SOURCES["keywords-en/test"]) & set(SOURCES["keywords-en/dev"])
    zh_pages = [{d.split(":")[0] for d in load_dataset("keywords-zh", s).corpus} for s in ("test", "dev")]
    assert not zh_pages[0] & zh_pages[1]
