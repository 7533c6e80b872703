"""Plain data types shared by every stage: what goes into the store and what comes out of a search."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recallrank.errors import InvalidInputError


@dataclass(frozen=True)
class Document:
    """A text with optional id and metadata.

    ``id`` is the caller's own identifier; when given, the stored point id is derived from it alone, so a
    changed text under the same id replaces the old one. Without it, the point id comes from text + metadata.

    Example:
        >>> Document("Qdrant is a vector database.", metadata={"source": "notes"}).text
        'Qdrant is a vector database.'
    """

    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


#: the one metadata key under which recallrank keeps its own bookkeeping (source file, record id, chunk number,
#: ``parent`` and the chunk's ``start``/``end`` offsets in it)
BOOKKEEPING = "_recallrank"


def parent_of(doc: Document) -> str | None:
    """The id of the document ``doc`` was cut from (``_recallrank.parent``, written by chunking), else ``None``."""
    book = doc.metadata.get(BOOKKEEPING) if isinstance(doc.metadata, Mapping) else None
    parent = book.get("parent") if isinstance(book, Mapping) else None
    return parent if isinstance(parent, str) else None


@dataclass(frozen=True)
class Evidence:
    """Where a result matched the query: a snippet of its text with the matched words highlighted.

    ``start``/``end`` are character offsets of ``text`` in the result's text; ``highlights`` the ``(start, end)``
    of each matched word in the same coordinates; ``source_start``/``source_end`` the snippet's offsets in the
    document the chunk was cut from (``None`` where the chunk records no offset). ``score`` is what the snippet
    adds to the ranking score (the MaxSim similarities of the query tokens it holds, or the cross-encoder's score of
    the sentence); ``stage`` the stage that found it (``"maxsim"``, ``"colbert"``, ``"cross"``).
    """

    start: int
    end: int
    text: str
    score: float
    highlights: tuple[tuple[int, int], ...] = ()
    source_start: int | None = None
    source_end: int | None = None
    stage: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "score": self.score,
                "highlights": [list(h) for h in self.highlights], "source_start": self.source_start,
                "source_end": self.source_end, "stage": self.stage}


@dataclass(frozen=True)
class Passage:
    """One of the best passages of a document result (a search for documents): the chunk's text, its id and
    point id, its ranking ``score`` and ``probability``, its ``start``/``end`` offsets in the document (``None``
    where the chunk records none) and its evidence."""

    text: str
    score: float
    id: str | None = None
    point_id: str | None = None
    start: int | None = None
    end: int | None = None
    probability: float | None = None
    evidence: tuple[Evidence, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "point_id": self.point_id, "text": self.text, "score": self.score,
                "probability": self.probability, "start": self.start, "end": self.end,
                "evidence": None if self.evidence is None else [e.as_dict() for e in self.evidence]}


def chunk_of(metadata: Mapping[str, Any], doc_id: object) -> tuple[Mapping[str, Any], str] | None:
    """For a chunk ``recallrank index`` wrote (id ``<key>#<n>`` with bookkeeping ``chunk = n``: under
    :data:`BOOKKEEPING`, or at the top of the metadata for chunks written before that key existed): its bookkeeping
    and the ``key`` of what it was cut from; ``None`` for any other document."""
    book = metadata.get(BOOKKEEPING)
    book = book if isinstance(book, Mapping) else metadata
    chunk = book.get("chunk")
    if not (isinstance(chunk, int) and isinstance(doc_id, str) and doc_id.endswith(f"#{chunk}")):
        return None
    return book, doc_id[:-len(f"#{chunk}")]


#: the score fields of :meth:`Result.score_fields`, as every front end names them in metadata
SCORE_FIELDS = ("score", "probability", "relevance_score", "retrieval_score", "score_stage", "score_model")


@dataclass(frozen=True)
class Result:
    """One ranked document with the score of each stage.

    Attributes:
        document: the stored document (a new object; the caller's are never mutated).
        score: what the final ranking is ordered by.
        retrieval_score: the recall stage's similarity (higher is better; negative distance for euclidean).
        relevance_score: the last rerank stage's own score (the cross-encoder's probability, the MaxSim score),
            ``None`` when no reranker ran.
        point_id: the id of the point in Qdrant.
        stage: the stage whose ordering ``score`` is (``"recall"``, ``"maxsim"``, ``"cross"``, ``"colbert"``,
            ``"poly"``), ``None`` where nothing says; model: the model of that stage.
        probability: the calibrated probability that the document is relevant to the query, for the pipeline
            that ranked it (:mod:`recallrank.rerank.relevance`); ``None`` where that pipeline has no fitted
            calibration. ``score`` keeps the ranking score as it is.
        passages: in a search for documents, the document's best passages (best first; ``document`` then holds
            them joined in document order, its id the document's); ``()`` for a chunk result.
        evidence: where the text matched the query (:class:`Evidence`, best first); ``None`` where none was
            computed (see ``evidence`` in :meth:`TwoStageRetriever.search <recallrank.TwoStageRetriever.search>`).
    """

    document: Document
    score: float
    retrieval_score: float | None = None
    relevance_score: float | None = None
    point_id: str | None = None
    stage: str | None = None
    model: str | None = None
    probability: float | None = None
    passages: tuple[Passage, ...] = ()
    evidence: tuple[Evidence, ...] | None = None

    def score_fields(self) -> dict[str, Any]:
        """The score fields every front end puts in a result's metadata, under these names: ``score`` (what the
        order follows), ``probability`` (calibrated P(relevant), ``None`` without a calibration),
        ``relevance_score`` (the last rerank stage's own score), ``retrieval_score`` (the recall similarity, or the
        score the document arrived with), ``score_stage`` and ``score_model`` (what produced ``score``)."""
        return {"score": self.score, "probability": self.probability, "relevance_score": self.relevance_score,
                "retrieval_score": self.retrieval_score, "score_stage": self.stage, "score_model": self.model}

    @property
    def text(self) -> str:
        return self.document.text

    def found_fields(self) -> dict[str, Any]:
        """Where the result matched, as plain data every front end puts in its metadata: ``passages`` (a document
        result's best passages, else absent) and ``evidence`` (absent where none was computed)."""
        out: dict[str, Any] = {}
        if self.passages:
            out["passages"] = [p.as_dict() for p in self.passages]
        if self.evidence is not None:
            out["evidence"] = [e.as_dict() for e in self.evidence]
        return out


#: limits every backend stores and reads back intact (Qdrant Edge's WAL cannot read payloads nested ~120 deep)
MAX_METADATA_DEPTH = 32
MAX_METADATA_BYTES = 1 << 20
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def check_text(value: object, what: str = "text") -> str:
    """Return ``value`` if it is a non-blank string that is valid Unicode, else raise an error saying what was
    passed."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a str, got {type(value).__name__}: {value!r:.60}")
    if not value.strip():
        raise InvalidInputError(f"{what} is empty or whitespace only; pass some text")
    check_unicode(value, what)
    return value


def check_unicode(value: str, what: str) -> str:
    """Strings must encode as UTF-8: a lone surrogate (undecodable bytes, a broken JSON escape) cannot be stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid Unicode: {value[max(0, exc.start - 10):exc.end + 10]!r} holds a lone surrogate "
            f"at character {exc.start} (undecodable bytes or a broken \\u escape); fix the input encoding (UTF-8)"
        ) from None
    return value


def check_metadata(metadata: object, where: str) -> dict[str, Any]:
    """Metadata must be a JSON object that every backend stores and returns exactly (it becomes the payload).

    Keys are strings that a filter can name (:func:`key_problem`: not blank, no ``.``, ``[``, ``]``, ``"`` or
    backslash; no ``@`` or ``$`` first at the top level); values are ``None``, ``bool``, ``int`` (64-bit), finite
    ``float``, ``str``, and lists or dicts of these, nested at most :data:`MAX_METADATA_DEPTH` deep and
    :data:`MAX_METADATA_BYTES` in all. Anything else is refused naming the document and key, before anything is
    written.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(f"{where}: metadata must be a dict, got {type(metadata).__name__}")
    check_value(metadata, where, "metadata", 0)
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInputError(f"{where}: metadata is {size:,} bytes as JSON, over the {MAX_METADATA_BYTES:,} "
                                "allowed; keep large content in the text or outside the index")
    return dict(metadata)


#: characters no metadata key may hold: filters use them to name nested fields (``a.b``, ``tags[].name``) and
#: quote odd ones (``"a b"``), and Qdrant's JSON paths cannot hold a backslash
KEY_FORBIDDEN = '.[]"\\'
#: first characters a top-level key may not have: ``@`` names the document's own fields in filters (``@text``) and
#: ``$`` LangChain's operators (``$and``)
KEY_RESERVED_START = "@$"


def key_problem(key: str, top: bool = True) -> str | None:
    """Why no filter could name the metadata key ``key`` (``None`` if one can); ``top``: a top-level key."""
    if not key.strip():
        return "is blank"
    bad = sorted(set(key) & set(KEY_FORBIDDEN))
    if bad:
        return "holds " + " and ".join(repr(c) for c in bad)
    if top and key[0] in KEY_RESERVED_START:
        return f"starts with {key[0]!r}"
    return None


def check_key(key: str, where: str, path: str, top: bool) -> None:
    """Refuse a metadata key that no filter could name (see :func:`key_problem`), saying how to rename or nest it."""
    problem = key_problem(key, top)
    if problem is None:
        return
    if "." in key:
        why = f"filters read {key!r} as nested keys"
        parts = [p for p in key.split(".") if p.strip()]
        nest = f" or nest it ({{{parts[0]!r}: {{{parts[1]!r}: ...}}}})" if len(parts) == 2 else ""
        hint = f"rename it (e.g. {key.replace('.', '_')!r}){nest}"
    elif problem.startswith("starts with '@'"):
        why, hint = "filters read '@text' and '@doc_id' as the document's own fields", "rename it or nest it"
    elif problem.startswith("starts with '$'"):
        why, hint = "LangChain filters read '$...' as operators", "rename it or nest it"
    elif problem == "is blank":
        why, hint = "a filter key names a field", "rename it"
    else:
        why, hint = "filters use these characters to name nested, listed and quoted keys", "rename it"
    raise InvalidInputError(f"{where}: {path} has the key {key!r}, which {problem}, so no filter could name it "
                            f"({why}); {hint}")


def check_value(value: object, where: str, path: str, depth: int = 0) -> None:
    """Raise :class:`InvalidInputError` naming ``where`` and ``path`` unless ``value`` is JSON every backend stores
    exactly (``depth`` is how deep ``value`` already sits)."""
    if isinstance(value, (Mapping, list)):
        if depth >= MAX_METADATA_DEPTH:
            raise InvalidInputError(f"{where}: {path} is nested more than {MAX_METADATA_DEPTH} levels deep; "
                                    "flatten the metadata (Qdrant cannot read deeper payloads back)")
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_value(item, where, f"{path}[{i}]", depth + 1)
            return
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(f"{where}: {path} has the key {key!r}; metadata keys must be non-empty "
                                        "strings (convert it with str())")
            check_unicode(key, f"{where}: key {path}.{key!r}")
            if depth >= 0:  # metadata (depth -1 is the payload around it, whose keys are recallrank's own)
                check_key(key, where, path, top=depth == 0)
            check_value(item, where, f"{path}.{key}", depth + 1)
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidInputError(f"{where}: {path} = {value} is outside the 64-bit integer range Qdrant stores "
                                    "exactly; store it as a string")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: {path} = {value}: NaN and infinity cannot be stored in JSON; use "
                                    "None or a finite number")
        return
    if isinstance(value, str):
        check_unicode(value, f"{where}: {path}")
        return
    raise InvalidInputError(
        f"{where}: {path} is a {type(value).__name__} ({value!r:.60}), which is not JSON-serialisable as itself; "
        "convert it to str, int, float, bool, None, list or dict"
        + (" (a tuple would come back as a list: pass a list)" if isinstance(value, tuple) else ""))
