"""Distil the cross-encoder into the bi-encoder: for each query, the same candidates (the query's positive when it
has one, then the collection's own recall) are scored by both models, and the student learns the teacher's
distribution over them.

``kl``          KL( softmax(s_cross / T) || softmax(s_bi / T_s) ), the design's formula: ``T`` the teacher's
                temperature, ``T_s`` the student's (a cosine student's scores lie in [-1, 1], so it needs a small
                one; 0.05 as in InfoNCE).
``margin-mse``  MSE between the student's margins s_bi(q, d1) - s_bi(q, dj) and the teacher's, put on the
                student's scale by the same temperatures (teacher margin x T_s / T).

Queries need no label: the teacher labels the candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from recallrank.errors import InvalidInputError
from recallrank.training import DISTILL_LOSSES
from recallrank.training.mine import search_corpus
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
from recallrank.training.train_bi_encoder import student

log = logging.getLogger(__name__)

DistillLoss = Literal["kl", "margin-mse"]


def distill_rows(queries: Sequence[tuple[str, str | None]], recall: Callable[[list[str]], list[list[str]]],
                 teacher: Any, candidates: int = 8) -> dict[str, list[Any]]:
    """Columns ``query``, ``doc_1..doc_n`` and ``label`` (the teacher's logits for the n docs). ``recall`` maps
    query texts to candidate texts, best first; a query with fewer than n distinct candidates is left out."""
    if candidates < 2:
        raise InvalidInputError(f"distillation needs >= 2 candidates per query (a softmax over one is constant), "
                                f"got {candidates}")
    rows: dict[str, list[Any]] = {"query": [], **{f"doc_{i + 1}": [] for i in range(candidates)}, "label": []}
    short = 0
    recalled = recall([q for q, _ in queries])
    for (query, positive), found in zip(queries, recalled, strict=True):
        docs = list(dict.fromkeys(([positive] if positive else []) + [d for d in found if d.strip()]))[:candidates]
        if len(docs) < candidates:
            short += 1
            continue
        logits = teacher.logits([(query, d) for d in docs])
        rows["query"].append(query)
        for i, d in enumerate(docs):
            rows[f"doc_{i + 1}"].append(d)
        rows["label"].append([float(x) for x in logits])
    if short:
        log.warning("%d queries had fewer than %d candidates and were left out", short, candidates)
    if not rows["query"]:
        raise InvalidInputError(f"no query has {candidates} candidates in the collection; lower --candidates or "
                                "index more documents")
    return rows


def train_distill(rows: Callable[[], dict[str, list[Any]]], output: str | Path, *, base: str | None = None,
                  loss: DistillLoss = "kl", temperature: float = 1.0, student_temperature: float = 0.05,
                  pooling: str | None = None, similarity: str = "cosine", queries: int = 0,
                  schedule: Schedule | None = None, source: Any = None, overwrite: bool = False) -> Path:
    """Train the bi-encoder ``base`` on the teacher-scored ``rows()`` (made once, kept in the run folder) and
    save it in ``output`` (loads as ``BiEncoder(output)``).

    Rerunning with the same data and arguments resumes (or returns the finished model); other data or arguments
    are refused unless ``overwrite``, which starts the run over. The data is ``source`` when given: what the rows
    are made from (the queries and their positives, the teacher, the candidates), so that a rerun need not score
    them again to be checked; ``None`` makes the rows first and checks those.

    Example:
        >>> train_distill(lambda: distill_rows(qs, recall, CrossEncoderReranker()), "runs/distil",
        ...               schedule=Schedule(steps=200))                       # doctest: +SKIP
    """
    require_train_extra()
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, util
    from sentence_transformers.sentence_transformer import losses

    schedule = schedule if schedule is not None else Schedule()
    schedule.check()
    if loss not in DISTILL_LOSSES:
        raise InvalidInputError(f"loss={loss!r} is not one of {DISTILL_LOSSES}")
    if not (temperature > 0 and student_temperature > 0):
        raise InvalidInputError(f"temperatures must be > 0, got {temperature} and {student_temperature}")
    if source is None:
        made = rows()
        source, rows = made, lambda: made
    run = RunFolder(output)
    run.claim({"kind": "distill", "base": base, "loss": loss, "temperature": temperature,
               "student_temperature": student_temperature, "pooling": pooling, "similarity": similarity,
               "queries": queries, **schedule_dict(schedule)}, fingerprint(source), overwrite=overwrite)
    if run.finished():
        return run.root  # trained to the end already: the model is in the folder
    seed_everything(schedule.seed)
    model = student(base, pooling, similarity)
    data = run.rows(rows)
    fn = {"cosine": util.pairwise_cos_sim, "dot": util.pairwise_dot_score,
          "euclidean": util.pairwise_euclidean_sim}[similarity]
    if loss == "kl":
        objective: Any = losses.DistillKLDivLoss(model, similarity_fct=fn, teacher_temperature=temperature,
                                                 student_temperature=student_temperature)
    else:
        scale = student_temperature / temperature
        data = {**data, "label": [[x * scale for x in row] for row in data["label"]]}
        objective = losses.MarginMSELoss(model, similarity_fct=fn)
    args = trainer_arguments(SentenceTransformerTrainingArguments, schedule, run)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(data), loss=objective)
    summary = fit(trainer, run, schedule.max_length)
    return save(model, run, summary["steps"])


def store_recall(store: Any, encoder: Any, depth: int) -> Callable[[list[str]], list[list[str]]]:
    """Candidates from the collection as it is searched: the query embedded by ``encoder``, top ``depth`` hits."""

    def recall(queries: list[str]) -> list[list[str]]:
        vectors = encoder.encode_queries(queries)
        return [[h.document.text for h in store.search(v, depth)] for v in vectors]

    return recall


def corpus_recall(corpus: dict[str, str], encoder: Any, depth: int) -> Callable[[list[str]], list[list[str]]]:
    """Candidates from ``corpus`` (id -> text) indexed in a temporary embedded store, as recall finds them."""
    def recall(queries: list[str]) -> list[list[str]]:
        return [[text for _, text, _ in hits] for hits in search_corpus(corpus, queries, encoder, depth)]

    return recall
