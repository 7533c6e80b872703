"""``recallrank index``: chunk, embed and store files, folders and JSONL; ``--reembed`` recomputes stored vectors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from recallrank.cli import pipeline
from recallrank.cli.common import require_collection, settings_store, store_options, where
from recallrank.cli.options import INDEX, add_options, resolve
from recallrank.documents import Document
from recallrank.errors import InvalidInputError
from recallrank.index.embedded import EdgeStore
from recallrank.index.embedded.reembed import reembed_in_place
from recallrank.index.reembed import reembed_into
from recallrank.loaders import IdSet, scan_sources, stale_ids, stream_chunks
from recallrank.loaders.fitting import chunk_settings
from recallrank.loaders.sources import sample_texts
from recallrank.models.identity import describe, registry_name
from recallrank.retrieval.languages import SAMPLE


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    index = sub.add_parser("index", parents=[common], help="chunk, embed and store files, folders or JSONL",
                           description="Index text/Markdown files, folders of them and JSONL records. Unchanged "
                           "chunks are skipped, so re-running is a no-op and an interrupted run resumes.")
    index.add_argument("sources", nargs="*", metavar="SOURCE", help="file, folder or .jsonl")
    add_options(index, *INDEX)
    index.add_argument("--json", action="store_true", help="print the report as one JSON object")
    index.add_argument("--skip-errors", action="store_true",
                       help="index what can be read and list the files, folders or chunks that cannot (a chunk "
                       "in which the model finds no word, say); default: any such source is an error and nothing "
                       "is indexed")
    index.add_argument("--verbose", "-v", action="store_true",
                       help="list every path the folder search left out, with the reason (hidden, unsupported file "
                       "type, dangling symlink, symlink loop, duplicate); by default one line counts them")
    index.add_argument("--reembed", action="store_true",
                       help="recompute every stored vector with --bi-encoder (after fine-tuning one): ids and payloads "
                       "are kept; an embedded collection is rebuilt beside the old one and swapped in, the old one "
                       "kept as a backup folder")
    index.add_argument("--into", default=None, metavar="COLLECTION",
                       help="with --reembed: write the re-embedded points to this new collection instead (required "
                       "for a server; the source collection is only read)")
    index.add_argument("--add-sparse", action="store_true",
                       help="add the BM25 field that --recall sparse/hybrid searches to a collection indexed before "
                       "recallrank wrote one, filled from the stored texts (no model runs; a new collection has it "
                       "already); with SOURCEs, after indexing them")
    index.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                       help="remove the chunks of files under the given folders that were deleted since they were "
                       "indexed (default: on; chunks of files that shrank or were emptied are always removed)")


def run(args: argparse.Namespace) -> int:
    resolve(args, INDEX)
    s = args.settings
    if args.reembed:
        return reembed(args, s)
    if args.into:
        raise InvalidInputError("--into names the target of --reembed; pass --reembed too")
    if args.add_sparse and not args.sources:
        return add_sparse(args, s)
    if not args.sources:
        raise InvalidInputError("give the files, folders or .jsonl files to index (or --reembed to re-embed the "
                                "collection with another bi-encoder)")
    # stages that keep token vectors in Qdrant (the default MaxSim stage; maxsim/colbert in --stages) get them
    # written as the documents are; --stages cross writes the dense vectors alone
    retriever = pipeline.open_retriever(s)  # models load on first use
    # two passes over the sources: the first checks every file, and that the models find a word in every chunk,
    # and counts chunks (nothing is written if one is bad), the second streams chunks into the store batch by
    # batch: memory does not grow with the collection
    if retriever.choosing_encoder:  # a new collection: its first texts choose the model chunks are measured in
        retriever.choose_encoder(sample_texts(args.sources, s["text_field"], SAMPLE))
    # chunks are measured in the bi-encoder's tokens and never exceed what it reads (a larger size is an error)
    size, overlap, measure = chunk_settings(retriever.encoder, s["chunk_size"], s["chunk_overlap"],
                                            retriever.stages)
    found = scan_sources(args.sources, s["text_field"], skip_errors=args.skip_errors, chunk_size=size,
                         chunk_overlap=overlap, unreadable=retriever.unreadable, measure=measure)
    store = retriever.store
    if store.exists():
        store.open()  # a lock held by another process, or a damaged store, is reported before models load
    elif not found.chunks:
        raise InvalidInputError("the sources hold no text to index")
    if not retriever.choosing_encoder:  # else the first documents choose it (retrieval.languages)
        retriever.encoder.warm_up()
    written = IdSet()

    def chunks() -> Iterator[Document]:
        for doc in stream_chunks(found, size, overlap, measure):
            written.add(str(doc.id))
            yield doc

    with tqdm(total=found.chunks, unit="doc", desc="indexing", disable=None if s["progress"] else True,
              file=sys.stderr) as bar:
        report = retriever.add_documents(chunks(), batch_size=s["batch_size"], progress=bar.update)
    stale = stale_ids(store, found, written, prune=args.prune)
    store.delete(stale)
    filled = retriever.add_stage_vectors()  # points indexed before a stage kept vectors; 0 when none lack them
    sparse = store.add_sparse() if args.add_sparse else 0
    total = store.count()
    record = store.recorded_models().get("bi_encoder") or {}
    store.close()
    embedded = report.added + report.updated
    out = {"sources": found.count, "chunks": len(written), "added": report.added, "updated": report.updated,
           "unchanged": report.unchanged, "truncated": report.truncated,
           "removed": len(stale), "stored": total, "stage_vectors_added": filled,
           "sparse_added": sparse, "bi_encoder": record.get("name"),
           "scripts": (record.get("languages") or {}).get("scripts"),
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
        print(recall_model_line(record))
        if report.truncated:
            print(f"{report.truncated} texts were longer than the bi-encoder reads and were embedded from their "
                  f"first {size_note(retriever)} tokens of their own (--chunk-size 0 keeps texts whole; the default "
                  "chunks fit)")
    for _, reason in found.skipped:
        print(f"recallrank: skipped {reason}", file=sys.stderr)
    for line in not_indexed_lines(found.ignored, args.verbose):
        print(f"recallrank: {line}", file=sys.stderr)
    return 0


def size_note(retriever: Any) -> str:
    limit = getattr(retriever.encoder, "token_limit", None)
    return str(limit) if limit is not None else "N"


def recall_model_line(record: dict[str, Any]) -> str:
    """What recalls the collection, and why (the scripts its first documents were written in, when they chose)."""
    scripts = (record.get("languages") or {}).get("scripts")
    if not scripts:
        return f"recall model: {record.get('name')}"
    sample = ", ".join(f"{n} {k}" for k, n in scripts.items())
    return (f"recall model: {record.get('name')}, chosen from the scripts of the first documents ({sample}); "
            "search uses it with no --bi-encoder")


def add_sparse(args: argparse.Namespace, s: dict[str, Any]) -> int:
    """``index --add-sparse``: the BM25 field of an existing collection, filled from its stored texts."""
    store = settings_store(s, **{k: v for k, v in store_options(s).items() if k == "prefer_grpc"})
    require_collection(store, s)
    with tqdm(total=store.count(), unit="doc", desc="BM25", disable=None if s["progress"] else True,
              file=sys.stderr) as bar:
        filled = store.add_sparse(progress=bar.update)
    store.close()
    if args.json:
        print(json.dumps({"sparse_added": filled}))
    else:
        print(f"BM25 vectors written for {filled} points of {where(s)}; --recall sparse and hybrid can search it")
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
    if args.sources:
        raise InvalidInputError("--reembed re-embeds what is stored; index new sources in a separate run")
    options = store_options(s)  # the target's layout (--into), gRPC for both
    if "settings" in options and args.into is None:
        raise InvalidInputError("collection settings apply to a new collection: re-embed --into NEW_NAME with them")
    store = settings_store(s, **{k: v for k, v in options.items() if k == "prefer_grpc"})
    require_collection(store, s)
    if args.into is None and not isinstance(store, EdgeStore):
        raise InvalidInputError("on a server, re-embed into a new collection: pass --into NEW_NAME, then search it "
                                "(or point an alias at it)")
    if args.into == s["collection"]:
        raise InvalidInputError(f"--into {args.into} is the collection being re-embedded; name a new one, or leave "
                                "--into out for the embedded store's in-place swap")
    encoder = pipeline.recall_encoder(s["bi_encoder"], s["precision"], required=True)
    total = store.count()
    with tqdm(total=total, unit="doc", desc="re-embedding", disable=None if s["progress"] else True,
              file=sys.stderr) as bar:
        if args.into is None:
            report = reembed_in_place(store, encoder, progress=bar.update,  # type: ignore[arg-type]
                                      model=describe(encoder))
            target = store
        else:
            target = settings_store(s, args.into, **options)
            report = reembed_into(store, target, encoder, progress=bar.update, model=describe(encoder))
    # the token vectors the new model's default stage (or --stages) reads, so searches score them inside Qdrant
    pipeline.build_retriever(target, {**s, "bi_encoder": None}).add_stage_vectors()
    if target is not store:
        target.close()
    store.close()
    out = {"points": report.points, "dimension": report.dimension, "seconds": round(report.seconds, 3),
           "collection": args.into or s["collection"], "backup": report.backup}
    if args.json:
        print(json.dumps(out))
    else:
        kept = f"; the previous collection is kept at {report.backup}" if report.backup else ""
        print(f"re-embedded {report.points} points with {registry_name(encoder)}"
              f" ({report.dimension}-d) -> {args.into or s['collection']} in {report.seconds:.1f} s{kept}; the "
              "collection records the model, so search uses it with no --bi-encoder")
    return 0
