"""What every ``recallrank train ...`` run shares: its output folder (the model itself, loadable as it is, plus the
training rows, checkpoints and a log), a fixed seed, resuming, and the sentence-transformers trainer arguments.

Layout of ``--output DIR``::

    DIR/                    the trained model (``BiEncoder(DIR)`` / ``CrossEncoderReranker(DIR)``)
    DIR/recallrank_training/settings.json   what the run was asked to do and a SHA-256 of the data it trains on; a
                                            rerun with other settings or other data is refused (or, with
                                            ``overwrite``, replaces the run)
    DIR/recallrank_training/rows.json       the exact training rows (a resumed run trains on the same ones)
    DIR/recallrank_training/checkpoints/    trainer checkpoints; running the same command again resumes
    DIR/recallrank_training/log.json        loss history and the before/after evaluation
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recallrank.errors import InvalidInputError, MissingDependencyError

log = logging.getLogger(__name__)

RUN_DIR = "recallrank_training"
#: the settings key holding the SHA-256 of the training data
DATA_KEY = "data_sha256"


def require_train_extra() -> None:
    """Training needs what ``recallrank[train]`` installs (datasets, accelerate); say so instead of a bare
    ``ModuleNotFoundError`` deep in a trainer."""
    try:
        import accelerate  # noqa: F401
        import datasets  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"training needs {exc.name or 'datasets and accelerate'}, which is not "
                                     "installed: pip install 'recallrank[train]'") from exc


def fingerprint(data: Any) -> str:
    """SHA-256 of ``data`` (training rows, examples: anything JSON can write), the same on every machine and run."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass
class Schedule:
    """How long and how fast to train; ``steps`` > 0 overrides ``epochs``."""

    steps: int = 0
    epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    seed: int = 12
    save_steps: int = 50
    max_length: int | None = 256
    progress: bool = True

    def check(self) -> None:
        if self.steps < 0 or self.epochs <= 0 or self.batch_size < 1 or self.save_steps < 1:
            raise InvalidInputError(f"need steps >= 0, epochs > 0, batch_size >= 1 and save_steps >= 1, got "
                                    f"{self.steps}, {self.epochs}, {self.batch_size}, {self.save_steps}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"learning_rate must be > 0, got {self.learning_rate}")


class RunFolder:
    """The output folder of one training run."""

    def __init__(self, output: str | Path) -> None:
        self.root = Path(output)
        self.dir = self.root / RUN_DIR

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    def claim(self, settings: dict[str, Any], data: str | None = None, *, overwrite: bool = False) -> bool:
        """Record ``settings`` and ``data`` (a :func:`fingerprint` of what the run trains on) for a new run, or check
        them against the run already here; returns whether that run goes on (it resumes, or is finished).

        A run with other settings or other data is refused, naming the way out, before anything is written; with
        ``overwrite`` it is replaced (renamed aside in one step, then deleted). A run that never saved a checkpoint
        has nothing to lose and is replaced either way. A folder holding anything but a training run is always
        refused.
        """
        path = self.dir / "settings.json"
        wanted = {**json.loads(json.dumps(settings, default=str)), DATA_KEY: data}
        if path.is_file():
            before = json.loads(path.read_text(encoding="utf-8"))
            if not overwrite and before == wanted:
                return True
            if not overwrite and (self.finished() or self.last_checkpoint() is not None):
                raise InvalidInputError(self._mismatch(before, wanted))
            self._discard()
        elif self.root.exists() and any(p.name != RUN_DIR for p in self.root.iterdir()):
            raise InvalidInputError(f"{self.root} exists and is not a recallrank training run; pass a new or empty "
                                    "--output folder" + (" (--overwrite replaces only a training run)"
                                                         if overwrite else ""))
        elif self.dir.exists():
            self._discard()  # a run folder that never recorded its settings: nothing was trained in it
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(wanted, indent=1, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return False

    def _mismatch(self, before: dict[str, Any], wanted: dict[str, Any]) -> str:
        way_out = "pass another --output folder, or --overwrite (overwrite=True) to replace that run"
        if before.get(DATA_KEY) is None:
            return (f"{self.root} holds a training run that recorded no hash of its data (made by an older "
                    f"recallrank), so it cannot be told apart from a run on other data; {way_out}")
        changed = sorted(k for k in {*before, *wanted} - {DATA_KEY} if before.get(k) != wanted.get(k))
        if changed:
            shown = ", ".join(f"{k}: {before.get(k)!r} -> {wanted.get(k)!r}" for k in changed[:4])
            return f"{self.root} holds a training run with other settings ({shown}); {way_out}, or the same " \
                   "settings to resume it"
        return (f"{self.root} holds a training run on other data (training rows sha256 {before[DATA_KEY][:12]}..., "
                f"now {str(wanted[DATA_KEY])[:12]}...): the pairs, or the documents their positive_ids name, "
                f"changed; {way_out}")

    def _discard(self) -> None:
        """Delete the run here: renamed aside first, so that an interruption never leaves half a run to resume."""
        root = self.root.resolve()
        aside = root.with_name(f".{root.name}.replaced-{os.getpid()}")
        if aside.exists():
            shutil.rmtree(aside)
        root.rename(aside)
        shutil.rmtree(aside)
        log.info("replaced the training run in %s", self.root)

    def rows(self, build: Any) -> dict[str, list[Any]]:
        """The training rows: read back when this run made them already, else ``build()`` and keep them."""
        path = self.dir / "rows.json"
        if path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
        rows = build()
        if not rows or not next(iter(rows.values())):
            raise InvalidInputError("no training rows could be made from the input")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return dict(rows)

    def last_checkpoint(self) -> str | None:
        found = sorted(self.checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        return str(found[-1]) if found else None

    def finished(self) -> bool:
        """Whether this run trained to the end already (its model is saved in the folder)."""
        path = self.dir / "log.json"
        return path.is_file() and bool(json.loads(path.read_text(encoding="utf-8")).get("finished"))

    def write_log(self, **entries: Any) -> None:
        path = self.dir / "log.json"
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        path.write_text(json.dumps({**old, **entries}, indent=1, default=str, ensure_ascii=False), encoding="utf-8")


def trainer_arguments(cls: Any, schedule: Schedule, run: RunFolder, **extra: Any) -> Any:
    """``SentenceTransformerTrainingArguments`` / ``CrossEncoderTrainingArguments`` for ``schedule``: seeded,
    checkpointing into the run folder, CPU unless a GPU is there, a progress bar unless switched off."""
    import torch

    return cls(
        output_dir=str(run.checkpoints),
        num_train_epochs=schedule.epochs,
        max_steps=schedule.steps if schedule.steps else -1,
        per_device_train_batch_size=schedule.batch_size,
        learning_rate=schedule.learning_rate,
        warmup_steps=schedule.warmup_ratio,  # a float below 1 is a fraction of the steps (transformers 5)
        seed=schedule.seed,
        data_seed=schedule.seed,
        save_steps=schedule.save_steps,
        save_total_limit=2,
        logging_steps=max(1, min(25, schedule.save_steps)),
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=not schedule.progress,
        dataloader_drop_last=False,
        **extra,
    )


def fit(trainer: Any, run: RunFolder, max_length: int | None = None) -> dict[str, Any]:
    """Train (resuming from the run's last checkpoint) at ``max_length`` tokens per text, and return the loss
    history. The model keeps its own token limit afterwards: a shorter training length is a speed trade that
    must not truncate what the saved model reads."""
    model = trainer.model
    own = model.max_seq_length
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        trainer.train(resume_from_checkpoint=run.last_checkpoint())
    finally:
        model.max_seq_length = own
    history = [h for h in trainer.state.log_history if "loss" in h]
    summary = {"steps": trainer.state.global_step, "history": history}
    run.write_log(**summary)
    return summary


def save(model: Any, run: RunFolder, steps: int) -> Path:
    """Save the trained model in the run folder and mark the run finished: running the same command again then
    returns at once (a resumed trainer would otherwise take one more step when the last step fell mid-epoch)."""
    model.save_pretrained(str(run.root))
    run.write_log(finished=True)
    log.info("saved %s after %d steps", run.root, steps)
    return run.root


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def schedule_dict(schedule: Schedule) -> dict[str, Any]:
    """The schedule as recorded with a run (the progress bar is not part of what was trained)."""
    return {k: v for k, v in asdict(schedule).items() if k != "progress"}
