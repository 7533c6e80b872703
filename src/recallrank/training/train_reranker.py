"""Fine-tune the rerank model on a user's labelled pairs with one of four objectives:

``bce``       binary cross-entropy: (query, positive) -> 1 (or its graded ``score``), (query, negative) -> 0.
``mse``       regression of sigmoid(logit) onto graded ``score`` values in [0, 1] (every pair needs one;
              its negatives count as 0).
``margin``    pairwise hinge, max(0, m - (s(q, d+) - s(q, d-))): one positive and one negative per row.
``listwise``  ListNet: cross-entropy between the softmax of the logits and of the labels over each query's
              positive and negatives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from recallrank.errors import InvalidInputError
from recallrank.training import CROSS_LOSSES
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

CrossLoss = Literal["bce", "mse", "margin", "listwise"]

#: (query, positive text, negative texts, graded score or None)
Example = tuple[str, str, Sequence[str], float | None]


def reranker_rows(examples: Sequence[Example], loss: str) -> dict[str, list[Any]]:
    """The training columns each loss reads; refuses inputs a loss cannot use, saying what to add."""
    if loss == "mse":
        missing = sum(score is None for *_, score in examples)
        if missing:
            raise InvalidInputError(f"--loss mse regresses graded scores, but {missing} of {len(examples)} pairs "
                                    "have no 'score'; add scores in [0, 1], or use --loss bce")
    if loss in ("margin", "listwise"):
        bare = sum(not negs for _, _, negs, _ in examples)
        if bare:
            raise InvalidInputError(f"--loss {loss} needs negatives, but {bare} of {len(examples)} pairs have none; "
                                    "run `recallrank mine` on the pairs first, or add 'negatives'")
    if loss == "margin":
        rows: dict[str, list[Any]] = {"query": [], "positive": [], "negative": []}
        for query, positive, negatives, _ in examples:
            for negative in negatives:
                rows["query"].append(query)
                rows["positive"].append(positive)
                rows["negative"].append(negative)
        return rows
    if loss == "listwise":
        return {"query": [q for q, *_ in examples],
                "docs": [[pos, *negs] for _, pos, negs, _ in examples],
                "labels": [[1.0 if s is None else s] + [0.0] * len(negs) for _, _, negs, s in examples]}
    rows = {"query": [], "text": [], "label": []}
    for query, positive, negatives, score in examples:
        for text, label in [(positive, 1.0 if score is None else score), *((n, 0.0) for n in negatives)]:
            rows["query"].append(query)
            rows["text"].append(text)
            rows["label"].append(label)
    return rows


def objective(model: Any, loss: str, margin: float) -> Any:
    from sentence_transformers.cross_encoder import losses

    if loss == "bce":
        return losses.BinaryCrossEntropyLoss(model)
    if loss == "mse":
        return losses.MSELoss(model, activation_fn=torch.nn.Sigmoid())
    if loss == "listwise":
        return losses.ListNetLoss(model)
    return PairwiseMarginLoss(model, margin=margin)


def train_reranker(examples: Sequence[Example], output: str | Path, *, base: str | None = None,
                   loss: CrossLoss = "bce", margin: float = 1.0, schedule: Schedule | None = None,
                   overwrite: bool = False) -> Path:
    """Train a cross-encoder on ``(query, positive, negatives, score)`` examples and save it in ``output``, which
    then loads as ``CrossEncoderReranker(output)``. ``base`` (``None``: the shipped reranker) is fine-tuned.
    Running it again with the same examples and arguments resumes from the last checkpoint (or returns the
    finished model); other examples or arguments are refused unless ``overwrite``, which starts the run over.

    Example:
        >>> train_reranker([("mount a disk", "fstab lists filesystems", ["a text editor"], None)],
        ...                "runs/rr", loss="margin", schedule=Schedule(steps=100))   # doctest: +SKIP
    """
    require_train_extra()
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments

    schedule = schedule if schedule is not None else Schedule()
    schedule.check()
    if loss not in CROSS_LOSSES:
        raise InvalidInputError(f"loss={loss!r} is not one of {CROSS_LOSSES}")
    if not examples:
        raise InvalidInputError("no labelled pairs to train on")
    rows_now = reranker_rows(examples, loss)  # bad input is refused before the output folder is touched
    run = RunFolder(output)
    run.claim({"kind": "reranker", "base": base, "loss": loss, "margin": margin, "examples": len(examples),
               **schedule_dict(schedule)}, fingerprint(rows_now), overwrite=overwrite)
    if run.finished():
        return run.root  # trained to the end already: the model is in the folder
    seed_everything(schedule.seed)
    model = teacher_model(base)
    rows = run.rows(lambda: rows_now)
    args = trainer_arguments(CrossEncoderTrainingArguments, schedule, run)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_dict(rows),
                                  loss=objective(model, loss, margin))
    summary = fit(trainer, run, schedule.max_length)
    return save(model, run, summary["steps"])


def teacher_model(base: str | None, max_length: int | None = None) -> Any:
    """A sentence-transformers ``CrossEncoder`` in fp32 (``None``: the shipped reranker)."""
    from sentence_transformers import CrossEncoder

    from recallrank.models._loading import bilingual_reranker_path, default_reranker_path, load_error

    name = {None: default_reranker_path, "shipped": default_reranker_path,
            "bilingual": bilingual_reranker_path}.get(base, lambda: str(base))()
    try:
        model = CrossEncoder(name, model_kwargs={"dtype": torch.float32})
    except Exception as exc:
        raise load_error(name, exc) from exc
    if max_length is not None:
        model.max_seq_length = max_length
    return model


class PairwiseMarginLoss(torch.nn.Module):
    """max(0, margin - (s(q, d+) - s(q, d-))) on the cross-encoder's logits, averaged over rows of
    (query, positive, negative): the design's pairwise margin objective."""

    def __init__(self, model: Any, margin: float = 1.0) -> None:
        super().__init__()
        if not margin > 0:
            raise InvalidInputError(f"margin must be > 0, got {margin}")
        self.model, self.margin = model, margin

    def forward(self, inputs: list[list[str]], labels: Any = None, **_: Any) -> torch.Tensor:
        from sentence_transformers.util import batch_to_device

        queries, positives, negatives = inputs[0], inputs[1], inputs[2]
        pairs = list(zip(queries, positives, strict=True)) + list(zip(queries, negatives, strict=True))
        features = batch_to_device(self.model.preprocess(pairs), self.model.device)
        logits = self.model(features)["scores"].view(-1).float()
        pos, neg = logits[:len(queries)], logits[len(queries):]
        return torch.relu(self.margin - (pos - neg)).mean()

    def get_config_dict(self) -> dict[str, float]:
        return {"margin": self.margin}
