"""Build the offline retrieval sets: Debian descriptions (en, zh), Python docstrings, FOLDOC and WordNet.

``python -m recipes.data.build --out DIR`` fetches the sources (apt, the local Python install), writes
every domain's deduplicated train/dev/test pairs to ``DIR/pairs/<domain>.jsonl`` and the frozen evaluation
splits (BEIR folders) to ``DIR/<domain>/<split>/``. The splits recallrank ships were made by this command
with the default sizes; larger ones come from ``--test-queries`` / ``--test-documents``.

Domains and their role in training the default reranker:

================  =========================================  ==========================
domain            query -> relevant document                 role
================  =========================================  ==========================
debian-en         short description -> long description     trained on (train split)
python-docs       docstring summary line -> docstring body   trained on (train split)
foldoc            computing term -> FOLDOC definition        trained on (train split)
wordnet           English word -> WordNet senses             held out entirely
debian-zh         Chinese short -> Chinese long description  held out entirely
================  =========================================  ==========================
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from recallrank.datasets.beir import save_beir
from recipes.data.debian import debian_pairs, fetch_translations
from recipes.data.dictd import dictionary_pairs, fetch_dictionary
from recipes.data.docstrings import docstring_pairs
from recipes.data.pairs import Pair, split_pairs, to_retrieval_set

log = logging.getLogger(__name__)

TRAIN_DOMAINS = ("debian-en", "python-docs", "foldoc")
HELD_OUT_DOMAINS = ("wordnet", "debian-zh")
#: (queries, documents) of the frozen splits shipped in the package
FROZEN_SIZES = {"test": (500, 5000), "dev": (200, 2000)}


def collect_pairs(work: Path) -> dict[str, list[Pair]]:
    """Every domain's pairs, deduplicated; fetched sources are cached under ``work/sources``."""
    src = work / "sources"
    translations = {lang: src / f"Translation-{lang}" for lang in ("en", "zh")}
    if not all(p.exists() for p in translations.values()):
        translations = fetch_translations(src)
    zh = list(debian_pairs(translations["zh"], "zh"))
    zh_packages = {p.key.split(":", 1)[1] for p in zh}
    en = list(debian_pairs(translations["en"], "en"))
    out = {
        "debian-en": en,
        "debian-zh": zh,
        "python-docs": list(docstring_pairs()),
        "foldoc": list(dictionary_pairs("foldoc", *fetch_dictionary("foldoc", src))),
        "wordnet": list(dictionary_pairs("wn", *fetch_dictionary("wn", src))),
    }
    # packages with a Chinese description never reach English training: debian-zh stays unseen
    out["debian-en-train-excluded"] = [p for p in en if p.key.split(":", 1)[1] in zh_packages]
    return out


def write_pairs(pairs: Iterable[Pair], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p.__dict__, ensure_ascii=False) + "\n")


def read_pairs(path: Path) -> list[Pair]:
    with path.open(encoding="utf-8") as fh:
        return [Pair(**json.loads(line)) for line in fh if line.strip()]


def build(work: Path, frozen_out: Path, sizes: dict[str, tuple[int, int]] | None = None) -> dict[str, dict[str, int]]:
    """Write pairs per domain and split to ``work/pairs`` and the evaluation splits to ``frozen_out``."""
    sizes = sizes if sizes is not None else FROZEN_SIZES
    domains = collect_pairs(work)
    excluded = {p.key for p in domains.pop("debian-en-train-excluded")}
    report: dict[str, dict[str, int]] = {}
    for domain, pairs in domains.items():
        if domain in HELD_OUT_DOMAINS:
            # held out entirely: every pair is evaluation material, none is ever trained on
            splits = {"train": [], "dev": [], "test": [p for part in split_pairs(pairs).values() for p in part]}
        else:
            splits = split_pairs(pairs)
            if domain == "debian-en":
                splits["train"] = [p for p in splits["train"] if p.key not in excluded]
        report[domain] = {s: len(v) for s, v in splits.items()}
        for split, items in splits.items():
            write_pairs(items, work / "pairs" / domain / f"{split}.jsonl")
            if split in sizes and items:
                nq, nd = sizes[split]
                ds = to_retrieval_set(items, f"{domain}-{split}", n_queries=nq, n_documents=nd)
                save_beir(ds, frozen_out / domain / split, split=split)
        log.info("%s: %s", domain, report[domain])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "recallrank" / "datasets",
                        help="cache for fetched sources and all pairs (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="where the BEIR folders of the eval splits go")
    parser.add_argument("--test-queries", type=int, default=FROZEN_SIZES["test"][0])
    parser.add_argument("--test-documents", type=int, default=FROZEN_SIZES["test"][1])
    parser.add_argument("--dev-queries", type=int, default=FROZEN_SIZES["dev"][0])
    parser.add_argument("--dev-documents", type=int, default=FROZEN_SIZES["dev"][1])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = build(args.work, args.out, {"test": (args.test_queries, args.test_documents),
                                         "dev": (args.dev_queries, args.dev_documents)})
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
