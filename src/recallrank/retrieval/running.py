"""Running a rerank cascade for one query, within a latency budget: a stage that would not finish in the time left
(by its measured seconds per candidate) is skipped with every stage after it, and the results are the last run
stage's order; a confident recall (its calibrated first result at least ``confident_recall``) skips them all."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from recallrank.documents import Result
from recallrank.index.base import Hit
from recallrank.models.identity import short_name
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.retrieval.judged import CALIBRATION_DEPTH
from recallrank.retrieval.stages import Plan, Stage, st_config

#: weight of the newest query in a stage's running seconds-per-candidate estimate
NEWEST = 0.3
#: a skipped stage's estimate shrinks by this factor, so that a first measurement inflated by loading (or a slow
#: spell) does not skip the stage for ever: it runs again once the estimate fits, and is measured afresh
SKIPPED_DECAY = 0.95


class StageCosts:
    """Each stage's measured seconds per candidate (a running average), to forecast its time on a query."""

    def __init__(self) -> None:
        self.per_candidate: dict[int, float] = {}

    def forecast(self, i: int, candidates: int) -> float:
        return self.per_candidate.get(i, 0.0) * candidates

    def skipped(self, i: int) -> None:
        if i in self.per_candidate:
            self.per_candidate[i] *= SKIPPED_DECAY

    def record(self, i: int, seconds: float, candidates: int) -> None:
        rate = seconds / max(1, candidates)
        old = self.per_candidate.get(i)
        self.per_candidate[i] = rate if old is None else (1 - NEWEST) * old + NEWEST * rate


def run_stages(stages: Sequence[Stage], plan: Plan, hits: list[Hit], costs: StageCosts, stage_kwargs: Any
               ) -> tuple[list[Result], int, tuple[str, ...]]:
    """The cascade's results (the last stage run, cut to ``plan.top_n`` but at least
    :data:`~recallrank.retrieval.judged.CALIBRATION_DEPTH`), the index of that stage (``-1``: none
    fitted the budget, and the results are empty) and the names of the stages skipped by ``plan.budget``.
    ``stage_kwargs(i, stage)`` gives a stage's extra arguments."""
    candidates: list[Any] = hits
    last = len(stages) - 1
    results: list[Any] = []
    done = -1
    for i, stage in enumerate(stages):
        if plan.budget is not None:
            spent = time.perf_counter() - plan.started
            if spent + costs.forecast(i, len(candidates)) > plan.budget:
                for j in range(i, len(stages)):
                    costs.skipped(j)
                break
        ts = time.perf_counter()
        keep = stage.keep if i < last else max(min(stage.keep or plan.top_n, plan.top_n), CALIBRATION_DEPTH)
        results = stage.reranker.rerank(plan.query, candidates, top_n=keep, **stage_kwargs(i, stage))
        costs.record(i, time.perf_counter() - ts, len(candidates))
        if last > 0:  # a cascade: each stage's seconds too
            plan.timings[f"stage {i + 1} ({stage.name})"] = time.perf_counter() - ts
        done = i
        # the next stage sees the recall score as each candidate's retrieval score
        candidates = [Hit(id=r.point_id, score=r.retrieval_score, document=r.document) for r in results]
    skipped = tuple(st.name for st in stages[done + 1:])
    if done < 0:
        return [], done, skipped
    model = short_name(st_config(stages[done].reranker).get("model"))
    depth = max(plan.top_n, CALIBRATION_DEPTH)
    return [replace(r, stage=stages[done].name, model=model) for r in results[:depth]], done, skipped


def stage_kwargs(store: Any, recall_model: str | None, fuse: bool) -> Any:
    """What each stage's ``rerank`` takes beyond the candidates: a cross-encoder the recall model's name and whether
    its calibrated fusion applies (after dense recall), a stage that reads stored vectors the store."""

    def kwargs(i: int, stage: Stage) -> dict[str, Any]:
        if isinstance(stage.reranker, CrossEncoderReranker):
            return {"recall_model": recall_model, "fuse": fuse}
        return {"store": store} if getattr(stage.reranker, "uses_store", False) else {}
    return kwargs


def recall_results(hits: Sequence[Hit], top_n: int, model: str | None) -> list[Result]:
    """The recall order as results: ``top_n`` hits, their score as both ``score`` and ``retrieval_score``."""
    return [Result(document=h.document, score=h.score, retrieval_score=h.score, point_id=h.id, stage="recall",
                   model=model) for h in hits[:top_n]]

