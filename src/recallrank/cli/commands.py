"""What each ``recallrank`` command does; the parser and error handling are in :mod:`recallrank.cli`."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recallrank.cascade import bi_encoder, cross_encoder, parse_stages
from recallrank.cli import DEMO, DOCTOR, EVAL, INDEX, MINE, SEARCH
from recallrank.cli.config import OPTIONS, resolve, shown, to_toml
from recallrank.documents import Document, check_text
from recallrank.errors import InvalidInputError, RecallrankError, StoreError
from recallrank.filters import RANGE_OPERATORS, Filter, Match, MatchAny, Range
from recallrank.index.base import VectorStore, check_filter
from recallrank.redact import has_secret, redact_url
from recallrank.retrieval.pipeline import SearchResponse, TwoStageRetriever

log = logging.getLogger(__name__)


def store_options(s: dict[str, Any]) -> dict[str, Any]:
    """The collection settings (and gRPC) the options ask for: ``settings=`` only when one is set, so an
    existing collection is used as it is otherwise."""
    from recallrank.index.settings import CollectionSettings

    asked: dict[str, Any] = {"on_disk": s.get("on_disk") or False, "quantization": s.get("quantization"),
             "shard_number": s.get("shards"), "replication_factor": s.get("replicas"),
             "write_consistency_factor": s.get("write_consistency")}
    out: dict[str, Any] = {}
    if any(v not in (None, False) for v in asked.values()):
        if not s.get("url") and any(asked[k] is not None for k in ("shard_number", "replication_factor",
                                                                    "write_consistency_factor")):
            raise InvalidInputError("--shards, --replicas and --write-consistency set up a collection on a Qdrant "
                                    "server or cluster; pass --url too (the embedded store is one shard)")
        try:
            out["settings"] = CollectionSettings(**asked)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
    if s.get("grpc"):
        if not s.get("url"):
            raise InvalidInputError("--grpc talks to a Qdrant server; pass --url too")
        out["prefer_grpc"] = True
    return out


def open_retriever(s: dict[str, Any], rerank: bool = True) -> TwoStageRetriever:
    """The pipeline the settings describe (models load on first use)."""
    from recallrank.index.open import open_store

    precision = s.get("precision", "auto")
    stages = parse_stages(s["stages"], s.get("reranker"), precision) if s.get("stages") is not None else None
    store = open_store(None if s["url"] else s["path"], s["url"], s["collection"], api_key=s["api_key"],
                       **store_options(s))
    if stages is not None and rerank:
        return TwoStageRetriever(store, bi_encoder(s["bi_encoder"], precision), stages=stages,
                                 top_k=s.get("top_k", 100), top_n=s.get("top_n", 10))
    # --reranker names a cross-encoder to rerank with; without it the default cascade runs
    reranker = (cross_encoder(s["reranker"], precision) if s.get("reranker") else None) if rerank else False
    return TwoStageRetriever(store, bi_encoder(s["bi_encoder"], precision), reranker, top_k=s.get("top_k", 100),
                             top_n=s.get("top_n", 10))


def cache_dir(what: str) -> Path:
    """``$XDG_CACHE_HOME/recallrank/<what>`` (default ``~/.cache/recallrank/<what>``): indexes built for you."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "recallrank" / what


def warm_up(retriever: TwoStageRetriever) -> None:
    """Load the models now, so that the timings printed are the stages', not the loading."""
    retriever.encoder.warm_up()
    for stage in retriever.stages:
        stage.reranker.warm_up()


def where(s: dict[str, Any]) -> str:
    return f"{redact_url(s['url'])} (collection {s['collection']})" if s["url"] else f"{s['path']}/{s['collection']}"


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from recallrank.loaders import IdSet, scan_sources, stale_ids, stream_chunks

    resolve(args, INDEX)
    s = args.settings
    if args.reembed:
        return reembed(args, s)
    if args.into:
        raise InvalidInputError("--into names the target of --reembed; pass --reembed too")
    if not args.sources:
        raise InvalidInputError("give the files, folders or .jsonl files to index (or --reembed to re-embed the "
                                "collection with another bi-encoder)")
    # stages that keep token vectors in Qdrant (the default MaxSim stage; maxsim/colbert in --stages) get them
    # written as the documents are; --stages cross writes the dense vectors alone
    retriever = open_retriever(s)  # models load on first use
    # two passes over the sources: the first checks every file, and that the models find a word in every chunk,
    # and counts chunks (nothing is written if one is bad), the second streams chunks into the store batch by
    # batch: memory does not grow with the collection
    found = scan_sources(args.sources, s["text_field"], skip_errors=args.skip_errors, chunk_size=s["chunk_size"],
                         chunk_overlap=s["chunk_overlap"], unreadable=retriever.unreadable)
    store = retriever.store
    if store.exists():
        store.open()  # a lock held by another process, or a damaged store, is reported before models load
    elif not found.chunks:
        raise InvalidInputError("the sources hold no text to index")
    retriever.encoder.warm_up()
    written = IdSet()

    def chunks() -> Iterator[Document]:
        for doc in stream_chunks(found, s["chunk_size"], s["chunk_overlap"]):
            written.add(str(doc.id))
            yield doc

    with tqdm(total=found.chunks, unit="doc", desc="indexing", disable=not s["progress"], file=sys.stderr) as bar:
        report = retriever.add_documents(chunks(), batch_size=s["batch_size"], progress=bar.update)
    stale = stale_ids(store, found, written, prune=args.prune)
    store.delete(stale)
    filled = retriever.add_stage_vectors()  # points indexed before a stage kept vectors; 0 when none lack them
    total = store.count()
    store.close()
    embedded = report.added + report.updated
    out = {"sources": found.count, "chunks": len(written), "added": report.added, "updated": report.updated,
           "unchanged": report.unchanged, "removed": len(stale), "stored": total, "stage_vectors_added": filled,
           "seconds": round(report.seconds, 3),
           "docs_per_s": round(embedded / report.seconds, 1) if embedded and report.seconds else None,
           "skipped": [{"path": p, "reason": r} for p, r in found.skipped],
           "not_indexed": [{"path": p, "reason": r} for p, r in found.ignored]}
    if args.json:
        print(json.dumps(out))
    else:
        rate = f" ({out['docs_per_s']} docs/s embedded and written)" if out["docs_per_s"] else ""
        print(f"{len(written)} chunks from {found.count} sources -> {where(s)}: {report.added} added, "
              f"{report.updated} updated, {report.unchanged} unchanged, {len(stale)} stale removed; "
              f"{total} stored; {report.seconds:.1f} s{rate}")
    for _, reason in found.skipped:
        print(f"recallrank: skipped {reason}", file=sys.stderr)
    for line in not_indexed_lines(found.ignored, args.verbose):
        print(f"recallrank: {line}", file=sys.stderr)
    return 0


def not_indexed_lines(ignored: list[tuple[str, str]], verbose: bool, shown: int = 3) -> list[str]:
    """The paths a folder search left out: every one with ``verbose``, else one line with the count by reason
    and the first few."""
    if verbose:
        return [f"not indexed: {path}: {reason}" for path, reason in ignored]
    if not ignored:
        return []
    kinds: dict[str, int] = {}
    for _, reason in ignored:
        kind = reason.partition(" (")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    first = "; ".join(f"{path} ({reason.partition(' (')[0]})" for path, reason in ignored[:shown])
    return [f"{len(ignored)} path(s) not indexed (" + ", ".join(f"{n} {k}" for k, n in kinds.items()) + f"): {first}"
            + (" ..." if len(ignored) > shown else "") + "; --verbose lists each with the reason"]


def reembed(args: argparse.Namespace, s: dict[str, Any]) -> int:
    """``index --reembed``: every stored point gets --bi-encoder's vector; ids and payloads are kept."""
    from tqdm import tqdm

    from recallrank.index.edge import EdgeStore
    from recallrank.index.open import open_store
    from recallrank.index.reembed import reembed_in_place, reembed_into

    if args.sources:
        raise InvalidInputError("--reembed re-embeds what is stored; index new sources in a separate run")
    options = store_options(s)  # the target's layout (--into), gRPC for both
    if "settings" in options and args.into is None:
        raise InvalidInputError("collection settings apply to a new collection: re-embed --into NEW_NAME with them")
    store = open_store(None if s["url"] else s["path"], s["url"], s["collection"], api_key=s["api_key"],
                       **{k: v for k, v in options.items() if k == "prefer_grpc"})
    require_collection(store, s)
    if args.into is None and not isinstance(store, EdgeStore):
        raise InvalidInputError("on a server, re-embed into a new collection: pass --into NEW_NAME, then search it "
                                "(or point an alias at it)")
    if args.into == s["collection"]:
        raise InvalidInputError(f"--into {args.into} is the collection being re-embedded; name a new one, or leave "
                                "--into out for the embedded store's in-place swap")
    encoder = bi_encoder(s["bi_encoder"], s["precision"])
    total = store.count()
    with tqdm(total=total, unit="doc", desc="re-embedding", disable=not s["progress"], file=sys.stderr) as bar:
        if args.into is None:
            report = reembed_in_place(store, encoder, progress=bar.update)  # type: ignore[arg-type]
        else:
            target = open_store(None if s["url"] else s["path"], s["url"], args.into, api_key=s["api_key"], **options)
            report = reembed_into(store, target, encoder, progress=bar.update)
            target.close()
    store.close()
    out = {"points": report.points, "dimension": report.dimension, "seconds": round(report.seconds, 3),
           "collection": args.into or s["collection"], "backup": report.backup}
    if args.json:
        print(json.dumps(out))
    else:
        kept = f"; the previous collection is kept at {report.backup}" if report.backup else ""
        print(f"re-embedded {report.points} points with {encoder.model_name if hasattr(encoder, 'model_name') else ''}"
              f" ({report.dimension}-d) -> {args.into or s['collection']} in {report.seconds:.1f} s{kept}; search it "
              "with the same --bi-encoder")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    resolve(args, SEARCH)
    s = args.settings
    check_text(args.query, "the query")  # e.g. bytes that are not UTF-8, before anything is opened or loaded
    filters = parse_filters(args.filter)
    check_filter(filters)
    retriever = open_retriever(s, rerank=s["rerank"])
    require_collection(retriever.store, s)
    retriever.store.open()  # a lock held by another process, or a damaged store, is reported before models load
    warm_up(retriever)
    response = retriever.search(args.query, filter=filters, score_threshold=s["score_threshold"])
    if args.json:
        print(json.dumps(response_json(args.query, response), ensure_ascii=False))
    else:
        print_results(response)
    return 0


def require_collection(store: VectorStore, s: dict[str, Any]) -> None:
    if not store.exists():
        raise StoreError(f"no collection '{s['collection']}' at {where(s)}; run `recallrank index FILES` first, or "
                         "pass the --path/--url and --collection it was built with")


_FILTER_ITEM = re.compile(r"^([^=!<>:]+?)(!:=|:=|!=|>=|<=|=|>|<)(.*)$", re.S)


def parse_filters(items: list[str]) -> Filter | None:
    """``--filter`` items as one :class:`~recallrank.filters.Filter` (all must hold).

    ``KEY=VALUE`` matches the string VALUE exactly; ``KEY:=JSON`` a typed value (``n:=5``, ``flag:=true``,
    ``name:='"x"'``); a key given twice with ``=`` or ``:=`` accepts either value. ``KEY!=VALUE`` excludes a string
    and ``KEY!:=JSON`` a typed value (documents without KEY stay in); ``KEY>=X``, ``KEY>X``, ``KEY<=X``, ``KEY<X``
    bound a number or an ISO 8601 datetime (``year>=2020``, ``date<2024-06-01``). Dotted keys reach nested fields.

    Example: ``["zip=02139", "lang=en", "lang=zh", "year>=2020"]`` -> zip is "02139", lang is "en" or "zh", and
    year >= 2020.
    """
    equal: dict[str, list[Any]] = {}
    must: list[Any] = []
    must_not: list[Any] = []
    for item in items:
        m = _FILTER_ITEM.match(item)
        if not m or not m.group(1).strip():
            raise InvalidInputError(f"--filter {item!r}: write KEY=VALUE for a string (--filter source=faq), "
                                    "KEY:=VALUE for a number or boolean (--filter year:=2023), KEY!=VALUE to exclude "
                                    "one, or KEY>=VALUE / KEY<VALUE for a range (--filter year>=2020)")
        key, op, raw = m.group(1).strip(), m.group(2), m.group(3)
        if op in ("=", ":=", "!=", "!:="):
            value: Any = raw
            if op.endswith(":="):
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = None
                if isinstance(value, float) or not isinstance(value, (str, int)):
                    raise InvalidInputError(f"--filter {item!r}: after := write an integer, true, false or a quoted "
                                            f"JSON string; for the string {raw!r} write {key}={raw}; for a float "
                                            f"write a range ({key}>={raw} {key}<={raw})")
            if op.startswith("!"):
                must_not.append(Match(key, value))
            else:
                equal.setdefault(key, []).append(value)
        else:
            bound = _number(raw)
            must.append(Range(key, **{RANGE_OPERATORS[op]: bound if bound is not None else raw}))
    matches = [Match(key, values[0]) if len(values) == 1 else MatchAny(key, tuple(values))
               for key, values in equal.items()]
    return Filter(must=(*matches, *must), must_not=tuple(must_not)) or None


def _number(raw: str) -> int | float | None:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def response_json(query: str, response: SearchResponse) -> dict[str, Any]:
    return {"query": query, "recalled": response.recalled,
            "timings_ms": {k: round(v * 1000, 2) for k, v in response.timings.items()},
            "results": [{"rank": i, "id": r.document.id, "point_id": r.point_id, "score": r.score,
                         "relevance_score": r.relevance_score, "retrieval_score": r.retrieval_score,
                         "text": r.text, "metadata": dict(r.document.metadata)}
                        for i, r in enumerate(response.results, 1)]}


def print_results(response: SearchResponse) -> None:
    if not response.results:
        print("no results")
    for i, r in enumerate(response.results, 1):
        relevance = f"{r.relevance_score:.3f}" if r.relevance_score is not None else "  -  "
        meta = r.document.metadata
        book = meta.get("_recallrank")  # what `recallrank index` keeps: the file a chunk came from
        source = book.get("source") if isinstance(book, dict) else meta.get("source", r.document.id or "")
        print(f"{i:2}. {r.score:.3f}  rerank {relevance}  recall {r.retrieval_score:.3f}  {source}")
        print(f"    {snippet(r.text, 160)}")
    print(timing_line(response))


def timing_line(response: SearchResponse) -> str:
    t = response.timings
    return (f"{response.recalled} recalled; embed {t.get('embed', 0) * 1000:.0f} ms, recall "
            f"{t.get('recall', 0) * 1000:.0f} ms, rerank {t.get('rerank', 0) * 1000:.0f} ms, total "
            f"{t.get('total', 0) * 1000:.0f} ms")


def snippet(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def cmd_eval(args: argparse.Namespace) -> int:
    from recallrank import load_dataset
    from recallrank.evaluation.harness import compare, plot_sweep

    resolve(args, EVAL)
    s = args.settings
    sweep = parse_ints(args.sweep, "--sweep") if args.sweep else []
    if args.plot and not sweep:
        raise InvalidInputError("--plot draws the top_k sweep: pass --sweep too, e.g. --sweep 10,20,50,100,200")
    ds = load_dataset(s["dataset"], s["split"])
    reranker = cross_encoder(s["reranker"], s["precision"])
    res = compare(ds, bi_encoder(s["bi_encoder"], s["precision"]), reranker, top_k=s["top_k"],
                  n_queries=s["queries"], index_dir=cache_dir("eval"), sweep=sweep,
                  latency_queries=args.latency_queries, cross_only_queries=args.cross_only)
    if args.per_query:
        res.write_per_query(args.per_query)
    if args.plot:
        plot_sweep(res, args.plot)
    if args.json:
        print(json.dumps(res.as_dict()))
        return 0
    print_comparison(res)
    return 0


def print_comparison(res: Any) -> None:
    k = res.top_k
    print(f"{res.dataset}: {res.queries} queries over {res.documents} documents, top_k={k}")
    print(f"{'stage':36} {'nDCG@10':>8} {'MRR@10':>8} {'MAP':>7} {'R@10':>7} {'R@' + str(k):>7}")
    for stage, m in res.metrics.items():
        print(f"{stage:36} {m['ndcg@10']:8.4f} {m['mrr@10']:8.4f} {m['map@100']:7.4f} {m['recall@10']:7.3f} "
              f"{m.get(f'recall@{k}', float('nan')):7.3f}")
    note = " (rerank: median over the sweep's latency queries)" if res.sweep else ""
    print("mean seconds per query" + note + ": " + ", ".join(f"{st} {v:.4f}" for st, v in res.latency.items()))
    if res.cross_only:
        print(res.cross_only["note"])
    if res.sweep:
        print(f"\n{'top_k':>6} {'R@top_k':>8} {'bi nDCG@10':>11} {'two-stage nDCG@10':>18} {'rerank ms':>10} "
              f"{'total ms':>9}")
        for r in res.sweep:
            print(f"{r['top_k']:6d} {r['recall@k']:8.3f} {r['bi_ndcg@10']:11.4f} {r['two_stage_ndcg@10']:18.4f} "
                  f"{r['rerank_ms']:10.1f} {r['total_ms']:9.1f}")


def parse_ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidInputError(f"{flag} {text!r}: write positive integers separated by commas, e.g. 10,50,100") \
            from exc
    if not values or min(values) < 1:
        raise InvalidInputError(f"{flag} {text!r}: write positive integers separated by commas, e.g. 10,50,100")
    return values


def cmd_demo(args: argparse.Namespace) -> int:
    from recallrank.cli.demo import run_demo

    resolve(args, DEMO)
    return run_demo(args.settings, args.extra, Path(args.cache) if args.cache else None, args.show, args.docs)


def cmd_config(args: argparse.Namespace) -> int:
    resolved = resolve(args, list(OPTIONS))
    width = max(map(len, OPTIONS))
    for name, (value, source) in resolved.items():
        print(f"{name:{width}} = {shown(name, value):40} ({source}; env {OPTIONS[name].env})")
    if args.write:
        target = Path(args.write)
        target.write_text(to_toml({n: v for n, (v, _) in resolved.items()}), encoding="utf-8")
        print(f"wrote {target} (secrets left out" + (": the URL holds credentials, so it was not written; set "
              "RECALLRANK_URL)" if has_secret(resolved["url"][0]) else ")"))
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    """Hard negatives for labelled pairs from the index's own recall, written as JSONL (the index is only read)."""
    from recallrank.index.open import open_store
    from recallrank.training.inputs import read_pairs
    from recallrank.training.mine import check_out, mine, write_jsonl

    resolve(args, MINE)
    s = args.settings
    pairs = read_pairs(args.pairs)  # every line checked before any model loads
    if Path(args.out).resolve() == Path(args.pairs).resolve():
        raise InvalidInputError(f"--out {args.out} is the pairs file itself; write the negatives elsewhere")
    check_out(args.out, args.overwrite)
    store = open_store(None if s["url"] else s["path"], s["url"], s["collection"], api_key=s["api_key"])
    retriever = TwoStageRetriever(store, bi_encoder(s["bi_encoder"], s["precision"]), False)
    require_collection(store, s)
    teacher = cross_encoder(None if args.teacher == "shipped" else args.teacher, s["precision"]) \
        if args.teacher else None
    n = write_jsonl(mine(retriever, pairs, negatives=args.negatives, depth=args.depth, margin=args.margin,
                         ratio=args.ratio, reranker=teacher), args.out, overwrite=args.overwrite)
    print(f"{n} queries mined from {where(s)} -> {args.out}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check a store; with ``--repair`` fix what can be fixed. Exit 0 when healthy (or repaired), 1 otherwise."""
    from recallrank.index.doctor import check_edge
    from recallrank.index.edge import EdgeStore
    from recallrank.index.open import open_store
    from recallrank.index.swap import human_bytes

    resolve(args, DOCTOR)
    s = args.settings
    store = open_store(None if s["url"] else s["path"], s["url"], s["collection"], api_key=s["api_key"])
    if not isinstance(store, EdgeStore):
        store.open()
        print(f"{where(s)}: {store.count()} points; a Qdrant server checks and repairs its own storage")
        return 0
    encoder = bi_encoder(s["bi_encoder"], s["precision"])  # loads only if a lost vector must be re-embedded
    report = check_edge(store, repair=args.repair, embed=encoder.encode_documents,
                        token_encoders=token_encoders(store, s["precision"]), remove_stale=args.remove_stale)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0 if report.healthy else 1
    counted = f"{report.points} points" if report.points is not None else "points not counted"
    print(f"{report.location}: {counted}; " + ("healthy" if not report.findings else
          f"{len(report.findings)} problem(s)"))
    for f in report.findings:
        print(f"  - {f.problem}; " + (f"repaired: {f.fix}" if f.repaired else f"--repair would {f.fix}"
                                      if not args.repair else f"NOT repaired: {f.fix}"))
    if report.backup:
        print(f"  the damaged folder was kept as {report.backup}; delete it once you are satisfied")
    if report.lost_ids:
        print(f"  deleted point ids ({len(report.lost_ids)}): {', '.join(report.lost_ids[:20])}"
              + (" ..." if len(report.lost_ids) > 20 else ""))
    for x in report.removed:
        print(f"  removed {x.path} ({human_bytes(x.bytes)}): {x.what}")
    if report.leftovers:
        print(f"  {len(report.leftovers)} folder(s) left beside the collection "
              f"({human_bytes(sum(x.bytes for x in report.leftovers))}); `--remove-stale` deletes them:")
        for x in report.leftovers:
            print(f"    {x.path} ({human_bytes(x.bytes)}): {x.what}")
    return 0 if report.healthy else 1


def token_encoders(store: Any, precision: str) -> dict[str, Any]:
    """The encoders of the collection's token-vector fields the CLI knows by name ('maxsim', 'colbert'; nothing is
    loaded until one is used); doctor uses one only when its model is the one the field records."""
    from recallrank.cascade import make_stage

    try:
        fields = store.engine_multivectors()
    except (OSError, ValueError):
        return {}
    out = {}
    for name in fields:
        if name in ("maxsim", "colbert"):
            try:
                out[name] = make_stage(name, precision=precision).encoder
            except RecallrankError as exc:  # e.g. the package shipping the trained ColBERT is not installed
                log.warning("cannot re-encode '%s' token vectors: %s", name, exc)
    return out
