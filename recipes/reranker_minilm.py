"""Train the default cross-encoder reranker: ``python -m recipes.reranker_minilm`` (``make reranker``).
To fine-tune a reranker on your own pairs use ``recallrank train reranker`` (:mod:`recallrank.training.train_reranker`).

Recipe: start from the bundled all-MiniLM-L6-v2 weights (optionally keeping only the first ``--layers``
layers), then binary cross-entropy on (query, positive) = 1 and (query, negative) = 0, where negatives are
mined from the bi-encoder's own Qdrant recall plus random ones, over a mixture of the training domains
(Debian English descriptions, Python docstrings, FOLDOC definitions). WordNet and Chinese Debian are never
trained on. Checkpoints are written every ``--save-steps``; running the same command again resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

from recallrank.models._loading import default_bi_encoder_path
from recallrank.models.bi_encoder import BiEncoder
from recipes.data.build import TRAIN_DOMAINS, read_pairs
from recipes.hard_negatives import mine_hard_negatives

log = logging.getLogger(__name__)


def build_training_rows(pairs_dir: Path, domains: tuple[str, ...], queries_per_domain: int, corpus_per_domain: int,
                        n_hard: int, n_random: int, seed: int, mining_max_length: int) -> dict[str, list]:
    """(query, text, label) rows, balanced across domains, from each domain's *train* split only."""
    rng = random.Random(seed)
    encoder = BiEncoder(max_length=mining_max_length, batch_size=64)
    rows: dict[str, list] = {"query": [], "text": [], "label": []}
    for domain in domains:
        train = read_pairs(pairs_dir / domain / "train.jsonl")
        rng.shuffle(train)
        chosen, corpus = train[:queries_per_domain], train[:max(corpus_per_domain, queries_per_domain)]
        hard = mine_hard_negatives(chosen, corpus, encoder, n_hard=n_hard, seed=seed)
        for p in chosen:
            randoms = [q.text for q in rng.sample(train, n_random) if q.key != p.key]
            while len(randoms) < n_random:  # drew the query's own positive: draw again (rare on real data)
                q = rng.choice(train)
                if q.key != p.key:
                    randoms.append(q.text)
            negatives = hard[p.key] + randoms
            for text, label in [(p.text, 1.0)] + [(t, 0.0) for t in negatives]:
                rows["query"].append(p.query)
                rows["text"].append(text)
                rows["label"].append(label)
        log.info("%s: %d queries, %d rows so far", domain, len(chosen), len(rows["label"]))
    order = list(range(len(rows["label"])))
    rng.shuffle(order)
    return {k: [v[i] for i in order] for k, v in rows.items()}


def new_cross_encoder(base: str, max_length: int, layers: int | None = None) -> object:
    """A cross-encoder over ``base`` (a transformers folder, e.g. the bundled MiniLM bi-encoder), cut to its first
    ``layers`` layers.

    The head is mean pooling over the joint (query, document) encoding followed by one linear unit, not
    BERT's CLS pooler: all-MiniLM-L6-v2 was trained with mean pooling and its pooler weights are unused
    (std 0.009), and with the CLS head the BCE loss stayed at the label prior for 200 steps in our runs,
    while mean pooling started learning within 40 (see the model card).
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    transformer = Transformer(base, transformer_task="feature-extraction", max_seq_length=max_length)
    hf = transformer.model
    if layers is not None and layers < len(hf.encoder.layer):
        hf.encoder.layer = hf.encoder.layer[:layers]
        hf.config.num_hidden_layers = layers
    dim = hf.config.hidden_size
    head = Dense(dim, 1, activation_function=None, module_output_name="scores")
    return CrossEncoder(modules=[transformer, Pooling(dim, pooling_mode="mean"), head])


def train(args: argparse.Namespace) -> Path:
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import set_seed

    set_seed(args.seed)
    out = Path(args.output)
    rows_path = out / "train_rows.json"
    if rows_path.exists():
        rows = json.loads(rows_path.read_text())
    else:
        rows = build_training_rows(Path(args.pairs), tuple(args.domains), args.queries_per_domain,
                                   args.corpus_per_domain, args.hard_negatives, args.random_negatives, args.seed,
                                   args.mining_max_length)
        out.mkdir(parents=True, exist_ok=True)
        rows_path.write_text(json.dumps(rows, ensure_ascii=False))
    (out / "args.json").write_text(json.dumps(vars(args), indent=1))
    model = new_cross_encoder(default_bi_encoder_path(), args.max_length, args.layers)
    training_args = CrossEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps if args.max_steps else -1,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_ratio=0.1,
        seed=args.seed,
        data_seed=args.seed,
        save_steps=args.save_steps,
        save_total_limit=2,
        logging_steps=25,
        report_to="none",
        use_cpu=True,
        dataloader_drop_last=False,
    )
    trainer = CrossEncoderTrainer(
        model=model,  # type: ignore[arg-type]
        args=training_args,
        train_dataset=Dataset.from_dict(rows),
        loss=BinaryCrossEntropyLoss(model),  # type: ignore[arg-type]
    )
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    final = out / "final"
    model.save_pretrained(str(final))  # type: ignore[attr-defined]
    history = [h for h in trainer.state.log_history if "loss" in h]
    (out / "training_log.json").write_text(json.dumps({"args": vars(args), "rows": len(rows["label"]),
                                                       "steps": trainer.state.global_step, "history": history},
                                                      indent=1, default=str))
    log.info("saved %s after %d steps", final, trainer.state.global_step)
    return final


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recipes.reranker_minilm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", default=str(Path.home() / ".cache/recallrank/datasets/pairs"),
                   help="pairs folder written by python -m recipes.data.build (default: %(default)s)")
    p.add_argument("--output", default="runs/reranker", help="run folder: rows, checkpoints, final model")
    p.add_argument("--domains", nargs="+", default=list(TRAIN_DOMAINS))
    p.add_argument("--layers", type=int, default=3, help="keep the first N of MiniLM's 6 layers")
    p.add_argument("--queries-per-domain", type=int, default=2000)
    p.add_argument("--corpus-per-domain", type=int, default=6000, help="train documents searched when mining")
    p.add_argument("--hard-negatives", type=int, default=2)
    p.add_argument("--random-negatives", type=int, default=1)
    p.add_argument("--mining-max-length", type=int, default=128)
    p.add_argument("--max-length", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--epochs", type=float, default=1.5)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--save-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=12)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
