"""Training and evaluating both stages on a user's own data, named by action: :mod:`~recallrank.training.mine`
(hard negatives from the collection's recall, ``recallrank mine``), :mod:`~recallrank.training.train_bi_encoder` and
:mod:`~recallrank.training.train_reranker` (``recallrank train bi-encoder | reranker``),
:mod:`~recallrank.training.distill` (``recallrank train distill``), :mod:`~recallrank.training.evaluate` (the
before/after table), over :mod:`~recallrank.training.inputs` (labelled pairs) and :mod:`~recallrank.training.runs`
(resumable run folders). Needs ``pip install 'recallrank[train]'``. How the shipped models themselves were built is
in ``recipes/`` of the repository, not in the package.

The loss names are here so the command line lists them without loading torch."""

#: bi-encoder objectives: InfoNCE with in-batch negatives, and its gradient-cache variant
BI_LOSSES: tuple[str, ...] = ("mnrl", "cached")
#: cross-encoder objectives
CROSS_LOSSES: tuple[str, ...] = ("bce", "mse", "margin", "listwise")
#: cross -> bi distillation objectives
DISTILL_LOSSES: tuple[str, ...] = ("kl", "margin-mse")
