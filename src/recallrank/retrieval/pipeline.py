"""Two-stage retrieval, framework-free: recall top_k from Qdrant with a bi-encoder, rerank, keep top_n."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from recallrank.documents import Document, check_text
from recallrank.errors import InvalidInputError
from recallrank.index.base import Hit, MetadataFilter, VectorStore, check_filter, point_id
from recallrank.models.bi_encoder import BiEncoder
from recallrank.models.identity import registry_name
from recallrank.rerank.cross_encoder import CrossEncoderReranker
from recallrank.rerank.registry import default_cross_encoder, fitted_to, recall_model_name
from recallrank.rerank.relevance import recall_summary
from recallrank.retrieval.calibrated import Calibrated
from recallrank.retrieval.cascade import default_stages
from recallrank.retrieval.grouping import DEFAULT_PASSAGES, Grouped
from recallrank.retrieval.ingest import IngestReport, chunked, progress_bar, validated
from recallrank.retrieval.judged import AUTO, CALIBRATION_DEPTH, SearchResponse, check_min_probability
from recallrank.retrieval.languages import SAMPLE, choose_encoder, read_ahead, warn_unreadable
from recallrank.retrieval.recall import DEFAULT_RECALL_MODE, Recall
from recallrank.retrieval.recorded import check_encoder, encoder_for, recorded_encoder
from recallrank.retrieval.running import recall_results, run_stages, stage_kwargs
from recallrank.retrieval.stages import Plan, Stage, check_k, check_stages, check_threshold, st_config
from recallrank.retrieval.tuning import DEFAULT_TOP_K, check_budget
from recallrank.retrieval.writing import Writing

log = logging.getLogger(__name__)


class TwoStageRetriever(Calibrated, Grouped, Writing):
    """Recall ``top_k`` candidates by vector from a Qdrant store, rerank them, keep ``top_n``.

    Args:
        store: a :class:`~recallrank.index.base.VectorStore` (``EdgeStore`` embedded, ``QdrantServerStore``).
        encoder: the bi-encoder; ``None`` is the one the collection records, else :class:`BiEncoder` (the
            bundled all-MiniLM-L6-v2).
        reranker: one rerank stage: a reranker object, ``True`` for the shipped cross-encoder, ``False`` for none
            (bi-encoder order and scores are returned), or ``None`` for the default: zero-shot MaxSim over the
            bi-encoder's own token vectors (``MaxSimReranker(field="maxsim")``, written at ingest and scored inside
            Qdrant), which measured the best quality per millisecond (``benchmarks/results/selection.md``).
        stages: instead of one ``reranker``, a cascade: rerankers or ``(reranker, keep)`` pairs run in order, each
            on the previous one's ``keep`` best, e.g. ``[(MaxSimReranker(field="colbert"), 30),
            CrossEncoderReranker()]`` for bi-encoder top_k -> MaxSim 30 -> cross-encoder top_n. A stage with a
            token-vector ``field`` has its vectors written at ingest (embedded store) and scored inside Qdrant.
        top_k: candidates recalled (50-200 is typical; ``None``: the collection's tuned value, else 100);
            top_n: results kept after reranking.
        score_threshold: results whose final score is below it are dropped (``0.0`` is honoured).
        min_probability: each result carries ``probability``, the calibrated probability that it is relevant
            (:mod:`recallrank.rerank.relevance`; ``None`` on a pipeline without a fitted calibration); when none
            reaches ``min_probability`` the search abstains (no results, ``abstained``). ``"auto"``: the
            collection's tuned threshold, else the calibration's own (0.15 for the default pipeline); ``0`` or
            ``"none"``: never abstain; ``None``: ``"auto"`` (as everywhere, ``None`` is "not given").
        latency_budget: seconds per query; a rerank stage that would not fit the time left (by its measured
            seconds per candidate) is skipped with those after it. confident_recall: skip the rerank stages when
            recall's calibrated first result reaches this probability.
        exact: search Qdrant exactly instead of through HNSW.
        allow_other_encoder: use ``encoder`` on a collection that records another bi-encoder (by default that is
            a :class:`~recallrank.errors.CollectionMismatchError` before anything is written or searched).
        precision: of the bi-encoder built when ``encoder`` is ``None`` (``"auto"``, ``"fp32"``, ``"bf16"``,
            ``"int8"``).
        recall: how the ``top_k`` candidates are found (:mod:`recallrank.retrieval.recall`): ``"auto"`` (the
            default: hybrid for a keyword-shaped query such as ``--partial-dir``, ``GIT_SSH`` or ``E404``, dense
            for the rest), ``"dense"`` (the bi-encoder; ``retrieval_score`` its similarity), ``"sparse"``
            (Qdrant's BM25 over the stored text; ``retrieval_score`` the BM25 score) or ``"hybrid"`` (both, fused
            by RRF in one Qdrant query with the filter inside both; ``retrieval_score`` the RRF score, not a
            cosine). After sparse or hybrid recall the rerank stages see each candidate's dense similarity as its
            ``retrieval_score`` (what their fusion was calibrated on); the shipped cross-encoder's calibrated
            fusion applies after dense recall only. ``score_threshold`` applies to the final ``score``: with
            recall alone that is an RRF or BM25 score for the queries recalled that way.
        documents: return documents instead of chunks: each document once, scored by its best passage
            (``document_score="max"``) or the sum of its ``passages`` best (``"sum"``), with those passages and
            their offsets (:mod:`recallrank.retrieval.grouping`; chunks made by ``recallrank index`` or
            :func:`recallrank.chunk` record their document). evidence: ``True``: each result carries the
            snippets where it matched, read from the stored token vectors after a late-interaction stage (no
            model pass, ~5 ms a result), and after a cross-encoder its best sentence (a few pairs a result);
            ``False`` (default): none (:mod:`recallrank.retrieval.evidence`).

    The collection records the bi-encoder that built it (name, settings and a fingerprint of its weights): with
    ``encoder=None`` the recorded one is used (the bundled all-MiniLM-L6-v2 for a new collection).

    Each result says what produced its ``score``: ``stage`` (``"recall"``, ``"maxsim"``, ``"cross"``, ...) and
    ``model``; ``relevance_score`` is the last stage's own score, ``retrieval_score`` the recall similarity.

    Example:
        >>> from recallrank import EdgeStore, TwoStageRetriever
        >>> r = TwoStageRetriever(EdgeStore("./index", "notes"))              # doctest: +SKIP
        >>> r.add_texts(["Qdrant stores vectors.", "Apples are a fruit."])    # doctest: +SKIP
        >>> r.search("vector database", top_n=1).results[0].text              # doctest: +SKIP
        'Qdrant stores vectors.'
    """

    def __init__(self, store: VectorStore, encoder: BiEncoder | None = None,
                 reranker: CrossEncoderReranker | bool | None = None, *, stages: Sequence[Any] | None = None,
                 top_k: int | None = None, top_n: int = 10, score_threshold: float | None = None,
                 exact: bool = False, allow_other_encoder: bool = False, precision: str = "auto",
                 recall: str = DEFAULT_RECALL_MODE, min_probability: float | str | None = AUTO,
                 latency_budget: float | None = None, confident_recall: float | None = None,
                 documents: bool = False, passages: int = DEFAULT_PASSAGES, document_score: str = "max",
                 evidence: bool = False) -> None:
        check_k(top_k if top_k is not None else DEFAULT_TOP_K, top_n)
        self._settle(top_k, min_probability, latency_budget, confident_recall)
        self._settle_documents(documents, passages, document_score, evidence)
        self._recall = Recall(recall)
        self._recall.check_store(store)
        #: ``"dense"``, ``"sparse"`` or ``"hybrid"`` (see ``recall`` above)
        self.recall_mode: str = self._recall.mode
        check_threshold(score_threshold)
        self.store = store
        self.encoder = encoder_for(store, encoder, precision)
        #: a new collection's recall model is chosen from the scripts of its first documents (see .languages)
        self._by_language = encoder is None and recorded_encoder(store) is None and (
            not store.exists() or not store.count())
        self._warned_scripts = False
        self._languages: dict[str, Any] | None = None  # the scripts that chose the model, recorded with it
        self._precision, self._default_stages = precision, stages is None and reranker is None
        self.allow_other_encoder = allow_other_encoder
        self._models_checked = False
        if stages is not None:
            if reranker is not None:
                raise InvalidInputError("pass either reranker= or stages=, not both: put the cross-encoder in "
                                        "stages, e.g. stages=[(MaxSimReranker(), 30), CrossEncoderReranker()]")
            self.stages = check_stages(stages)
        elif reranker is None:
            self.stages = default_stages(self.encoder)
        elif reranker is False:
            self.stages = []
        else:
            self.stages = [Stage(default_cross_encoder(self.encoder) if reranker is True else reranker)]
        self._fit_to_encoder()
        self._warned_fields = False
        self.top_n, self.score_threshold, self.exact = top_n, score_threshold, exact

    # -- ingest -----------------------------------------------------------------------------------------------
    def add_texts(self, texts: Iterable[str], metadatas: Sequence[dict[str, Any]] | None = None,
                  ids: Sequence[str] | None = None, **kwargs: Any) -> IngestReport:
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidInputError(f"got {len(texts)} texts but {len(metadatas)} metadatas; pass one per text")
        if ids is not None and len(ids) != len(texts):
            raise InvalidInputError(f"got {len(texts)} texts but {len(ids)} ids; pass one per text")
        docs = [Document(t, metadata=metadatas[i] if metadatas else {}, id=ids[i] if ids else None)
                for i, t in enumerate(texts)]
        return self.add_documents(docs, **kwargs)

    def add_documents(self, documents: Iterable[Document], batch_size: int = 256,
                      show_progress_bar: bool | None = None, progress: Callable[[int], object] | None = None,
                      ) -> IngestReport:
        """Embed and store documents; documents already stored with the same content are skipped.

        A list (any sequence) is validated whole before anything is written: texts, metadata, ids, and that the
        models find a word in every text (see :meth:`unreadable`). Any other iterable (a generator,
        :func:`recallrank.loaders.stream_chunks`) is *streamed*: read, validated, embedded and written batch by
        batch, so memory stays flat however many documents it yields; a bad document then stops the ingest at its
        batch, with the batches before it stored (validate first, as ``recallrank index`` does, to avoid that).
        Points are written with deterministic ids, so an interrupted ingest is resumed by running it again.
        ``progress`` is called with the number of documents done after each batch (e.g. ``tqdm.update``).
        ``show_progress_bar``: ``None`` (default) shows a bar on a terminal for a long ingest (a stream, or
        :data:`~recallrank.retrieval.ingest.LONG_INGEST` documents or more) and nothing otherwise; ``True`` /
        ``False`` force it.

        Into a new collection (no ``encoder`` given, nothing stored), the first documents choose the recall model:
        multilingual-e5-small where enough of them are written in a script other than Latin, else the bundled
        all-MiniLM-L6-v2 (see :mod:`recallrank.retrieval.languages`); the choice is recorded with the collection.
        """
        start = time.perf_counter()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(documents, (str, Document)):
            raise InvalidInputError("pass a list of documents, not a single one")
        if isinstance(documents, Sequence):
            self.choose_encoder([d.text for d in documents[:SAMPLE] if isinstance(d, Document)])
            self._watch_scripts([d.text for d in documents if isinstance(d, Document)])
            docs = validated(documents, unreadable=self.unreadable)
            batches: Iterable[list[tuple[str, dict[str, Any]]]] = (
                docs[lo:lo + batch_size] for lo in range(0, len(docs), batch_size))
            if not docs:
                return IngestReport()
        else:
            batches = (validated(chunk, offset, self.unreadable) for offset, chunk in
                       self._choosing(chunked(documents, batch_size)))
        counts = [0, 0, 0]  # added, updated, unchanged
        ready, cut = False, getattr(self.encoder, "truncated", 0)
        total = len(docs) if isinstance(documents, Sequence) else None
        with progress_bar(show_progress_bar, total) as bar:
            for batch in batches:
                if not ready:
                    self.store.ensure_collection(self.encoder.dimension, self.encoder.similarity)
                    self._check_models(writing=True)
                    ready = True
                self._write_batch(batch, counts)
                bar.update(len(batch))
                if progress is not None:
                    progress(len(batch))
        added, updated, unchanged = counts
        if added or updated:
            self.store.finish_ingest()
        truncated = getattr(self.encoder, "truncated", 0) - cut
        return IngestReport(added, updated, unchanged, time.perf_counter() - start, truncated)

    @property
    def choosing_encoder(self) -> bool:
        """Whether the first documents written will choose the recall model (no encoder given, new collection)."""
        return self._by_language

    def choose_encoder(self, texts: Sequence[str]) -> None:
        """Before the first write into a new collection: the recall model the scripts of its first documents
        (``texts``; the first :data:`~recallrank.retrieval.languages.SAMPLE` are read) call for, and the default
        stages for it (see :mod:`recallrank.retrieval.languages`); a no-op once chosen or given. Chunking calls it
        first, so that chunks are measured in the chosen model's tokens."""
        if not self._by_language:
            return
        self._by_language = False
        self.encoder, self._languages = choose_encoder(list(texts)[:SAMPLE], self._precision)
        if self._default_stages:
            self.stages = default_stages(self.encoder)
        self._fit_to_encoder()

    def _fit_to_encoder(self) -> None:
        """What follows from the recall model: a cross-encoder stage whose model nobody named follows it (the
        bilingual one after multilingual-e5-small), and the calibrated fusions that apply to it."""
        self.stages = [Stage(fitted_to(st.reranker, self.encoder), st.keep) for st in self.stages]
        for st in self.stages:  # a zero-shot MaxSim stage over the recall model reads its forward pass
            share = getattr(getattr(st.reranker, "encoder", None), "share_pass", None)
            if share is not None:
                share(self.encoder)
        #: the last stage's reranker (``None`` without stages), as before cascades existed
        self.reranker: Any = self.stages[-1].reranker if self.stages else None
        #: the name a reranker's calibrated fusions know this recall model by (``None``: none can know it)
        self.recall_model = recall_model_name(self.encoder)
        self.fuse = self.recall_model is not None and self._recall.scores_are_similarities
        self._apply_tuned_stages()

    def _choosing(self, chunks: Iterable[tuple[int, list[Document]]]) -> Iterable[tuple[int, list[Document]]]:
        """A stream's chunks; a new collection's model is chosen from its first :data:`SAMPLE` documents (read
        ahead, at most that many held), and every chunk is watched for text the model cannot read."""
        if self._by_language:
            chunks, ahead = read_ahead(chunks, SAMPLE)
            self.choose_encoder([d.text for _, chunk in ahead for d in chunk if isinstance(d, Document)])
        for offset, chunk in chunks:
            self._watch_scripts([d.text for d in chunk if isinstance(d, Document)])
            yield offset, chunk

    def _watch_scripts(self, texts: Sequence[str]) -> None:
        if not self._warned_scripts:
            self._warned_scripts = warn_unreadable(registry_name(self.encoder), texts, getattr(self.store, "name",
                                                                                               "?"))

    def delete(self, documents: Iterable[Document]) -> None:
        self.store.delete([point_id(d) for d in documents])

    # -- search: one body of logic, sync and async differ only in how the store is awaited ----------------------
    def search(self, query: str, *, top_k: int | None = None, top_n: int | None = None,
               filter: MetadataFilter | None = None, score_threshold: float | None = None,
               rerank: bool = True, min_probability: float | str | None = None,
               latency_budget: float | None = None, documents: bool | None = None, passages: int | None = None,
               document_score: str | None = None, evidence: bool | None = None) -> SearchResponse:
        """Recall, rerank and keep ``top_n``; each argument left ``None`` takes the retriever's setting
        (``min_probability=0`` never abstains, ``rerank=False`` is recall alone, ``documents=True`` returns
        documents scored by their best passages)."""
        plan = self._plan(query, top_k, top_n, filter, score_threshold, rerank, min_probability, latency_budget)
        self._plan_documents(plan, documents, passages, document_score, evidence)
        vector = self._embed(plan) if self._recall.embeds_query or plan.rerank or plan.documents else None
        self._check_models()
        t = time.perf_counter()
        hits = self._grouped_recall(plan, vector, self._recall.mode_for(plan.query, self.store))
        if hits is None:
            hits = self._recall.search(self.store, plan.query, vector, plan.depth, plan.filter, self.exact)
        plan.timings["recall"] = time.perf_counter() - t
        return self._finish(plan, *self._for_stages(plan, hits, vector))

    async def asearch(self, query: str, *, top_k: int | None = None, top_n: int | None = None,
                      filter: MetadataFilter | None = None, score_threshold: float | None = None,
                      rerank: bool = True, min_probability: float | str | None = None,
                      latency_budget: float | None = None, documents: bool | None = None,
                      passages: int | None = None, document_score: str | None = None,
                      evidence: bool | None = None) -> SearchResponse:
        plan = self._plan(query, top_k, top_n, filter, score_threshold, rerank, min_probability, latency_budget)
        self._plan_documents(plan, documents, passages, document_score, evidence)
        embeds = self._recall.embeds_query or plan.rerank or plan.documents
        vector = await asyncio.to_thread(self._embed, plan) if embeds else None
        await asyncio.to_thread(self._check_models)
        t = time.perf_counter()
        hits = await asyncio.to_thread(self._grouped_recall, plan, vector,
                                       self._recall.mode_for(plan.query, self.store))
        if hits is None:
            hits = await self._recall.asearch(self.store, plan.query, vector, plan.depth, plan.filter, self.exact)
        plan.timings["recall"] = time.perf_counter() - t
        return await asyncio.to_thread(lambda: self._finish(plan, *self._for_stages(plan, hits, vector)))

    def _for_stages(self, plan: Plan, hits: list[Hit], vector: np.ndarray | None
                    ) -> tuple[list[Hit], dict[str, float] | None]:
        """After sparse or hybrid recall, the stages see each candidate's dense similarity as its recall score;
        recall alone keeps its order and scores, and its dense similarities (id -> similarity) go to the
        calibration when one applies (else ``None``)."""
        if vector is None or not hits or self._recall.mode_for(plan.query, self.store) == "dense":
            return hits, None
        dense = self._recall.similarities(self.store, hits, vector, getattr(self.encoder, "similarity", "cosine"))
        if plan.rerank and self.stages:
            return dense, None
        wanted = self.keep_relevance_inputs or self.calibration_for(self._key(-1, "dense")[0]) is not None
        return hits, ({h.id: h.score for h in dense} if wanted and dense is not hits else None)

    def recall(self, query: str, top_k: int | None = None, filter: MetadataFilter | None = None) -> SearchResponse:
        """The recall stage alone (as ``recall`` chooses): ``top_k`` results in recall order, every one kept
        (``min_probability=0``; ``search(rerank=False)`` is recall alone with the retriever's threshold)."""
        return self.search(query, top_k=top_k, top_n=top_k if top_k is not None else self.top_k, filter=filter,
                           rerank=False, min_probability=0)

    def _plan(self, query: str, top_k: int | None, top_n: int | None, flt: MetadataFilter | None,
              score_threshold: float | None, rerank: bool, min_probability: float | str | None = None,
              budget: float | None = None) -> Plan:
        query = check_text(query, "query")
        k = top_k if top_k is not None else self.top_k
        n = top_n if top_n is not None else self.top_n
        check_k(k, n)
        check_filter(flt)
        threshold = check_threshold(score_threshold if score_threshold is not None else self.score_threshold)
        mp = check_min_probability(min_probability) if min_probability is not None else self.min_probability
        budget = check_budget(budget) if budget is not None else self.latency_budget
        return Plan(query, k, n, flt, threshold, rerank and bool(self.stages), {}, time.perf_counter(), mp, budget)

    def _check_models(self, writing: bool = False) -> None:
        """Once per retriever: the encoder is the one the collection records (see :mod:`.recorded`)."""
        if not self._models_checked and not self.allow_other_encoder:
            check_encoder(self.store, self.encoder, writing, self._languages)
        self._models_checked = True

    def _embed(self, plan: Plan) -> np.ndarray:
        t = time.perf_counter()
        vector = self.encoder.encode_queries([plan.query])[0]
        plan.timings["embed"] = time.perf_counter() - t
        return vector

    def _finish(self, plan: Plan, hits: list[Hit], dense: dict[str, float] | None = None) -> SearchResponse:
        t, wanted = time.perf_counter(), plan.top_n
        if plan.documents:  # every candidate chunk ranked, then grouped into documents below
            plan.top_n = max(len(hits), plan.top_n)
        # dense similarities whenever a stage runs, or given apart (``dense``) for hybrid recall alone
        recalled = recall_summary(list(dense.values()) if dense else [h.score for h in hits])
        results: list[Any] = []
        done, skipped = -1, tuple[str, ...]()  # the stages a budget or a confident recall left out
        mode = self._recall.mode_for(plan.query, self.store)
        if plan.rerank and self.stages and hits:
            if self._confident(plan, hits, mode):
                skipped = tuple(st.name for st in self.stages)
            else:
                kwargs = stage_kwargs(self.store, self.recall_model, self.fuse and mode == "dense")
                results, done, skipped = run_stages(self.stages, plan, hits, self._costs, kwargs)
        if done < 0:
            model = self._recall.model(registry_name(self.encoder), mode)
            results = recall_results(hits, max(plan.top_n, CALIBRATION_DEPTH), model)
        judged = self._judged(plan, results, recalled, done, mode, self.fuse and mode == "dense", dense)
        plan.top_n = wanted
        if plan.documents:
            judged["results"] = self._as_documents(plan, judged["results"], wanted)
        judged["results"] = self._with_evidence(plan, judged["results"], done)
        if plan.threshold is not None:  # score_threshold on the ranking score, as before probabilities existed
            judged["results"] = [r for r in judged["results"] if r.score >= plan.threshold]
        plan.timings["rerank"] = time.perf_counter() - t
        plan.timings["total"] = time.perf_counter() - plan.started
        return SearchResponse(recalled=len(hits), timings=dict(plan.timings), skipped=skipped, **judged)

    def config(self) -> dict[str, Any]:
        """The retriever's settings as plain data (no secrets)."""
        top_k = self._top_k_given if self._top_k_given is not None else (self._tuned_cache or {}).get("top_k")
        return {"top_k": top_k if top_k is not None else DEFAULT_TOP_K, "top_n": self.top_n,
                "score_threshold": self.score_threshold,
                "min_probability": self.min_probability, "latency_budget": self.latency_budget,
                "confident_recall": self.confident_recall, "documents": self.documents, "passages": self.passages,
                "document_score": self.document_score, "evidence": self.evidence,
                "exact": self.exact, "recall": self.recall_mode, "encoder": self.encoder.config(),
                "reranker": st_config(self.reranker) if self.reranker is not None else None,
                "stages": [{"keep": st.keep, **st_config(st.reranker)} for st in self.stages]}
