"""Turn a training checkpoint into a run's ``final/`` model with its training log.

``python -m recipes.finalize_run RUN_DIR [--checkpoint N]``: used when a run is stopped at a
checkpoint (the budget ran out before the schedule ended); ``train`` itself writes both on completion. Works for
runs of :mod:`recipes.reranker_minilm` and :mod:`recipes.reranker_e5`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def finalize(run: Path, checkpoint: int | None = None) -> Path:
    from sentence_transformers import CrossEncoder

    checkpoints = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    chosen = next((c for c in checkpoints if checkpoint is not None and c.name == f"checkpoint-{checkpoint}"),
                  checkpoints[-1] if checkpoints else None)
    if chosen is None:
        raise SystemExit(f"no checkpoint in {run / 'checkpoints'}")
    state = json.loads((chosen / "trainer_state.json").read_text())
    rows_file, lists = run / "train_rows.json", sorted((run / "lists").glob("*.jsonl"))
    if rows_file.exists():  # training.reranker's rows
        size = {"rows": len(json.loads(rows_file.read_text())["label"])}
    else:  # training.distill_reranker's candidate lists
        size = {"lists": sum(len(f.read_text(encoding="utf-8").splitlines()) for f in lists)}
    CrossEncoder(str(chosen)).save_pretrained(str(run / "final"))
    args_file = run / "args.json"
    args = json.loads(args_file.read_text()) if args_file.exists() else {}
    (run / "training_log.json").write_text(json.dumps({
        "args": args, **size, "steps": state["global_step"],
        "planned_steps": state.get("max_steps"), "stopped_at_checkpoint": chosen.name,
        "history": [h for h in state["log_history"] if "loss" in h]}, indent=1))
    return run / "final"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", type=Path)
    p.add_argument("--checkpoint", type=int, default=None)
    a = p.parse_args(argv)
    print(finalize(a.run, a.checkpoint))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
