"""Read and write retrieval sets in the BEIR folder format.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``)
and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score`` with a header line). SciFact, NFCorpus
and the other BEIR sets unpack into exactly this shape.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from recallrank.errors import DatasetError


@dataclass
class RetrievalSet:
    """A corpus, its queries and graded relevance judgements (qrels).

    Example:
        >>> ds = RetrievalSet(corpus={"d1": "Apples are fruit."}, queries={"q1": "apple"},
        ...                   qrels={"q1": {"d1": 1}})
        >>> ds.stats()
        {'documents': 1, 'queries': 1, 'judgements': 1}
    """

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = "retrieval-set"
    titles: dict[str, str] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        return {
            "documents": len(self.corpus),
            "queries": len(self.queries),
            "judgements": sum(len(v) for v in self.qrels.values()),
        }

    def subset(self, n_queries: int) -> RetrievalSet:
        """The first ``n_queries`` judged queries over the same corpus."""
        kept = [q for q in self.queries if q in self.qrels][:n_queries]
        return RetrievalSet(
            corpus=self.corpus,
            queries={q: self.queries[q] for q in kept},
            qrels={q: self.qrels[q] for q in kept},
            name=self.name,
            titles=self.titles,
        )


def _read_jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno} is not valid JSON ({exc.msg}); fix or remove that line") from exc


def load_beir(folder: str | Path, split: str = "test", name: str | None = None) -> RetrievalSet:
    """Load a BEIR-format folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

    Title and text are joined with a newline as the document text, as BEIR's own evaluators do.
    Only queries that have judgements in the split are kept.
    """
    root = Path(folder)
    corpus_path, queries_path = root / "corpus.jsonl", root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    for p in (corpus_path, queries_path, qrels_path):
        if not p.is_file():
            raise DatasetError(f"{p} not found; a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv")
    corpus: dict[str, str] = {}
    titles: dict[str, str] = {}
    for row in _read_jsonl(corpus_path):
        doc_id, text, title = str(row["_id"]), str(row.get("text") or ""), str(row.get("title") or "")
        corpus[doc_id] = f"{title}\n{text}" if title else text
        if title:
            titles[doc_id] = title
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for i, cells in enumerate(reader):
            if i == 0 and cells and not cells[-1].lstrip("-").isdigit():
                continue  # header line
            if len(cells) < 3:
                continue
            qrels.setdefault(cells[0], {})[cells[1]] = int(cells[2])
    queries = {str(r["_id"]): str(r["text"]) for r in _read_jsonl(queries_path) if str(r["_id"]) in qrels}
    return RetrievalSet(corpus=corpus, queries=queries, qrels=qrels, name=name or root.name, titles=titles)


def save_beir(ds: RetrievalSet, folder: str | Path, split: str = "test") -> Path:
    """Write ``ds`` as a BEIR folder; returns the folder."""
    root = Path(folder)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, text in ds.corpus.items():
            fh.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in ds.queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with (root / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, rels in ds.qrels.items():
            for doc_id, grade in rels.items():
                fh.write(f"{qid}\t{doc_id}\t{grade}\n")
    return root
