"""Qdrant server (or cluster) through ``qdrant-client``: URL, API key, HTTPS, sync and async clients.

``QdrantServerStore(location=":memory:")`` uses qdrant-client's local mode, a brute-force test double;
it is useful in tests, never the default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from recallrank.errors import CollectionMismatchError, MissingDependencyError, StoreError, StoreUnavailableError
from recallrank.filters import as_filter, check_indexes
from recallrank.filters.qdrant import UNRECORDED, index_kinds
from recallrank.index.base import (
    DISTANCES,
    Hit,
    MetadataFilter,
    StoredPoint,
    check_index_type,
    check_points,
    from_payload,
    plan_indexes,
    qdrant_filter,
    short_of_limit,
    stamp,
)
from recallrank.index.settings import CollectionSettings
from recallrank.redact import MASK, check_url, has_secret, redact_url

log = logging.getLogger(__name__)


def _client_module() -> Any:
    try:
        import qdrant_client
    except ImportError as exc:
        raise MissingDependencyError("the Qdrant server backend needs qdrant-client: "
                                     "pip install 'recallrank[server]'") from exc
    return qdrant_client


class QdrantServerStore:
    """A collection on a Qdrant server.

    Args:
        url: e.g. ``http://localhost:6333`` or ``https://xyz.cloud.qdrant.io``.
        name: collection name.
        api_key: sent as the ``api-key`` header; never logged or serialised.
        https: force HTTPS (``None``: from the URL).
        timeout: seconds per request; the first request fails fast with the URL in the message.
        location: ``":memory:"`` or a folder for qdrant-client's local mode (tests only).
        client, async_client: ready-made ``QdrantClient`` / ``AsyncQdrantClient`` to use instead.
        hnsw_ef: search-time HNSW breadth, ``None`` for the collection's default.
        settings: the collection's layout when it is created (:class:`CollectionSettings`: shards, replicas,
            write consistency, on-disk vectors and payloads, quantisation with rescoring); an existing
            collection created with other settings raises :class:`CollectionMismatchError`.
        prefer_grpc, grpc_port: talk gRPC (port 6334 by default) instead of REST: faster for large upserts.

    Example:
        >>> store = QdrantServerStore("http://localhost:6333", "docs")  # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, name: str = "recallrank", *, api_key: str | None = None,
                 https: bool | None = None, timeout: float = 10.0, location: str | None = None,
                 client: Any = None, async_client: Any = None, hnsw_ef: int | None = None,
                 settings: CollectionSettings | None = None, prefer_grpc: bool = False,
                 grpc_port: int = 6334) -> None:
        if url is None and location is None and client is None:
            raise ValueError("pass url='http://host:6333' (or client=QdrantClient(...), or location=':memory:')")
        if settings is not None and not isinstance(settings, CollectionSettings):
            raise TypeError(f"settings must be a CollectionSettings, got {type(settings).__name__}")
        if url is not None:
            check_url(url)  # a password the client would split elsewhere is refused, masked, before any request
            if has_secret(url) and api_key is None and "@" in url:
                log.warning("%s: qdrant-client sends no credentials written in a URL; pass the server's API key as "
                            "api_key (--api-key or RECALLRANK_API_KEY)", redact_url(url))
        self.url, self.name, self.location = url, name, location
        self.settings, self.prefer_grpc, self.grpc_port = settings, prefer_grpc, grpc_port
        self._api_key, self.https, self.timeout, self.hnsw_ef = api_key, https, timeout, hnsw_ef
        self._client, self._aclient = client, async_client
        self._similarity: str | None = None
        self._known = False
        self._fields: dict[str, int] = {}  # token-vector fields seen on the server (see multivector_fields)
        self._indexed: dict[str, str] | None = None  # payload path -> index type on the server

    def __repr__(self) -> str:  # neither the API key nor a password in the URL ever appears
        return f"QdrantServerStore(url={redact_url(self.url)!r}, name={self.name!r}, location={self.location!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            qc = _client_module()
            if self.location is not None:
                self._client = qc.QdrantClient(location=self.location) if self.location == ":memory:" \
                    else qc.QdrantClient(path=self.location)
            else:
                self._client = qc.QdrantClient(url=self.url, api_key=self._api_key, https=self.https,
                                               timeout=int(self.timeout), check_compatibility=False,
                                               prefer_grpc=self.prefer_grpc, grpc_port=self.grpc_port)
        return self._client

    @property
    def async_client(self) -> Any:
        if self._aclient is None:
            if self.location is not None:
                return None  # local mode has no shared async twin of the same data
            qc = _client_module()
            self._aclient = qc.AsyncQdrantClient(url=self.url, api_key=self._api_key, https=self.https,
                                                 timeout=int(self.timeout), check_compatibility=False,
                                                 prefer_grpc=self.prefer_grpc, grpc_port=self.grpc_port)
        return self._aclient

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _server_error(self.url, what, exc) from exc

    def ensure_collection(self, dimension: int, similarity: str) -> None:
        from qdrant_client import models

        if not self.exists():
            distance = getattr(models.Distance, DISTANCES[similarity].upper())
            self._call("create the collection", self.client.create_collection, self.name,
                       **self.create_arguments(dimension, distance))
        else:
            self._check_settings()
            params, _ = self._vector_params()
            have_dist = str(params.distance.value if hasattr(params.distance, "value") else params.distance)
            want_dist = DISTANCES[similarity]
            if params.size != dimension or have_dist.lower() != want_dist.lower():
                raise CollectionMismatchError(
                    f"collection '{self.name}' has {params.size}-d {have_dist} vectors but the model makes "
                    f"{dimension}-d {want_dist} ones; use the model it was built with or another collection name")
        self._similarity = similarity
        self._known = True

    def create_arguments(self, dimension: int, distance: Any) -> dict[str, Any]:
        """``create_collection``'s keyword arguments for this store's settings (the defaults send none)."""
        from qdrant_client import models

        cs = self.settings if self.settings is not None else CollectionSettings()
        out: dict[str, Any] = {"vectors_config": models.VectorParams(size=dimension, distance=distance,
                                                                      on_disk=cs.on_disk or None)}
        for name, value in cs.server_only().items():
            out[name] = value
        if cs.on_disk_payload:
            out["on_disk_payload"] = True
        if cs.hnsw_on_disk:
            out["hnsw_config"] = models.HnswConfigDiff(on_disk=True)
        if cs.quantization == "scalar":
            out["quantization_config"] = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=cs.quantization_always_ram))
        elif cs.quantization == "binary":
            out["quantization_config"] = models.BinaryQuantization(binary=models.BinaryQuantizationConfig(
                always_ram=cs.quantization_always_ram))
        return out

    def _check_settings(self) -> None:
        """An existing collection must have the layout asked for (when settings were given; qdrant-client's local
        mode drops quantisation and cluster settings, so it is not asked)."""
        if self.settings is None or self.location is not None:
            return
        config = self._call("read the collection", self.client.get_collection, self.name).config
        params = config.params
        dense, _ = self._vector_params()
        quant = config.quantization_config
        have = {"on_disk": bool(getattr(dense, "on_disk", None)),
                "on_disk_payload": bool(getattr(params, "on_disk_payload", None)),
                "quantization": "scalar" if getattr(quant, "scalar", None) is not None else
                "binary" if getattr(quant, "binary", None) is not None else None,
                "shard_number": getattr(params, "shard_number", None),
                "replication_factor": getattr(params, "replication_factor", None),
                "write_consistency_factor": getattr(params, "write_consistency_factor", None)}
        want = {k: getattr(self.settings, k) for k in have}
        # vectors' place and quantisation must match either way; a server defaults on_disk_payload to true and
        # local mode reports no cluster settings, so those are checked only where asked for and known
        diff = [f"{k}={have[k]!r}, asked {want[k]!r}" for k in have if have[k] != want[k] and (
            k in ("on_disk", "quantization") or (k == "on_disk_payload" and want[k])
            or (want[k] is not None and have[k] is not None and k not in ("on_disk_payload",)))]
        if diff:
            raise CollectionMismatchError(
                f"collection '{self.name}' on {redact_url(self.url) if self.url else 'the server'} was created with "
                "other settings ("
                + "; ".join(diff) + "); leave settings out to use it as it is, or move the points into a new "
                "collection with `recallrank index --reembed --into NEW`")

    def exists(self) -> bool:
        """Whether the collection exists. Asks the server until it is known to, then remembers it (one request
        per ingest batch saved); a collection deleted behind our back surfaces as an error of the next call."""
        if not self._known:
            self._known = bool(self._call("check the collection", self.client.collection_exists, self.name))
        return self._known

    def open(self) -> None:
        """Connect now and check the collection exists (a wrong URL or key fails here, before models load)."""
        if not self.exists():
            raise StoreError(f"no collection '{self.name}' on the Qdrant server at {redact_url(self.url)}; index "
                             "some documents first or pass the collection name it was built with")

    def scroll(self, fields: Sequence[str], flt: MetadataFilter | None = None,
               batch: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.exists():
            return
        offset = None
        while True:
            records, offset = self._call("read payloads", self.client.scroll, self.name,
                                         scroll_filter=self._filter(flt), limit=batch, offset=offset,
                                         with_payload=list(fields), with_vectors=False)
            yield from ((str(r.id), dict(r.payload or {})) for r in records)
            if offset is None:
                return

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids or not self.exists():
            return {}
        records = self._call("retrieve points", self.client.retrieve, self.name, ids=list(ids),
                             with_payload=["content_hash"], with_vectors=False)
        return {str(r.id): str((r.payload or {}).get("content_hash")) for r in records}

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids or not self.exists():
            return {}
        named = self._named()
        records = self._call("read vectors", self.client.retrieve, self.name, ids=list(ids), with_payload=False,
                             with_vectors=[""] if named else True)  # the dense vector only, not token vectors
        out = {}
        for r in records:
            vector = r.vector.get("") if isinstance(r.vector, dict) else r.vector
            if vector:
                out[str(r.id)] = np.asarray(vector, dtype=np.float32)
        return out

    def _vector_params(self) -> tuple[Any, dict[str, Any]]:
        """(the unnamed dense vector's params, the named vectors' params) of the collection."""
        params = self._call("read the collection", self.client.get_collection, self.name).config.params.vectors
        if not isinstance(params, dict):
            return params, {}
        if "" not in params:
            raise CollectionMismatchError(f"collection '{self.name}' has only named vectors {sorted(params)}; "
                                          "recallrank needs an unnamed dense vector: pass another collection name")
        return params[""], {k: v for k, v in params.items() if k}

    def _named(self) -> bool:
        """Whether the collection has named vectors beside the dense one (asked once a token field is known)."""
        return bool(self._fields) or bool(self._vector_params()[1])

    # -- token vectors: a MaxSim multivector field beside the dense vector (Qdrant server >= 1.18) ---------------
    def multivector_fields(self) -> dict[str, int]:
        """The collection's token-vector fields: name -> size of each token vector. Fields are never removed, so
        the ones seen are remembered and a scored query asks the server once, not per query."""
        if not self.exists():
            return {}
        if not self._fields:
            self._fields = {k: int(v.size) for k, v in self._vector_params()[1].items()
                            if v.multivector_config is not None}
        return dict(self._fields)

    def ensure_multivector(self, name: str, dimension: int, model: str | None = None) -> None:
        """Add the field ``name`` (MaxSim over ``dimension``-d fp16 token vectors), or check the existing one."""
        from qdrant_client import models

        from recallrank.index.edge_multivector import check_field_name

        check_field_name(name)
        have = self.multivector_fields()
        if name in have:
            if have[name] != dimension:
                raise CollectionMismatchError(
                    f"collection '{self.name}' holds {have[name]}-d '{name}' token vectors but the model makes "
                    f"{dimension}-d ones; use the model it was built with or another field name")
            return
        config = models.DenseVectorConfig(
            size=dimension, distance=models.Distance.DOT, datatype=models.VectorStorageDatatype.FLOAT16,
            multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM))
        self._call(f"add the token-vector field '{name}' (needs Qdrant >= 1.18)", self.client.create_vector_name,
                   self.name, name, models.DenseVectorNameConfig(dense=config))
        self._fields[name] = dimension
        if self.location is None:  # no HNSW graph over token vectors: they rescore candidates
            self._call(f"configure the '{name}' field", self.client.update_collection, self.name,
                       vectors_config={name: models.VectorParamsDiff(hnsw_config=models.HnswConfigDiff(m=0))})

    def write_multivectors(self, name: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Set the ``name`` token vectors of existing points (point id -> ``(tokens, dimension)`` array)."""
        from qdrant_client import models

        from recallrank.index.edge_multivector import check_tokens

        dimension = self._field(name)
        if vectors:
            points = [models.PointVectors(id=pid, vector={name: check_tokens(pid, name, t, dimension).tolist()})
                      for pid, t in vectors.items()]
            self._call(f"write '{name}' token vectors", self.client.update_vectors, self.name, points=points,
                       wait=True)

    def without_multivector(self, name: str, batch: int = 256) -> Iterator[tuple[str, str]]:
        """``(point id, text)`` of every point that has no ``name`` token vectors yet."""
        from qdrant_client import models

        self._field(name)
        missing, offset = models.Filter(must_not=[models.HasVectorCondition(has_vector=name)]), None
        while True:
            records, offset = self._call("list points without token vectors", self.client.scroll, self.name,
                                         scroll_filter=missing, limit=batch, offset=offset, with_payload=["text"],
                                         with_vectors=False)
            yield from ((str(r.id), str((r.payload or {}).get("text", ""))) for r in records)
            if offset is None:
                return

    def maxsim_scores(self, name: str, query: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """MaxSim of the query's token vectors against each of ``ids``, computed by the server; points without
        ``name`` vectors are absent from the result."""
        from qdrant_client import models

        from recallrank.index.edge_multivector import query_tokens

        self._field(name)
        if not ids:
            return {}
        response = self._call("score token vectors", self.client.query_points, self.name, query=query_tokens(query),
                              using=name, limit=len(ids), with_payload=False,
                              query_filter=models.Filter(must=[models.HasIdCondition(has_id=list(ids))]),
                              search_params=None if self.location is not None else models.SearchParams(exact=True))
        return {str(p.id): float(p.score) for p in response.points}

    def _field(self, name: str) -> int:
        fields = self.multivector_fields()
        if name not in fields:
            raise StoreError(f"collection '{self.name}' on {redact_url(self.url)} has no '{name}' token vectors"
                             + (f" (it has {sorted(fields)})" if fields else "")
                             + "; add them with ensure_multivector() and fill them with write_multivectors()")
        return fields[name]

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_client import models

        if points:
            check_points(points)
            points = stamp(points)  # the record of metadata keys that exact filters read
            for path, kind in plan_indexes(points, self.payload_indexes(), f"collection '{self.name}'").items():
                self._index(path, kind)  # payload indexes for the keys written: made here, never by a search
            named = self._named()  # beside other vector fields the dense one is named ""
            batch = [models.PointStruct(id=p.id, vector={"": [float(x) for x in p.vector]} if named
                                        else [float(x) for x in p.vector], payload=p.payload) for p in points]
            self._call("upsert points", self.client.upsert, self.name, points=batch, wait=True)

    def finish_ingest(self) -> None:
        """The server indexes in the background; nothing to do."""

    def _request(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None, exact: bool) -> dict[str, Any]:
        from qdrant_client import models

        request = {"collection_name": self.name, "query": [float(x) for x in np.asarray(vector).ravel()],
                   "limit": limit, "query_filter": self._filter(flt), "with_payload": True}
        if self.location is None:  # local mode is brute force and warns about search params
            quantization = None
            if exact:  # the original vectors, not a quantised collection's codes
                quantization = models.QuantizationSearchParams(ignore=True)
            elif self.settings is not None and self.settings.quantization is not None:
                quantization = models.QuantizationSearchParams(rescore=self.settings.rescore,
                                                               oversampling=self.settings.search_oversampling())
            request["search_params"] = models.SearchParams(hnsw_ef=self.hnsw_ef, exact=exact,
                                                           quantization=quantization)
        return request

    def _hits(self, response: Any) -> list[Hit]:
        if self._similarity is None:
            params, _ = self._vector_params()
            distance = str(getattr(params.distance, "value", params.distance)).lower()
            self._similarity = {"cosine": "cosine", "dot": "dot", "euclid": "euclidean"}.get(distance, distance)
        sign = -1.0 if self._similarity == "euclidean" else 1.0
        return [Hit(id=str(p.id), score=sign * float(p.score), document=from_payload(p.payload))
                for p in response.points]

    def search(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
               exact: bool = False) -> list[Hit]:
        request = self._request(vector, limit, flt, exact)
        hits = self._hits(self._call("search", self.client.query_points, **request))
        if self.location is None and short_of_limit(len(hits), limit, request["query_filter"], exact,
                                                    lambda: self.count(flt)):
            hits = self._hits(self._call("search", self.client.query_points,
                                         **self._request(vector, limit, flt, True)))
        return hits

    async def asearch(self, vector: np.ndarray, limit: int, flt: MetadataFilter | None = None,
                      exact: bool = False) -> list[Hit]:
        aclient = self.async_client
        if aclient is None:
            import asyncio

            return await asyncio.to_thread(self.search, vector, limit, flt, exact)
        try:
            request = self._request(vector, limit, flt, exact)
            hits = self._hits(await aclient.query_points(**request))
            if self.location is None and short_of_limit(len(hits), limit, request["query_filter"], exact,
                                                        lambda: self.count(flt)):
                hits = self._hits(await aclient.query_points(**self._request(vector, limit, flt, True)))
        except StoreError:
            raise
        except Exception as exc:
            raise _server_error(self.url, "search", exc) from exc
        return hits

    def delete(self, ids: Sequence[str]) -> None:
        from qdrant_client import models

        if ids:
            self._call("delete points", self.client.delete, self.name,
                       points_selector=models.PointIdsList(points=list(ids)), wait=True)

    def count(self, flt: MetadataFilter | None = None) -> int:
        if not self.exists():
            return 0
        return int(self._call("count", self.client.count, self.name, count_filter=self._filter(flt),
                              exact=True).count)

    def _filter(self, flt: MetadataFilter | None) -> Any:
        """``flt`` as qdrant-client's filter, once checked against the payload indexes (a search writes nothing)."""

        def unrecorded() -> int:
            return int(self._call("count points without a metadata record", self.client.count, self.name,
                                  count_filter=_server_filter(UNRECORDED), exact=True).count)

        parsed = as_filter(flt)
        check_indexes(parsed, self.payload_indexes, unrecorded, f"collection '{self.name}'")
        return _server_filter(parsed)

    def payload_indexes(self) -> dict[str, str]:
        """The collection's payload indexes: payload path (``metadata.lang``) -> type (``keyword``, ``float``,
        ``bool``, ``datetime``); read from the server once, then kept up to date with the ones this store makes.
        Keys get one as documents are written; a search never makes one. qdrant-client's local mode has none."""
        if self._local() or not self.exists():
            return {}
        if self._indexed is None:
            info = self._call("read the payload indexes", self.client.get_collection, self.name)
            self._indexed = index_kinds(info.payload_schema)
        return dict(self._indexed)

    def create_payload_index(self, key: str, kind: str) -> None:
        """Index the metadata ``key`` (``@doc_id`` for a field beside the metadata) as ``kind`` (``keyword``,
        ``float``, ``bool`` or ``datetime``), replacing an index of another type (a no-op in local mode)."""
        path, kind = check_index_type(key, kind)
        if self.payload_indexes().get(path) != kind:
            self._index(path, kind)

    def _index(self, path: str, kind: str) -> None:
        from qdrant_client import models

        if self._local():  # local mode has no payload indexes
            return
        if path in self.payload_indexes():
            self._call("replace a payload index", self.client.delete_payload_index, self.name, path, wait=True)
        self._call("create a payload index", self.client.create_payload_index, self.name, field_name=path,
                   field_schema=models.PayloadSchemaType(kind), wait=True)
        log.info("collection '%s': %s payload index on %s", self.name, kind, path)
        self._indexed = {**(self._indexed or {}), path: kind}

    def _local(self) -> bool:
        """Whether the client is qdrant-client's local mode (given as ``location``, or as a ready-made client)."""
        return self.location is not None or type(getattr(self.client, "_client", None)).__name__ == "QdrantLocal"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _server_filter(flt: MetadataFilter | None) -> Any:
    from qdrant_client import models

    return qdrant_filter(flt, models)


def _server_error(url: str | None, what: str, exc: Exception) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if url is not None and has_secret(url):
        text = text.replace(url, str(redact_url(url))).replace(url.rstrip("/"), str(redact_url(url.rstrip("/"))))
        parts = urlsplit(url)
        if parts.password:
            text = text.replace(parts.password, MASK)
    url = redact_url(url)
    if any(s in text for s in ("Connect", "connect", "Timeout", "timed out", "Name or service", "refused")):
        return StoreUnavailableError(f"cannot reach the Qdrant server at {url} to {what} ({text[:200]}); "
                                     "check the URL and that the server is running")
    return StoreError(f"Qdrant server at {url} failed to {what}: {text[:300]}")
