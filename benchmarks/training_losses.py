"""The training toolkit's loss table: the same pairs and steps through each objective, held-out nDCG@10 per domain.

Fine-tuning data: one domain's *train* split (default python-docs: docstring summary -> body), indexed in an
embedded store exactly as a user's collection would be; hard negatives come from ``recallrank.training.mine`` on
that index. Every model is then judged on the frozen *test* splits of every domain (the trained one and the
held-out ones), which no run here trains on.

Bi-encoder (all-MiniLM-L6-v2 as base; nDCG@10 of the bi-encoder alone):
  in-batch        InfoNCE, in-batch negatives only
  + hard          InfoNCE + 1 mined hard negative per query
  + distill       KL distillation from the shipped reranker over each query's positive + 4 recalled candidates
  + hard, then distill  the + hard model, then distilled as above
  distill, 3 domains  the same, on queries from the debian-en, python-docs and foldoc train splits together
Reranker (the shipped 3-layer reranker as base; nDCG@10 of two-stage over the base bi-encoder's top_k):
  bce, mse (labels 1/0: the pairs are not graded), margin (pairwise hinge), listwise (ListNet)

Rerunning resumes: models are kept under --runs and every (model, domain) figure in --cache.

    python benchmarks/training_losses.py                        # the full table (~1 h on 2 cores)
    python benchmarks/training_losses.py --steps 4 --queries 20  # a smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, machine

DOMAINS = ("python-docs", "debian-en", "foldoc", "wordnet", "faq-en", "debian-zh", "gnome-help-zh")
DATA = Path(__file__).parents[1] / "src" / "recallrank" / "datasets" / "data"


def train_pairs(pairs_dir: Path, domain: str, n: int, seed: int) -> list[Any]:
    from recipes.data.build import read_pairs

    path = pairs_dir / domain / "train.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `make data` (python -m recipes.data.build) first")
    pairs = read_pairs(path)
    random.Random(seed).shuffle(pairs)
    return pairs[:n]


def build_index(pairs: list[Any], where: Path) -> Any:
    """The train corpus in an embedded store, as `recallrank index` would hold it (ids = pair keys)."""
    from recallrank import BiEncoder, Document, EdgeStore, TwoStageRetriever

    retriever = TwoStageRetriever(EdgeStore(where, "train"), BiEncoder(), False)
    if not retriever.store.exists() or retriever.store.count() < len(pairs):
        retriever.add_documents([Document(p.text, id=p.key) for p in pairs], batch_size=256)
    return retriever


def mined_examples(retriever: Any, pairs: list[Any], path: Path) -> list[dict[str, Any]]:
    from recallrank.training.inputs import LabelledPair
    from recallrank.training.mine import mine, write_jsonl

    if not path.is_file():
        labelled = [LabelledPair(p.query, positive_id=p.key, line=i + 1) for i, p in enumerate(pairs)]
        write_jsonl(mine(retriever, labelled, negatives=3, depth=30, margin=0.05), path)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def train_all(args: argparse.Namespace) -> dict[str, tuple[str, str]]:
    """name -> (kind, model folder), training what is not trained yet."""
    from recallrank import CrossEncoderReranker
    from recallrank.training.distill import distill_rows, store_recall, train_distill
    from recallrank.training.runs import Schedule
    from recallrank.training.train_bi_encoder import train_bi_encoder
    from recallrank.training.train_reranker import train_reranker

    runs = Path(args.runs)
    pairs = train_pairs(Path(args.pairs), args.domain, args.train_queries, args.seed)
    retriever = build_index(pairs, runs / "index")
    rows = mined_examples(retriever, pairs, runs / "mined.jsonl")
    log.info("%d training queries, %d with >= 1 mined negative", len(rows), sum(bool(r["negatives"]) for r in rows))
    bi = Schedule(steps=args.steps, batch_size=args.batch_size, learning_rate=args.bi_lr, seed=args.seed,
                  save_steps=50, max_length=args.max_length)
    models: dict[str, tuple[str, str]] = {"base": ("bi", "")}
    plain = [(r["query"], r["positive"], ()) for r in rows]
    hard = [(r["query"], r["positive"], tuple(r["negatives"][:1])) for r in rows]
    models["in-batch"] = ("bi", str(train_bi_encoder(plain, runs / "bi-in-batch", schedule=bi)))
    models["+ hard"] = ("bi", str(train_bi_encoder(hard, runs / "bi-hard", hard_negatives=1, schedule=bi)))
    teacher = CrossEncoderReranker(precision="bf16")
    queries = [(r["query"], r["positive"]) for r in rows]
    distil = Schedule(steps=args.steps, batch_size=max(1, args.batch_size // 4), learning_rate=args.bi_lr,
                      seed=args.seed, save_steps=50, max_length=args.max_length)

    def teacher_rows() -> dict[str, list[Any]]:
        return distill_rows(queries, store_recall(retriever.store, retriever.encoder, args.candidates), teacher,
                            args.candidates)

    models["+ distill"] = ("bi", str(train_distill(teacher_rows, runs / "bi-distill", schedule=distil)))
    models["+ hard, then distill"] = ("bi", str(train_distill(teacher_rows, runs / "bi-hard-distill",
                                                              base=models["+ hard"][1], schedule=distil)))
    if args.distill_domains:
        models["distill, 3 domains"] = ("bi", str(distill_mix(args, teacher, distil)))
    rr = Schedule(steps=args.steps, batch_size=args.batch_size, learning_rate=args.rr_lr, seed=args.seed,
                  save_steps=50, max_length=args.max_length)
    models["reranker base"] = ("rr", "")
    for loss in ("bce", "mse", "margin", "listwise"):
        # the pairs are not graded: mse regresses the same 1/0 labels bce classifies
        examples = [(r["query"], r["positive"], tuple(r["negatives"][:2]), 1.0 if loss == "mse" else None)
                    for r in rows if r["negatives"]]
        folder = train_reranker(examples, runs / f"rr-{loss}", loss=loss, schedule=rr)  # type: ignore[arg-type]
        models[f"reranker {loss}"] = ("rr", str(folder))
    retriever.store.close()
    return models


def distill_mix(args: argparse.Namespace, teacher: Any, schedule: Any) -> Path:
    """Distillation on unlabelled-style queries from several train splits (the teacher's own training domains),
    each recalled from an index of its domain's train documents."""
    from recallrank.training.distill import distill_rows, store_recall, train_distill

    runs = Path(args.runs)
    per = args.train_queries // len(args.distill_domains)

    def rows() -> dict[str, list[Any]]:
        merged: dict[str, list[Any]] = {}
        for domain in args.distill_domains:
            pairs = train_pairs(Path(args.pairs), domain, args.train_queries, args.seed)
            retriever = build_index(pairs, runs / f"index-{domain}")
            part = distill_rows([(p.query, p.text) for p in pairs[:per]],
                                store_recall(retriever.store, retriever.encoder, args.candidates), teacher,
                                args.candidates)
            retriever.store.close()
            for k, v in part.items():
                merged.setdefault(k, []).extend(v)
        order = list(range(len(merged["query"])))
        random.Random(args.seed).shuffle(order)
        return {k: [v[i] for i in order] for k, v in merged.items()}

    return train_distill(rows, runs / "bi-distill-mix", schedule=schedule)


def evaluate(models: dict[str, tuple[str, str]], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from recallrank import BiEncoder, CrossEncoderReranker
    from recallrank.datasets.beir import load_beir
    from recallrank.evaluation.harness import compare

    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    index_dir = Path(args.runs) / "eval-index"  # each (domain, bi-encoder) corpus is embedded once
    for name, (kind, folder) in models.items():
        for domain in args.domains:
            key = f"{name}|{folder}|{domain}|{args.queries}|{args.top_k}"
            if key in cache:
                continue
            ds = load_beir(DATA / domain / "test", "test", name=domain)
            t = time.perf_counter()
            if kind == "bi":
                res = compare(ds.subset(args.queries), BiEncoder(folder or None, precision="bf16"), False,
                              top_k=args.top_k, index_dir=index_dir)
                cache[key] = res.metrics["bi"]
            else:
                rr = CrossEncoderReranker(folder or None, precision="bf16")
                # fuse=False: the shipped model's calibrated fusion was fitted to it, not to the fine-tuned ones,
                # so every reranker is compared by its own order over the same candidates
                res = compare(ds.subset(args.rr_queries), BiEncoder(precision="bf16"), rr, top_k=args.top_k,
                              index_dir=index_dir, fuse=False)
                cache[key] = {**{f"two_stage_{k}": v for k, v in res.metrics["two_stage"].items()},
                              **{f"cross_{k}": v for k, v in res.metrics["rerank_only_order"].items()},
                              **{f"bi_{k}": v for k, v in res.metrics["bi"].items()}}
            log.info("%s on %s: %.1f s", name, domain, time.perf_counter() - t)
            cache_path.write_text(json.dumps(cache, indent=1))
    return {name: {d: cache[f"{name}|{folder}|{d}|{args.queries}|{args.top_k}"]
                   .get("ndcg@10", cache[f"{name}|{folder}|{d}|{args.queries}|{args.top_k}"].get("two_stage_ndcg@10"))
                   for d in args.domains} for name, (_, folder) in models.items()}


def report(models: dict[str, tuple[str, str]], table: dict[str, dict[str, float]], args: argparse.Namespace,
           seconds: float) -> str:
    domains = args.domains
    head = f"| model | {' | '.join(domains)} |\n|---|{'---|' * len(domains)}"

    def rows(kind: str, base: str) -> list[str]:
        out = []
        for name, (k, _) in models.items():
            if k != kind:
                continue
            cells = [f"{table[name][d]:.4f}" + ("" if name == base else f" ({table[name][d] - table[base][d]:+.4f})")
                     for d in domains]
            out.append(f"| {name} | {' | '.join(cells)} |")
        return out

    others = [d for d in domains if d != args.domain]

    def bar(name: str) -> str:
        seen = args.distill_domains if name == "distill, 3 domains" else [args.domain]
        unseen = [d for d in domains if d not in seen]
        gain = table[name][args.domain] - table["base"][args.domain]
        worst_d = min(others, key=lambda d: table[name][d] - table["base"][d])
        worst = table[name][worst_d] - table["base"][worst_d]
        lifted = [d for d in unseen if table[name][d] - table["base"][d] >= 0.02]
        every = min(domains, key=lambda d: table[name][d] - table["base"][d])
        return (f"- **{name}** (train splits seen: {', '.join(seen)}): {args.domain} test {gain:+.4f} (bar >= +0.05: "
                f"{'met' if gain >= 0.05 else 'not met'}); worst other domain {worst_d} {worst:+.4f} (bar >= -0.01: "
                f"{'met' if worst >= -0.01 else 'not met'}); unseen domains lifted by >= 0.02: "
                f"{', '.join(lifted) or 'none'}; beats all-MiniLM-L6-v2 on every domain: "
                f"{'yes' if table[name][every] > table['base'][every] else 'no'} (smallest change {every} "
                f"{table[name][every] - table['base'][every]:+.4f})")

    lines = [
        "# Training toolkit: loss table",
        "",
        f"- date: {time.strftime('%Y-%m-%d')}; machine: {machine()}",
        f"- command: `python benchmarks/training_losses.py {' '.join(sys.argv[1:])}` ({seconds / 60:.0f} min "
        "including training; models and figures cached, so a rerun only reports)",
        f"- training data: {args.train_queries} pairs of the {args.domain} *train* split, indexed in an embedded "
        "store; hard negatives from `recallrank.training.mine` (depth 30, margin 0.05) on that index",
        f"- every run: {args.steps} steps, batch {args.batch_size} (distillation: {max(1, args.batch_size // 4)} "
        f"queries x {args.candidates} candidates), seed {args.seed}, max_length {args.max_length}; "
        f"bi-encoder lr {args.bi_lr}, reranker lr {args.rr_lr}",
        f"- evaluation: the frozen *test* split of each domain (first {args.queries} queries for bi-encoders, "
        f"{args.rr_queries} for rerankers; top_k {args.top_k}), never trained on",
        "",
        "## Bi-encoder alone, nDCG@10 (change against all-MiniLM-L6-v2)",
        "",
        head, *rows("bi", "base"),
        "",
        "## Two-stage (all-MiniLM-L6-v2 top_k, reranked by the cross-encoder alone, no fusion), nDCG@10 "
        "(change against the shipped reranker)",
        "",
        head, *rows("rr", "reranker base"),
        "",
        "## Bars",
        "",
        *[bar(n) for n, (k, _) in models.items() if k == "bi" and n != "base"],
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", default=str(Path.home() / ".cache/recallrank/datasets/pairs"))
    p.add_argument("--domain", default="python-docs", help="domain whose train split is fine-tuned on")
    p.add_argument("--domains", nargs="+", default=list(DOMAINS), help="test splits evaluated")
    p.add_argument("--train-queries", type=int, default=3840)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--bi-lr", type=float, default=2e-5)
    p.add_argument("--rr-lr", type=float, default=2e-5)
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--queries", type=int, default=200, help="test queries per domain for the bi-encoders")
    p.add_argument("--rr-queries", type=int, default=100, help="test queries per domain for the rerankers")
    p.add_argument("--candidates", type=int, default=5, help="documents per query in distillation")
    p.add_argument("--distill-domains", nargs="*", default=["debian-en", "python-docs", "foldoc"],
                   help="also distil on queries from these train splits together (the teacher's own domains)")
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--runs", default="runs/losses")
    p.add_argument("--cache", default="runs/losses/figures.json")
    p.add_argument("--out", default=str(RESULTS / "training_losses.md"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    t = time.perf_counter()
    models = train_all(args)
    table = evaluate(models, args)
    text = report(models, table, args, time.perf_counter() - t)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


log = logging.getLogger("training_losses")

if __name__ == "__main__":
    raise SystemExit(main())
