"""The calibration side of :class:`~recallrank.retrieval.pipeline.TwoStageRetriever`: which calibration applies
to a search (tuned with the collection, else shipped), the threshold it cuts at, and whether recall alone is
confident enough to skip the rerank stages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from recallrank.errors import InvalidInputError
from recallrank.index.base import Hit
from recallrank.models.identity import registry_name, short_name
from recallrank.rerank.fusion import FILE_NAME as FUSION_FILE
from recallrank.rerank.relevance import (
    Calibration,
    auto_threshold,
    pipeline_key,
    recall_summary,
    shipped,
)
from recallrank.retrieval.judged import AUTO, check_min_probability, check_probability, inputs, judge
from recallrank.retrieval.running import StageCosts
from recallrank.retrieval.stages import Plan, Stage, check_k, st_config
from recallrank.retrieval.tuning import DEFAULT_TOP_K, check_budget, tuned_settings


class Calibrated:
    """Mixed into the retriever: reads its ``encoder``, ``stages``, ``confident_recall`` and tuned settings."""

    encoder: Any
    stages: list[Stage]
    confident_recall: float | None
    keep_relevance_inputs: bool
    store: Any
    _tuned_cache: dict[str, Any] | None
    _top_k_given: int | None
    _default_stages: bool

    def _settle(self, top_k: int | None, min_probability: object, latency_budget: object,
                confident_recall: object) -> None:
        """The constructor's calibration settings, checked (nothing is read from the store here)."""
        checked = check_min_probability(min_probability)
        #: ``"auto"`` or a probability (``0``: never abstain); ``None`` given is ``"auto"``
        self.min_probability: float | str = checked if checked is not None else AUTO
        self.latency_budget = check_budget(latency_budget)
        self.confident_recall = check_probability(confident_recall, "confident_recall")
        self._costs, self._tuned_cache = StageCosts(), None
        #: searches also return what their probabilities were computed from (``relevance_inputs``), for fitting
        self.keep_relevance_inputs = False
        self._top_k_given = top_k  # None: the collection's tuned top_k, else DEFAULT_TOP_K (read when needed)

    @property
    def _tuned(self) -> dict[str, Any]:
        """The collection's tuned settings, read on first need (a constructor does no I/O)."""
        if self._tuned_cache is None:
            self._tuned_cache = tuned_settings(self.store)
            self._apply_tuned_stages()
        return self._tuned_cache

    @property
    def top_k(self) -> int:
        """Candidates recalled: as given, else the collection's tuned value, else :data:`DEFAULT_TOP_K`."""
        if self._top_k_given is not None:
            return self._top_k_given
        return int(self._tuned.get("top_k", DEFAULT_TOP_K))

    @top_k.setter
    def top_k(self, value: int) -> None:
        check_k(value, 1)
        self._top_k_given = value

    def _confident(self, plan: Plan, hits: list[Hit], mode: str) -> bool:
        """``confident_recall`` is set and recall's calibrated first result reaches it: the stages are skipped."""
        if self.confident_recall is None:
            return False
        calibration = self.calibration_for(self._key(-1, mode)[0])
        if calibration is None:
            return False
        scores = np.array([h.score for h in hits[:plan.top_n]])
        recalled = recall_summary([h.score for h in hits])
        return calibration.probabilities(scores, scores, recalled)[0] >= self.confident_recall

    def _judged(self, plan: Plan, results: list[Any], recalled: list[float], done: int, mode: str,
                fused: bool, dense: dict[str, float] | None = None) -> dict[str, Any]:
        """The response fields for ``results`` after stage ``done``: probabilities by the calibration that applies
        (a cross-encoder's own calibrated fusion when ``fused`` and nothing else does), abstention, inputs.
        ``dense``: the dense similarities of a hybrid recall's results (recall alone), which its calibration reads."""
        seen = results
        if dense and all(r.point_id in dense for r in results):
            seen, mode = [replace(r, retrieval_score=dense[r.point_id], score=dense[r.point_id]) for r in results], \
                "dense"
        key, kind = self._key(done, mode, plan.rerank)
        calibration = self.calibration_for(key)
        wanted = key is not None and (calibration is not None or self.keep_relevance_inputs)
        found = inputs(kind, self._query_tokens(plan.query, done, kind), seen, recalled) if wanted else None
        probabilities = calibration.probabilities(*found) if calibration is not None and found is not None else None
        label = calibration.label() if calibration is not None else None
        fusion = self._fused_label(done, fused) if calibration is None else None
        if fusion is not None:  # the cross-encoder's calibrated fusion: its score is the probability
            probabilities, label = [r.score for r in results], fusion
        # no threshold was chosen on dev for a cross-encoder's fusion: "auto" does not abstain there
        default = auto_threshold(calibration) if calibration is not None and probabilities is not None else None
        threshold = self._threshold(plan.min_probability, default, key, calibration is not None or fusion is not None)
        return judge(results, probabilities, label, threshold, found, plan.top_n)

    def _query_tokens(self, query: str, done: int, kind: str) -> int:
        """The query's token count after a MaxSim stage (its score is read per query token), else 1."""
        if kind != "maxsim":
            return 1
        return len(self.stages[done].reranker.encoder.encode_queries([query])[0])  # the recall pass's, when shared

    def _key(self, done: int, mode: str, reranking: bool = True) -> tuple[str | None, str]:
        name = registry_name(self.encoder)
        similarity = getattr(self.encoder, "similarity", "cosine")
        if similarity != "cosine":  # the recall scores are no cosines: calibrations fitted on cosines do not hold
            name = f"{name} ({similarity})"
        if done < 0:
            dense = mode == "dense" or (reranking and bool(self.stages))  # stages see dense similarities
            return (pipeline_key(name, "recall", None) if dense else None), "recall"
        stage = self.stages[done]
        config = st_config(stage.reranker)
        return pipeline_key(name, stage.name, short_name(config.get("model"))), str(config.get("kind"))

    def calibration_key(self) -> str | None:
        """The pipeline a calibration must be fitted for to apply to this retriever's searches (dense recall and
        every stage run): ``all-MiniLM-L6-v2 > maxsim(zero-shot:all-MiniLM-L6-v2)`` by default."""
        if getattr(self, "recall_mode", "dense") == "sparse" and not self.stages:
            return None  # BM25 scores alone: no similarity a calibration could read
        return self._key(len(self.stages) - 1, "dense")[0]

    def min_probability_for(self) -> float | None:
        """The threshold ``min_probability="auto"`` stands for on this retriever's full pipeline: the collection's
        tuned one, else the calibration's own (:func:`~recallrank.rerank.relevance.auto_threshold`); ``None``
        without a calibration."""
        calibration = self.calibration_for(self.calibration_key())
        return auto_threshold(calibration) if calibration is not None else None

    @property
    def tuned(self) -> dict[str, Any]:
        """What ``recallrank tune`` stored with the collection (``{}``: nothing), as read on this retriever's first
        need of it."""
        return dict(self._tuned)

    def calibration_for(self, key: str | None) -> Calibration | None:
        """The calibration of the pipeline ``key``: the one ``recallrank tune`` stored with the collection, else
        the shipped one, else ``None``."""
        if key is None:
            return None
        tuned = self._tuned.get("calibration")
        if tuned is not None and tuned.get("pipeline") == key:
            return Calibration.from_dict(tuned)
        return shipped().get(key)

    def _threshold(self, min_probability: float | str | None, default: float | None, key: str | None,
                   calibrated: bool) -> float | None:
        """The threshold to apply: ``default`` (the calibration's own; ``None``: none chosen) stands for "auto";
        ``calibrated``: whether an explicit threshold can apply."""
        if min_probability is None or min_probability == 0 or (min_probability == AUTO and default is None):
            return None  # 0 keeps everything, calibrated or not
        if not calibrated:
            raise InvalidInputError(
                f"min_probability={min_probability} needs a calibrated pipeline, and {key or 'this recall mode'} has "
                "no fitted calibration: fit one with `recallrank tune LABELS` on ~50 labelled queries, or cut on "
                "score_threshold instead (min_probability=0: never abstain)")
        return default if min_probability == AUTO else float(min_probability)

    def _fused_label(self, done: int, fused: bool) -> str | None:
        """After a cross-encoder stage whose calibrated fusion with recall applied (see
        :mod:`recallrank.rerank.fusion`), its ``score`` is already a probability fitted on dev judgements: what
        names it, else ``None``."""
        if done < 0 or not fused:
            return None
        reranker = self.stages[done].reranker
        fusion_for = getattr(reranker, "fusion_for", None)
        if fusion_for is None or fusion_for(getattr(self, "recall_model", None)) is None:
            return None
        return f"shipped with the cross-encoder: its fusion with recall, fitted on dev judgements ({FUSION_FILE})"

    def _apply_tuned_stages(self) -> None:
        """A tuned MaxSim fusion weight on the default stage (see :mod:`recallrank.retrieval.tuning`)."""
        tuned = self._tuned_cache or {}  # nothing read yet while the retriever is built
        if "maxsim_fuse" not in tuned or not (self._default_stages and self.stages):
            return
        fuse = tuned["maxsim_fuse"]
        if hasattr(self.stages[-1].reranker, "fuse") and (fuse is None or isinstance(fuse, (int, float))):
            self.stages[-1].reranker.fuse = None if fuse is None else float(fuse)
