"""``recallrank train bi-encoder | reranker | distill``: fine-tune either stage on your own labelled pairs (JSONL or
a BEIR folder) against your own index, and print the before/after table on a held-out split."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from recallrank.cli.options import TRAIN, add_options, resolve
from recallrank.errors import InvalidInputError
from recallrank.redact import redact_url
from recallrank.retrieval.tuning import DEFAULT_TOP_K


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``train`` and its three sub-commands."""
    from recallrank.training import BI_LOSSES, CROSS_LOSSES, DISTILL_LOSSES

    train = sub.add_parser("train", parents=[common], help="fine-tune the bi-encoder or the reranker on your pairs",
                           description="Fine-tune a stage on labelled pairs (JSONL lines {query, positive | "
                           "positive_id, negatives?, score?}, `recallrank mine` output, or a BEIR folder). "
                           "positive_id values are looked up in the index; the index is never modified. The "
                           "output folder loads as the model; rerunning the same command resumes.")
    what = train.add_subparsers(dest="what", required=True, metavar="WHAT")
    bi = what.add_parser("bi-encoder", parents=[common], help="InfoNCE with in-batch (+ hard) negatives",
                         description="InfoNCE / MultipleNegativesRankingLoss with in-batch negatives and the pairs' "
                         "own negatives (see `recallrank mine`); --loss cached fits large batches in CPU memory. "
                         "Re-embed the index with the new model afterwards: recallrank index --reembed.")
    bi.add_argument("--loss", choices=BI_LOSSES, default="mnrl", help="mnrl, or cached (gradient cache)")
    bi.add_argument("--temperature", type=float, default=0.05, help="softmax temperature T (scale 1/T; 0.05)")
    bi.add_argument("--hard-negatives", type=int, default=0, metavar="N",
                    help="negatives per query taken from each pair's 'negatives' (default 0: in-batch only)")
    bi.add_argument("--mini-batch-size", type=int, default=16, help="forward chunk of --loss cached (default 16)")
    bi.add_argument("--pooling", choices=("cls", "mean", "max", "weighted-mean"), default=None,
                    help="pooling of the trained model (default: the base model's own)")
    rr = what.add_parser("reranker", parents=[common], help="cross-encoder with bce, mse, margin or listwise loss",
                         description="Fine-tune a cross-encoder (default: the shipped reranker) on your pairs.")
    rr.add_argument("--loss", choices=CROSS_LOSSES, default="bce",
                    help="bce; mse (needs graded 'score'); margin (pairwise hinge, needs negatives); listwise "
                    "(ListNet over positive + negatives)")
    rr.add_argument("--margin", type=float, default=1.0, help="hinge margin of --loss margin, in logits")
    ds = what.add_parser("distill", parents=[common], help="the reranker teaches the bi-encoder (KL or Margin-MSE)",
                         description="Each query's candidates (its positive if labelled, then the index's recall) "
                         "are scored by the teacher; the bi-encoder learns the teacher's softmax over them. Lines may "
                         "hold a query alone.")
    ds.add_argument("--teacher", default=None, metavar="RERANKER",
                    help="cross-encoder teacher: 'shipped' (default), 'bilingual', a folder or hub id")
    ds.add_argument("--loss", choices=DISTILL_LOSSES, default="kl")
    ds.add_argument("--temperature", type=float, default=1.0, help="teacher temperature T (default 1)")
    ds.add_argument("--student-temperature", type=float, default=0.05, help="student temperature (default 0.05)")
    ds.add_argument("--candidates", type=int, default=8, help="documents per query in the softmax (default 8)")
    for p, lr in ((bi, 2e-5), (rr, 2e-5), (ds, 2e-5)):
        p.add_argument("pairs", metavar="PAIRS", help="JSONL file of labelled pairs, or a BEIR folder")
        p.add_argument("--output", required=True, metavar="DIR", help="run folder; holds the trained model")
        p.add_argument("--overwrite", action="store_true",
                       help="start over, replacing the training run already in --output (without it, a run on other "
                       "pairs or settings is refused, and the same command resumes)")
        p.add_argument("--base", default=None, metavar="MODEL",
                       help="model to fine-tune (default: --bi-encoder for bi-encoders, the shipped reranker for "
                       "rerankers)")
        p.add_argument("--steps", type=int, default=0, help="training steps (default: --epochs)")
        p.add_argument("--epochs", type=float, default=1.0)
        p.add_argument("--batch-size", type=int, default=16, help="examples per step (default 16)")
        p.add_argument("--learning-rate", type=float, default=lr)
        p.add_argument("--max-length", type=int, default=256, help="tokens per text (pair, for rerankers)")
        p.add_argument("--seed", type=int, default=12)
        p.add_argument("--save-steps", type=int, default=50, help="checkpoint every N steps (default 50)")
        p.add_argument("--split", default="train", help="qrels split of a BEIR folder (default train)")
        p.add_argument("--eval-pairs", default=None, metavar="JSONL",
                       help="held-out pairs for the before/after table (default: --eval-fraction of PAIRS)")
        p.add_argument("--eval-fraction", type=float, default=0.1,
                       help="fraction of queries held out of training for evaluation (default 0.1; 0 skips it)")
        p.add_argument("--eval-queries", type=int, default=200, help="held-out queries evaluated (default 200)")
        p.add_argument("--eval-documents", type=int, default=5000,
                       help="corpus of the evaluation: the positives plus distractors from the index (default 5000)")
        p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
        add_options(p, *TRAIN)


def run(args: argparse.Namespace) -> int:
    from recallrank.training.inputs import read_pairs, read_training_input, split_held_out
    from recallrank.training.runs import Schedule

    resolve(args, TRAIN)
    s = args.settings
    data = read_training_input(args.pairs, split=args.split, require_positive=args.what != "distill")
    schedule = Schedule(steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, seed=args.seed, save_steps=args.save_steps,
                        max_length=args.max_length, progress=True)
    schedule.check()
    if args.eval_pairs:
        train_pairs, held = data.pairs, read_pairs(args.eval_pairs)
    else:
        labelled = [p for p in data.pairs if p.positive is not None or p.positive_id is not None]
        _, held = split_held_out(labelled, args.eval_fraction, args.seed)
        held_queries = {p.query for p in held}
        train_pairs = [p for p in data.pairs if p.query not in held_queries]
    store = _store(s, needed=any(p.positive_id for p in [*train_pairs, *held])
                   or (args.what == "distill" and not data.corpus))
    from recallrank.training.mine import positives

    # unknown ids in either set are refused before any training; each set is resolved on its own, since positives
    # are keyed by line number and an --eval-pairs file numbers its lines from 1 too
    positives(store, held)
    resolved = positives(store, train_pairs)
    out = Path(args.output)
    if args.what == "bi-encoder":
        from recallrank.training.train_bi_encoder import examples_from_pairs, train_bi_encoder

        base = args.base if args.base is not None else s["bi_encoder"]
        model = train_bi_encoder(examples_from_pairs(train_pairs, resolved), out, base=base, loss=args.loss,
                                 temperature=args.temperature, hard_negatives=args.hard_negatives,
                                 mini_batch_size=args.mini_batch_size, pooling=args.pooling, schedule=schedule,
                                 overwrite=args.overwrite)
        before, after = _bi_variants(base, str(model), s)
    elif args.what == "reranker":
        from recallrank.training.train_reranker import train_reranker

        examples = [(p.query, resolved[p.line][0], p.negatives, p.score) for p in train_pairs if p.line in resolved]
        model = train_reranker(examples, out, base=args.base, loss=args.loss, margin=args.margin, schedule=schedule,
                               overwrite=args.overwrite)
        before, after = _reranker_variants(args.base, str(model), s)
    else:
        model, before, after = _distill(args, s, train_pairs, resolved, data.corpus, store, schedule)
    summary: dict[str, Any] = {"model": str(model), "trained_pairs": len(train_pairs), "held_out_pairs": len(held)}
    if held:
        summary["evaluation"] = _evaluate(args, held, store, data.corpus, before, after,
                                           s["top_k"] if s["top_k"] is not None else DEFAULT_TOP_K, out)
    if store is not None:
        store.close()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"trained {args.what} -> {model} (loads as "
              f"{'CrossEncoderReranker' if args.what == 'reranker' else 'BiEncoder'}({str(model)!r}))")
        if args.what != "reranker":
            print("the index still holds the old model's vectors: re-embed it with "
                  f"recallrank index --reembed --bi-encoder {model}", file=sys.stderr)
    return 0


def _store(s: dict[str, Any], needed: bool) -> Any:
    """The user's index, opened read-only in spirit (nothing is written); ``None`` when there is none and none is
    needed."""
    from recallrank.index.open import open_store

    store = open_store(None if s["url"] else s["path"], s["url"], s["collection"], api_key=s["api_key"])
    if store.exists():
        store.open()
        return store
    if needed:
        where = redact_url(s["url"]) or f"{s['path']}/{s['collection']}"
        raise InvalidInputError(f"no index at {where}: positive_id lookups and distillation candidates come from "
                                "it; pass --path/--url and --collection of your index, or give positives as text")
    return None


def _bi_variants(base: str | None, trained: str, s: dict[str, Any]) -> tuple[Any, Any]:
    from recallrank.cascade import bi_encoder, cross_encoder

    reranker = cross_encoder(s["reranker"], s["precision"])
    return (("before", bi_encoder(base, s["precision"]), reranker),
            ("after", bi_encoder(trained, s["precision"]), reranker))


def _reranker_variants(base: str | None, trained: str, s: dict[str, Any]) -> tuple[Any, Any]:
    from recallrank.cascade import bi_encoder, cross_encoder

    encoder = bi_encoder(s["bi_encoder"], s["precision"])
    return (("before", encoder, cross_encoder(base, s["precision"])),
            ("after", encoder, cross_encoder(trained, s["precision"])))


def _distill(args: argparse.Namespace, s: dict[str, Any], pairs: list[Any], resolved: dict[int, Any],
             corpus: dict[str, str], store: Any, schedule: Any) -> tuple[Any, Any, Any]:
    from recallrank.cascade import bi_encoder, cross_encoder
    from recallrank.training.distill import distill_rows, store_recall, train_distill
    from recallrank.training.runs import fingerprint

    base = args.base if args.base is not None else s["bi_encoder"]
    teacher = cross_encoder(args.teacher, s["precision"])
    queries = list(dict.fromkeys((p.query, resolved[p.line][0] if p.line in resolved else None) for p in pairs))
    encoder = bi_encoder(base, s["precision"])

    def rows() -> dict[str, list[Any]]:
        if corpus:  # a BEIR folder brings its documents: recall them as an index would
            from recallrank.training.distill import corpus_recall

            return distill_rows(queries, corpus_recall(corpus, encoder, args.candidates), teacher, args.candidates)
        return distill_rows(queries, store_recall(store, encoder, args.candidates), teacher, args.candidates)

    source = {"queries": queries, "teacher": args.teacher, "candidates": args.candidates,
              "corpus": fingerprint(corpus) if corpus else None}  # what the rows are made from
    model = train_distill(rows, args.output, base=base, loss=args.loss, temperature=args.temperature,
                          student_temperature=args.student_temperature, queries=len(queries), schedule=schedule,
                          source=source, overwrite=args.overwrite)
    reranker = cross_encoder(s["reranker"], s["precision"])
    return model, ("before", encoder, reranker), ("after", bi_encoder(str(model), s["precision"]), reranker)


def _evaluate(args: argparse.Namespace, held: list[Any], store: Any, corpus: dict[str, str], before: Any,
              after: Any, top_k: int, out: Path) -> list[dict[str, Any]]:
    from recallrank.training.evaluate import before_after, held_out_set, table
    from recallrank.training.runs import RunFolder

    ds = held_out_set(held, store, corpus, max_documents=args.eval_documents).subset(args.eval_queries)
    rows = before_after(ds, [before, after], top_k=top_k)
    text = table(rows, top_k, f"held-out: {len(ds.queries)} queries, {len(ds.corpus)} documents, top_k={top_k}")
    if not args.json:
        print(text)
    run = RunFolder(out)
    run.write_log(evaluation=rows)
    (run.dir / "evaluation.txt").write_text(text + "\n", encoding="utf-8")
    return rows
