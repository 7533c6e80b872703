"""``recallrank tune LABELS``: fit what a pipeline leaves open on ~50 labelled queries of the user's own collection.

The labelled queries are split by a stable hash of each query: about 60 % to fit, 40 % held out. On the fit part, in
order:

1. **ranking**: the recall depth ``top_k`` (50, 100, 200) and, for the default MaxSim stage, its recall weight
   ``maxsim_fuse`` (none, half, as shipped, double), by mean nDCG@10;
2. **calibration**: the pipeline's calibration refitted on the labels, pulled towards the shipped one
   (:func:`recallrank.evaluation.calibration.fit` with a prior), so 30 queries refine it rather than replace it;
3. **threshold**: with ``target_precision``, the lowest ``min_probability`` at which the first result of the fit
   queries answered (not abstained) is relevant that often.

Then both parts are compared on the held-out queries (nDCG@10 with every result kept, ECE of the first result,
Brier score of the first result and of the top 10, abstain rate, p50). The ranking settings are kept only if they
improve held-out nDCG@10 with more of its queries better than worse (a tie keeps what is in use); the calibration
only if neither held-out Brier score rises (a proper scoring rule: ECE on ~20 queries is mostly noise), against the
calibration in use on the same ranking. When neither is kept, nothing is written; what
an earlier tune stored and this one does not replace is kept.
What is kept is stored with the collection (:mod:`recallrank.retrieval.tuning`), so every front end uses it.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError
from recallrank.evaluation.calibration import JudgedList, calibration_report, fit, judged_lists, probabilities
from recallrank.evaluation.metrics import ndcg_at_k
from recallrank.rerank.relevance import DEFAULT_MIN_PROBABILITY, Calibration
from recallrank.training.inputs import LabelledPair, read_training_input

#: the fewest labelled queries ``tune`` accepts (about 18 held out)
MIN_QUERIES = 45
HELD_OUT = 0.4
TOP_KS = (50, 100, 200)
#: pull of the shipped calibration on a refit (L2 weight towards its coefficients)
PRIOR_PULL = 3.0


@dataclass
class Part:
    """Quality of one setting on one part of the labels."""

    ndcg10: float
    ece1: float
    brier10: float
    brier1: float
    abstain: float
    p50_ms: float

    def as_dict(self) -> dict[str, float | None]:
        """Rounded, with ``None`` for what could not be measured (no calibration: no ECE or Brier score)."""
        def num(x: float, digits: int) -> float | None:
            return None if math.isnan(x) else round(x, digits)
        return {"ndcg@10": num(self.ndcg10, 4), "ece@1": num(self.ece1, 4), "brier@10": num(self.brier10, 4),
                "brier@1": num(self.brier1, 4), "abstain": num(self.abstain, 4), "p50_ms": num(self.p50_ms, 1)}


@dataclass
class TuneReport:
    """What :func:`tune` measured and chose; ``settings`` is what would be stored (``{}``: nothing)."""

    queries: int
    fit_queries: int
    held_queries: int
    before: Part
    after: Part
    settings: dict[str, Any] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "fit": self.fit_queries, "held_out": self.held_queries,
                "before": self.before.as_dict(), "after": self.after.as_dict(), "kept": self.kept,
                "settings": self.settings, "notes": self.notes}


def labelled_queries(pairs: Sequence[LabelledPair]) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Query id -> text, and query id -> what makes a result relevant (``id:<document id>`` and/or
    ``text:<text>``)."""
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for p in pairs:
        qid = " ".join(p.query.split()).casefold()
        queries.setdefault(qid, p.query)
        marks = relevant.setdefault(qid, set())
        if p.positive_id is not None:
            marks.add(f"id:{p.positive_id}")
        if p.positive is not None:
            marks.add(f"text:{' '.join(p.positive.split())}")
    return queries, relevant


def read_labels(path: str | Path, split: str = "test") -> list[LabelledPair]:
    """Labelled pairs from a JSONL file (as ``train`` and ``mine`` read), or from a BEIR folder with each
    positive's corpus id kept, so that a document indexed in chunks (``recallrank index`` keeps its id as
    ``_recallrank.doc_id``) is still recognised."""
    if not Path(path).is_dir():
        return read_training_input(path, split=split).pairs
    from recallrank.datasets.beir import load_beir
    from recallrank.errors import DatasetError

    try:
        ds = load_beir(path, split)
    except DatasetError as exc:
        raise InvalidInputError(str(exc)) from None
    pairs = [LabelledPair(ds.queries[q], positive=ds.corpus.get(d), positive_id=d, line=i)
             for i, (q, rels) in enumerate(ds.qrels.items(), 1) if q in ds.queries for d, g in rels.items() if g > 0]
    if not pairs:
        raise InvalidInputError(f"{path}: qrels/{split}.tsv has no judgement with a grade above 0 for a known query")
    return pairs


def split(queries: Mapping[str, str], seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    def held(qid: str) -> bool:
        return int(hashlib.sha1(f"{seed}\0{qid}".encode()).hexdigest()[:8], 16) % 10_000 < HELD_OUT * 10_000
    return ({q: t for q, t in queries.items() if not held(q)}, {q: t for q, t in queries.items() if held(q)})


def tune(retriever: Any, pairs: Sequence[LabelledPair], *, target_precision: float | None = None,
         seed: int = 0, progress: Callable[[int], object] | None = None) -> TuneReport:
    """Fit the open settings of ``retriever`` (a :class:`~recallrank.TwoStageRetriever` over the labelled
    collection) on ``pairs``; nothing is written here (see :func:`store`)."""
    queries, relevant = labelled_queries(pairs)
    if len(queries) < MIN_QUERIES:
        raise InvalidInputError(f"{len(queries)} labelled queries are too few to tune and check the result on a "
                                f"held-out part: give at least {MIN_QUERIES} ({MIN_QUERIES - len(queries)} more; "
                                "~50 is what the measurements used)")
    if target_precision is not None and (isinstance(target_precision, bool) or not isinstance(
            target_precision, (int, float)) or not 0 < target_precision < 1):
        raise InvalidInputError(f"target_precision must be a number in (0, 1), got {target_precision!r:.40}")
    if not retriever.store.exists() or not retriever.store.count():
        raise InvalidInputError(f"collection '{retriever.store.name}' holds no documents: index the collection the "
                                "labels are about first (recallrank index ...), then tune it")
    fit_q, held_q = split(queries, seed)
    qrels = {q: _judge(relevant[q]) for q in queries}
    earlier = retriever.tuned  # read now: the stage weight below is then the tuned one
    stage = retriever.stages[-1].reranker if retriever.stages else None
    shipped_fuse = getattr(stage, "fuse", None)  # a MaxSim stage fused with recall: its weight is tuned too
    fuses: list[float | None] = [shipped_fuse] if shipped_fuse is None else \
        [shipped_fuse, None, shipped_fuse / 2, shipped_fuse * 2]
    base = {"top_k": retriever.top_k, "maxsim_fuse": shipped_fuse}

    def run(part: Mapping[str, str], top_k: int, fuse: float | None) -> list[JudgedList]:
        if stage is not None and shipped_fuse is not None:
            stage.fuse = fuse
        try:
            return judged_lists(retriever, part, qrels, progress, top_k=max(top_k, retriever.top_n),
                                judge=_matches)
        finally:
            if stage is not None and shipped_fuse is not None:
                stage.fuse = shipped_fuse

    grid = [(k, f) for k in TOP_KS for f in fuses]
    scored = {(k, f): _ndcg(run(fit_q, k, f)) for k, f in grid}
    _check_labels_found(run(fit_q, max(TOP_KS), shipped_fuse), len(fit_q))
    best = max(grid, key=lambda kf: (round(scored[kf], 6), kf == (base["top_k"], shipped_fuse)))
    key = retriever.calibration_key()
    current = retriever.calibration_for(key)
    before_lists = run(held_q, base["top_k"], shipped_fuse)
    after_rank = run(held_q, *best)
    notes: list[str] = []
    keep_rank = best != (base["top_k"], shipped_fuse) and _better(after_rank, before_lists)
    if not keep_rank and best != (base["top_k"], shipped_fuse):
        notes.append(f"top_k {best[0]}, maxsim_fuse {best[1]} scored {scored[best]:.4f} on the fit part but did not "
                     "improve the held-out part (its nDCG@10, and more of its queries better than worse): not kept")
    chosen = best if keep_rank else (base["top_k"], shipped_fuse)
    fit_lists = run(fit_q, *chosen)
    held_lists = after_rank if keep_rank else before_lists
    refit = fit(key or "?", {"labels": fit_lists}, source="tuned", prior=current,
                l2=PRIOR_PULL if current is not None else 1.0)
    threshold_now = retriever.min_probability_for() or DEFAULT_MIN_PROBABILITY
    before = _part(before_lists, current, threshold_now)
    current_on_chosen = _part(held_lists, current, threshold_now)  # compared like for like: the same ranking
    threshold = _threshold(refit, fit_lists, target_precision, threshold_now, notes)
    trial = _part(held_lists, refit, threshold)
    keep_cal = key is not None and (current is None or (trial.brier10 <= current_on_chosen.brier10
                                                          and trial.brier1 <= current_on_chosen.brier1))
    if key is not None and not keep_cal:
        notes.append(f"the refitted calibration did not lower the held-out Brier score of the first result and of the "
                     f"top 10 (@1 {current_on_chosen.brier1:.4f} -> {trial.brier1:.4f}, @10 "
                     f"{current_on_chosen.brier10:.4f} -> {trial.brier10:.4f}): not kept"
                     + (f", nor the threshold {threshold} chosen with it for --target-precision"
                        if target_precision is not None else ""))
    after = trial if keep_cal else current_on_chosen
    kept = ["ranking"] * keep_rank + ["calibration"] * keep_cal
    settings = {k: v for k, v in earlier.items() if k != "written"}  # what an earlier tune kept stays
    if keep_rank:
        settings.update(top_k=chosen[0], maxsim_fuse=chosen[1])
    if keep_cal:
        settings["calibration"] = {**Calibration(refit.pipeline, refit.top, refit.rest, "tuned", (),
                                                 len(fit_q)).as_dict(), "min_probability": threshold}
    if kept:
        settings["held_out"] = {"queries": len(held_q), "before": before.as_dict(), "after": after.as_dict()}
    return TuneReport(len(queries), len(fit_q), len(held_q), before, after, settings if kept else {}, kept, notes)


def _check_labels_found(lists: Sequence[JudgedList], queries: int) -> None:
    """Refuse labels that name documents the collection does not return: ids from another collection, or ids
    the collection stores under other names (nothing to fit, and a calibration fitted on them would abstain)."""
    found = sum(bool(x.labels.any()) for x in lists)
    if found < max(1, queries // 5):
        raise InvalidInputError(
            f"only {found} of {queries} labelled queries find one of their labelled documents among their results: "
            "check that each positive_id is an id this collection stores (the id of the record `recallrank "
            "index` read, or Document.id), or give the positive's text; nothing was written")


def _judge(marks: set[str]) -> dict[str, int]:
    return {m: 1 for m in marks}


def _matches(result: Any, rels: Mapping[str, int]) -> bool:
    """A result is relevant when its id, the id of the record it was chunked from (``recallrank index`` keeps it
    as ``_recallrank.doc_id``), or its text is a labelled positive."""
    doc = result.document
    book = doc.metadata.get("_recallrank")
    ids = {doc.id, book.get("doc_id") if isinstance(book, dict) else None} - {None}
    return any(f"id:{i}" in rels for i in ids) or f"text:{' '.join(doc.text.split())}" in rels


def _better(after: Sequence[JudgedList], before: Sequence[JudgedList]) -> bool:
    """Whether ``after`` (the same queries as ``before``, ranked another way) is better beyond a tie: a higher mean
    nDCG@10, with more queries better than worse (20 held-out queries cannot show a small gain, so a change must
    show a clear one to be kept)."""
    gains = [_ndcg([a]) - _ndcg([b]) for a, b in zip(after, before, strict=True)]
    return float(np.mean(gains)) > 1e-9 and sum(g > 1e-9 for g in gains) > sum(g < -1e-9 for g in gains)


def _ndcg(lists: Sequence[JudgedList]) -> float:
    """Mean nDCG@10 of judged lists (one relevant mark per relevant result found; ideal: as many as judged)."""
    if not lists:
        return 0.0
    return float(np.mean([ndcg_at_k([str(i) for i in range(len(x.labels))],
                                    {str(i): 1 for i, y in enumerate(x.labels) if y > 0} | _missing(x), 10)
                          for x in lists]))


def _missing(x: JudgedList) -> dict[str, int]:
    """Relevant documents the list did not find, so they count against it in the ideal ranking."""
    return {f"missing-{i}": 1 for i in range(max(0, x.judged - int(x.labels.sum())))}


def _part(lists: Sequence[JudgedList], calibration: Calibration | None, threshold: float) -> Part:
    times = [x.seconds * 1000 for x in lists]
    if calibration is None:
        return Part(_ndcg(lists), float("nan"), float("nan"), float("nan"), 0.0,
                    statistics.median(times) if times else 0.0)
    probs = probabilities(calibration, lists)
    report = calibration_report(probs, lists)
    brier = float(np.mean(np.concatenate([(np.asarray(p[:10]) - x.labels[:10]) ** 2 for p, x in zip(probs, lists,
                                                                                                   strict=True)])))
    abstain = float(np.mean([max(p) < threshold for p in probs]))
    return Part(_ndcg(lists), report["ece@1"], brier, report["brier@1"], abstain,
                statistics.median(times) if times else 0.0)


def _threshold(calibration: Calibration, lists: Sequence[JudgedList], target: float | None, now: float,
               notes: list[str]) -> float:
    """The lowest ``min_probability`` at which the first result of the queries answered is relevant at least
    ``target`` of the time, answering at least one query in five (without a target, or when none reaches it, the
    threshold in use ``now``, with a note)."""
    if target is None:
        return now
    best = np.array([max(p) for p in probabilities(calibration, lists)])
    first = np.array([x.labels[0] for x in lists])
    reached = []
    for t in np.arange(0.05, 0.96, 0.01):
        answered = best >= t
        if answered.mean() >= 0.2:
            precision = float(first[answered].mean())
            reached.append((precision, round(float(t), 2)))
            if precision >= target:
                return round(float(t), 2)
    top = max(reached, default=(0.0, now))
    notes.append(f"no min_probability reaches precision {target:.2f} on the fit part while answering a fifth of its "
                 f"queries (the best: {top[0]:.2f} at {top[1]}): the threshold in use ({now}) is kept")
    return now


def store(retriever: Any, report: TuneReport) -> bool:
    """Write ``report.settings`` with the retriever's collection (what an earlier tune kept and this one did not
    replace stays); ``False`` (nothing written) when nothing was kept."""
    if not report.kept:
        return False
    retriever.store.record_models({**report.settings, "written": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                             time.gmtime())}, key="tuning")
    return True
