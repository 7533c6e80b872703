"""Labelled pairs a user trains on: JSONL lines ``{"query", "positive" | "positive_id", "negatives"?, "score"?}``,
read with errors that name the file, the line and what to change, before anything else runs."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recallrank.documents import check_unicode
from recallrank.errors import InvalidInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledPair:
    """One training example: a query, its positive (text, or the id of a document in the index), optional
    negatives and an optional graded relevance ``score`` in [0, 1]; ``line`` and ``source`` (the file) are where
    it was read."""

    query: str
    positive: str | None = None
    positive_id: str | None = None
    negatives: tuple[str, ...] = ()
    score: float | None = None
    line: int = 0
    source: str = field(default="", compare=False)

    @property
    def where(self) -> str:
        """``file:line`` (``line N`` when the file is not known), for error messages."""
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"


#: the fields of a labelled pair
FIELDS = frozenset({"query", "positive", "positive_id", "negatives", "score"})
#: what ``recallrank mine`` adds to each line, read back and ignored so its output trains directly
MINED_FIELDS = frozenset({"positive_score", "negative_ids", "negative_scores", "line"})


def read_pairs(path: str | Path, *, require_positive: bool = True) -> list[LabelledPair]:
    """Every pair in a JSONL file; the first malformed line raises an :class:`InvalidInputError` naming it. The
    whole file is checked before anything is returned, so bad input stops a command before it writes anything.

    ``require_positive=False`` also accepts lines with a query alone (``{"query": "..."}``, for distillation,
    where the teacher labels the candidates). Lines written by ``recallrank mine`` read as they are.

    Example:
        >>> read_pairs("pairs.jsonl")[0]   # doctest: +SKIP
        LabelledPair(query='how do I mount a disk', positive=None, positive_id='fstab', negatives=(), ...)
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file; give a JSONL file of labelled pairs") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    pairs = [_pair(path, n, line, require_positive) for n, line in enumerate(lines, 1) if line.strip()]
    if not pairs:
        raise InvalidInputError(f"{path}: no pairs; each line is an object such as "
                                '{"query": "...", "positive": "..."} or {"query": "...", "positive_id": "..."}')
    return pairs


def _pair(path: Path, n: int, line: str, require_positive: bool = True) -> LabelledPair:
    where = f"{path}:{n}"
    try:
        row: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise InvalidInputError(f"{where}: a line must be a JSON object, got {type(row).__name__}")
    unknown = set(row) - FIELDS - MINED_FIELDS
    if unknown:
        raise InvalidInputError(f"{where}: unknown field(s) {sorted(unknown)}; accepted: query, positive, "
                                "positive_id, negatives, score")
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"{where}: 'query' must be a non-empty string, got {query!r:.60}")
    positive, positive_id = row.get("positive"), row.get("positive_id")
    if positive is not None and positive_id is not None and "positive_score" in row:
        positive_id = None  # a line written by `recallrank mine` carries both: the text is what was judged
    if (positive is None) == (positive_id is None) and (require_positive or positive is not None):
        raise InvalidInputError(f"{where}: give exactly one of 'positive' (the text) or 'positive_id' (a document "
                                "id in the index)")
    if positive is not None and (not isinstance(positive, str) or not positive.strip()):
        raise InvalidInputError(f"{where}: 'positive' must be a non-empty string, got {positive!r:.60}")
    if (positive_id is not None and not isinstance(positive_id, (str, int))) or isinstance(positive_id, bool):
        raise InvalidInputError(f"{where}: 'positive_id' must be a string, got {positive_id!r:.60}")
    negatives = row.get("negatives", [])
    if not isinstance(negatives, list) or not all(isinstance(x, str) and x.strip() for x in negatives):
        raise InvalidInputError(f"{where}: 'negatives' must be a list of non-empty strings")
    for name, value in (("query", query), ("positive", positive), ("positive_id", positive_id),
                        *((f"negatives[{i}]", x) for i, x in enumerate(negatives))):
        if isinstance(value, str):  # a lone surrogate (a broken \u escape) cannot be written out or tokenised
            check_unicode(value, f"{where}: '{name}'")
    score = row.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or not math.isfinite(score) or not 0.0 <= score <= 1.0):
        raise InvalidInputError(f"{where}: 'score' must be a number in [0, 1] (graded relevance), got {score!r:.40}")
    return LabelledPair(query, positive, None if positive_id is None else str(positive_id), tuple(negatives),
                        None if score is None else float(score), n, str(path))


@dataclass(frozen=True)
class TrainingInput:
    """Labelled pairs, and the documents they came with (a BEIR folder's corpus: id -> text; else empty, and
    documents come from the index)."""

    pairs: list[LabelledPair]
    corpus: dict[str, str]


def read_training_input(path: str | Path, *, split: str = "train", require_positive: bool = True) -> TrainingInput:
    """A JSONL file of labelled pairs, or a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
    ``qrels/<split>.tsv``)."""
    path = Path(path)
    if path.is_dir():
        return read_beir_pairs(path, split)
    return TrainingInput(read_pairs(path, require_positive=require_positive), {})


def read_beir_pairs(folder: str | Path, split: str = "train") -> TrainingInput:
    """One pair per judged (query, document) with a grade above 0; grades become ``score`` = grade / top grade
    when the qrels are graded (more than one positive grade)."""
    from recallrank.datasets.beir import load_beir
    from recallrank.errors import DatasetError

    try:
        ds = load_beir(folder, split)
    except DatasetError as exc:
        raise InvalidInputError(str(exc)) from None
    grades = {g for rels in ds.qrels.values() for g in rels.values() if g > 0}
    top = max(grades, default=1)
    pairs: list[LabelledPair] = []
    unknown: list[str] = []
    for qid, rels in ds.qrels.items():
        if qid not in ds.queries:
            unknown.append(f"query {qid!r}")
            continue
        for doc_id, grade in rels.items():
            if doc_id not in ds.corpus:
                unknown.append(f"document {doc_id!r}")
            elif grade > 0:
                check_unicode(ds.queries[qid], f"{folder}: queries.jsonl: query {qid!r}")
                check_unicode(ds.corpus[doc_id], f"{folder}: corpus.jsonl: document {doc_id!r}")
                pairs.append(LabelledPair(ds.queries[qid], positive=ds.corpus[doc_id], positive_id=None,
                                          score=grade / top if len(grades) > 1 else None,
                                          line=len(pairs) + 1))  # a unique key per pair
    if unknown:
        raise InvalidInputError(f"{folder}: qrels/{split}.tsv names {len(unknown)} id(s) missing from "
                                f"queries.jsonl / corpus.jsonl ({', '.join(unknown[:5])}); fix the qrels")
    if not pairs:
        raise InvalidInputError(f"{folder}: qrels/{split}.tsv has no judgement with a grade above 0")
    return TrainingInput(pairs, dict(ds.corpus))


def split_held_out(pairs: list[LabelledPair], fraction: float, seed: int = 0) -> tuple[list[LabelledPair],
                                                                                     list[LabelledPair]]:
    """(train, held-out): a pair is held out by a stable hash of its query, so every pair of one query lands on
    the same side and the split is the same on every run. No pairs (distillation queries without positives)
    hold nothing out: there is nothing to evaluate on."""
    if not 0.0 <= fraction < 1.0:
        raise InvalidInputError(f"the held-out fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return list(pairs), []
    if not pairs:
        log.warning("no labelled pairs to hold out, so no before/after evaluation: give --eval-pairs with "
                    "labelled pairs (a positive each) to get one")
        return [], []

    def held(p: LabelledPair) -> bool:
        digest = hashlib.sha1(f"{seed}\0{' '.join(p.query.split()).casefold()}".encode()).hexdigest()
        return int(digest[:8], 16) % 10_000 < fraction * 10_000

    train, test = [p for p in pairs if not held(p)], [p for p in pairs if held(p)]
    if not train or not test:
        raise InvalidInputError(f"{len(pairs)} pairs are too few to hold out {fraction:.0%} for evaluation; give "
                                "more pairs, a separate --eval-pairs file, or --eval-fraction 0 to skip evaluation")
    return train, test
