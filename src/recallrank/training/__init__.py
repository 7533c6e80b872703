"""Training and evaluating both stages on a user's own data (``recallrank train ...``, ``recallrank mine``), and the
recipes that build the shipped models. The loss names are here so the command line lists them without loading
torch."""

#: bi-encoder objectives: InfoNCE with in-batch negatives, and its gradient-cache variant
BI_LOSSES: tuple[str, ...] = ("mnrl", "cached")
#: cross-encoder objectives
CROSS_LOSSES: tuple[str, ...] = ("bce", "mse", "margin", "listwise")
#: cross -> bi distillation objectives
DISTILL_LOSSES: tuple[str, ...] = ("kl", "margin-mse")
