"""Train the late-interaction stages: a ColBERT and a Poly-encoder from the bundled MiniLM.

    python -m recipes.late_minilm --pairs ~/.cache/recallrank/datasets/pairs --output runs/li

Data: the training splits of the domains the reranker trains on (Debian English descriptions, Python docstrings,
FOLDOC); no evaluation source is read. For each query: its positive, hard negatives from the bi-encoder's exact
top ``--depth`` over that domain's training corpus, and one random negative. The teacher is zero-shot MaxSim (the
bi-encoder's own normalised token vectors), the stage that measured best on held-out questions.

ColBERT (``MultiVectorEncoder``, sentence-transformers' trainer and losses): the bi-encoder, a projection to
``--dim`` (initialised with the top principal directions of the zero-shot token vectors, so step 0 is the
zero-shot model at a smaller size), ``[unused0]`` / ``[unused1]`` query and document markers, punctuation skipped on
the document side, optional ColBERT query expansion with ``[MASK]`` (``--query-expansion N``). Losses: in-batch +
hard-negative InfoNCE (``MultiVectorMultipleNegativesRankingLoss``) on the labels and KL distillation
(``MultiVectorDistillKLDivLoss``) from the teacher, in alternating batches.

Poly-encoder (:mod:`recallrank.models.poly_encoder`): the query tower's top layers and the codes, against the
bi-encoder's frozen document vectors; InfoNCE over the candidate list plus in-batch positives, and KL to the teacher.

Embeddings and the lower ``--frozen-layers`` layers stay frozen in both, so a model ships as its upper layers only.
Runs on a GPU when there is one (bf16); everything also runs on CPU with small ``--queries-per-domain``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import string
import time
from pathlib import Path
from typing import Any

from recallrank.models._loading import default_bi_encoder_path
from recipes.data.build import TRAIN_DOMAINS, read_pairs

log = logging.getLogger(__name__)

QUERY_MARKER, DOCUMENT_MARKER = "[unused0] ", "[unused1] "


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def candidate_rows(pairs_dir: Path, domains: tuple[str, ...], per_domain: int, corpus_per_domain: int, depth: int,
                   n_hard: int, seed: int, base: str) -> list[dict[str, Any]]:
    """``{"query", "docs": [positive, negatives...]}`` rows; hard negatives from the exact cosine top ``depth``."""
    import torch
    from sentence_transformers import SentenceTransformer

    rng = random.Random(seed)
    bi = SentenceTransformer(base, device=device_name())
    rows: list[dict[str, Any]] = []
    for domain in domains:
        train = read_pairs(pairs_dir / domain / "train.jsonl")
        rng.shuffle(train)
        chosen, corpus = train[:per_domain], train[:max(corpus_per_domain, per_domain)]
        dvec = bi.encode([p.text for p in corpus], batch_size=256, convert_to_tensor=True, normalize_embeddings=True)
        qvec = bi.encode([p.query for p in chosen], batch_size=256, convert_to_tensor=True, normalize_embeddings=True)
        top = torch.topk(qvec @ dvec.T, min(depth + 1, len(corpus)), dim=1).indices.tolist()
        for i, p in enumerate(chosen):
            pool = [j for j in top[i] if corpus[j].key != p.key and corpus[j].text != p.text][:depth]
            hard = [corpus[j].text for j in rng.sample(pool, min(n_hard, len(pool)))]
            rand = next(q.text for q in (rng.choice(corpus) for _ in range(1000)) if q.key != p.key)
            rows.append({"query": p.query, "docs": [p.text, *hard, rand], "domain": domain})
        log.info("%s: %d queries mined over %d documents", domain, len(chosen), len(corpus))
    width = min(len(r["docs"]) for r in rows)
    rng.shuffle(rows)
    return [{**r, "docs": r["docs"][:width]} for r in rows]


def zero_shot_teacher(rows: list[dict[str, Any]], base: str) -> None:
    """Adds ``teacher``: zero-shot MaxSim of each row's query against its documents."""
    import torch
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    teacher = MultiVectorEncoder(modules=[Transformer(base), Normalize(module_input_name="token_embeddings"),
                                          MultiVectorMask()], device=device_name())
    texts = sorted({d for r in rows for d in r["docs"]})
    index = {t: i for i, t in enumerate(texts)}
    docs = teacher.encode_document(texts, batch_size=256)
    queries = teacher.encode_query([r["query"] for r in rows], batch_size=256)
    with torch.inference_mode():
        for r, q in zip(rows, queries, strict=True):
            r["teacher"] = [float((q @ docs[index[d]].T).max(dim=1).values.sum()) for d in r["docs"]]


def freeze_lower(hf_model: Any, frozen_layers: int) -> None:
    for p in hf_model.embeddings.parameters():
        p.requires_grad = False
    for layer in hf_model.encoder.layer[:frozen_layers]:
        for p in layer.parameters():
            p.requires_grad = False


def new_colbert(base: str, dim: int, query_expansion: int, pca_texts: list[str], frozen_layers: int,
                query_length: int = 32, document_length: int = 256) -> Any:
    """A ColBERT over ``base`` whose projection starts as the top ``dim`` principal directions of its token vectors."""
    import torch
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    from tokenizers import AddedToken

    expansion = {"strategy": "min", "length": query_expansion} if query_expansion else None
    transformer = Transformer(base, query_length=max(query_length, query_expansion), document_length=document_length,
                              query_expansion=expansion)
    transformer.tokenizer.add_special_tokens({"additional_special_tokens": [
        AddedToken(m.strip(), normalized=False, special=True) for m in (QUERY_MARKER, DOCUMENT_MARKER)]})
    hidden = transformer.get_embedding_dimension()
    dense = Dense(hidden, dim, bias=False, activation_function=torch.nn.Identity(),
                  module_input_name="token_embeddings")
    model = MultiVectorEncoder(modules=[transformer, dense, MultiVectorMask(skiplist_words=list(string.punctuation)),
                                        Normalize(module_input_name="token_embeddings")],
                               prompts={"query": QUERY_MARKER, "document": DOCUMENT_MARKER}, device=device_name())
    # the top principal directions of the (normalised) zero-shot token vectors: no centring, MaxSim is a dot product
    zero = MultiVectorEncoder(modules=[Transformer(base), Normalize(module_input_name="token_embeddings"),
                                       MultiVectorMask()], device=device_name())
    tokens = torch.cat([t.float() for t in zero.encode_document(pca_texts, batch_size=128)])
    _, _, vh = torch.linalg.svd(tokens, full_matrices=False)
    with torch.no_grad():
        dense.linear.weight.copy_(vh[:dim].to(dense.linear.weight.device))
    freeze_lower(transformer.model, frozen_layers)
    return model


def train_colbert(rows: list[dict[str, Any]], args: argparse.Namespace, dim: int, expansion: int, out: Path) -> Path:
    from datasets import Dataset
    from sentence_transformers import MultiVectorEncoderTrainer, MultiVectorEncoderTrainingArguments
    from sentence_transformers.multi_vector_encoder.losses import (
        MultiVectorDistillKLDivLoss,
        MultiVectorMultipleNegativesRankingLoss,
    )

    rng = random.Random(args.seed)
    pca_texts = rng.sample([r["docs"][0] for r in rows], min(2000, len(rows)))
    model = new_colbert(args.base, dim, expansion, pca_texts, args.frozen_layers)
    n = len(rows[0]["docs"])
    columns = ["query", "positive", *[f"negative_{i}" for i in range(1, n)]]

    def table(part: list[dict[str, Any]], teacher: bool) -> Any:
        data = {c: [r["query"] if c == "query" else r["docs"][columns.index(c) - 1] for r in part] for c in columns}
        if teacher:
            data["label"] = [r["teacher"] for r in part]
        return Dataset.from_dict(data)

    half = len(rows) // 2
    prompts = {c: (QUERY_MARKER if c == "query" else DOCUMENT_MARKER) for c in columns}
    cuda = device_name() == "cuda"
    training_args = MultiVectorEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=args.epochs, max_steps=args.max_steps or -1,
        per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate, warmup_steps=0.1,
        seed=args.seed, bf16=cuda, use_cpu=not cuda, save_strategy="no", logging_steps=25, report_to="none",
        prompts={"mnrl": prompts, "kd": prompts}, multi_dataset_batch_sampler="round_robin")
    trainer = MultiVectorEncoderTrainer(
        model=model, args=training_args,
        train_dataset={"mnrl": table(rows[:half], False), "kd": table(rows[half:], True)},
        loss={"mnrl": MultiVectorMultipleNegativesRankingLoss(model),
              "kd": MultiVectorDistillKLDivLoss(model, temperature=args.kd_temperature)})
    trainer.train()
    final = out / f"colbert-{dim}d{'-qe' + str(expansion) if expansion else ''}"
    model.save(str(final))
    (final / "recallrank_training.json").write_text(json.dumps({
        "dim": dim, "query_expansion": expansion, "rows": len(rows), "steps": trainer.state.global_step,
        "frozen_layers": args.frozen_layers, "history": [h for h in trainer.state.log_history if "loss" in h]},
        indent=1))
    return final


def train_poly(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from recallrank.models.poly_encoder import PolyEncoder, build_module, poly_scores

    device = device_name()
    torch.manual_seed(args.seed)
    bi = SentenceTransformer(args.base, device=device)
    texts = sorted({d for r in rows for d in r["docs"]})
    index = {t: i for i, t in enumerate(texts)}
    dvec = bi.encode(texts, batch_size=256, convert_to_tensor=True, normalize_embeddings=True).float()
    del bi
    module = build_module(args.base, args.poly_codes, 6 - args.frozen_layers).to(device)
    with torch.no_grad():
        module.codes.normal_(0.0, 0.02)
    tok = AutoTokenizer.from_pretrained(args.base)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [module.codes], "lr": args.poly_codes_lr},
                             {"params": [p for p in params if p is not module.codes], "lr": args.learning_rate}])
    steps = args.max_steps or int(args.epochs * len(rows) / args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) *
                                              max(0.0, (steps - s) / steps))
    history = []
    module.train()
    for step in range(steps):
        lo = (step * args.batch_size) % len(rows)
        batch = rows[lo:lo + args.batch_size]
        enc = tok([r["query"] for r in batch], padding=True, truncation=True, max_length=64, return_tensors="pt")
        ids = torch.tensor([[index[d] for d in r["docs"]] for r in batch], device=device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            qv = module(enc["input_ids"].to(device), enc["attention_mask"].to(device)).float()
        own = poly_scores(qv, dvec[ids])                                   # (b, n): positive first
        others = poly_scores(qv, dvec[ids[:, 0]])                           # (b, b): every positive in the batch
        eye = torch.eye(len(batch), device=device, dtype=torch.bool)
        logits = torch.cat([own, others.masked_fill(eye, float("-inf"))], dim=1) * args.poly_scale
        ce = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long, device=device))
        teacher = torch.tensor([r["teacher"] for r in batch], device=device) / args.kd_temperature
        kd = torch.nn.functional.kl_div((own * args.poly_scale).log_softmax(-1), teacher.log_softmax(-1),
                                        reduction="batchmean", log_target=True)
        loss = ce + kd
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == steps - 1:
            history.append({"step": step, "loss": loss.item(), "ce": ce.item(), "kd": kd.item()})
            log.info("poly step %d/%d loss %.4f (ce %.4f kd %.4f)", step, steps, loss, ce, kd)
    final = out / f"poly-m{args.poly_codes}"
    PolyEncoder(final).save(final, module=module, extra={
        "base": None, "codes": args.poly_codes, "trainable_layers": 6 - args.frozen_layers, "max_length": 64,
        "rows": len(rows), "steps": steps, "history": history})
    return final


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m recipes.late_minilm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", default=str(Path.home() / ".cache/recallrank/datasets/pairs"),
                   help="pairs folder written by python -m recipes.data.build (default: %(default)s)")
    p.add_argument("--output", default="runs/late-interaction")
    p.add_argument("--base", default=None, help="bi-encoder folder (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--domains", nargs="+", default=list(TRAIN_DOMAINS))
    p.add_argument("--queries-per-domain", type=int, default=8000)
    p.add_argument("--corpus-per-domain", type=int, default=20000)
    p.add_argument("--depth", type=int, default=30, help="hard negatives are drawn from the bi-encoder's top N")
    p.add_argument("--hard-negatives", type=int, default=6)
    p.add_argument("--colbert", nargs="*", default=["128:0"],
                   help="ColBERT variants to train, DIM:QUERY_EXPANSION each (0: no expansion)")
    p.add_argument("--poly-codes", type=int, default=16, help="Poly-encoder codes m (0: no Poly-encoder)")
    p.add_argument("--poly-scale", type=float, default=20.0)
    p.add_argument("--poly-codes-lr", type=float, default=1e-3)
    p.add_argument("--frozen-layers", type=int, default=2, help="lower transformer layers kept frozen")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=3e-5)
    p.add_argument("--kd-temperature", type=float, default=1.0)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--seed", type=int, default=12)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parser().parse_args(argv)
    args.base = args.base if args.base is not None else default_bi_encoder_path()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.json"
    start = time.perf_counter()
    if rows_path.exists():
        rows = json.loads(rows_path.read_text(encoding="utf-8"))
    else:
        rows = candidate_rows(Path(args.pairs), tuple(args.domains), args.queries_per_domain,
                              args.corpus_per_domain, args.depth, args.hard_negatives, args.seed, args.base)
        zero_shot_teacher(rows, args.base)
        rows_path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    log.info("%d rows ready in %.0f s", len(rows), time.perf_counter() - start)
    for variant in args.colbert:
        dim, expansion = (int(x) for x in variant.split(":"))
        t0 = time.perf_counter()
        path = train_colbert(rows, args, dim, expansion, out)
        log.info("%s trained in %.0f s", path, time.perf_counter() - t0)
    if args.poly_codes:
        t0 = time.perf_counter()
        path = train_poly(rows, args, out)
        log.info("%s trained in %.0f s", path, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
