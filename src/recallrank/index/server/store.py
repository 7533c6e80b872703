"""Qdrant server (or cluster) through ``qdrant-client``: URL, API key, HTTPS, sync and async clients.

``QdrantServerStore(location=":memory:")`` uses qdrant-client's local mode, a brute-force test double;
it is useful in tests, never the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recallrank.errors import CollectionMismatchError, StoreError
from recallrank.filters import Filter, to_qdrant
from recallrank.filters.qdrant import index_kinds
from recallrank.index.base import PARENT, StoredPoint
from recallrank.index.collection import QdrantCollection
from recallrank.index.query import DISTANCES, SIMILARITIES, Fuse, Query, Sparse
from recallrank.index.server.errors import client_module, server_error
from recallrank.index.settings import CollectionSettings, quantization_config, search_params
from recallrank.index.sparse import FIELD, bm25_record
from recallrank.redact import check_url, has_secret, redact_url

log = logging.getLogger(__name__)
#: the key of the collection's metadata under which recallrank records the models that built it
RECORD_KEY = "recallrank"


class QdrantServerStore(QdrantCollection):
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

    The models that built the collection are recorded in its metadata (``recallrank`` key; Qdrant >= 1.16).

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
        super().__init__(name, settings, hnsw_ef)
        self.url, self.location = url, location
        self.prefer_grpc, self.grpc_port = prefer_grpc, grpc_port
        self._api_key, self.https, self.timeout = api_key, https, timeout
        self._client, self._aclient = client, async_client
        self._similarity: str | None = None
        self._known = False
        self._fields: dict[str, int] = {}  # token-vector fields seen on the server (see _read_fields)

    def __repr__(self) -> str:  # neither the API key nor a password in the URL ever appears
        return f"QdrantServerStore(url={redact_url(self.url)!r}, name={self.name!r}, location={self.location!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            qc = client_module()
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
            qc = client_module()
            self._aclient = qc.AsyncQdrantClient(url=self.url, api_key=self._api_key, https=self.https,
                                                 timeout=int(self.timeout), check_compatibility=False,
                                                 prefer_grpc=self.prefer_grpc, grpc_port=self.grpc_port)
        return self._aclient

    @property
    def where(self) -> str:
        return f"collection '{self.name}'" + (f" on {redact_url(self.url)}" if self.url else "")

    def wrap(self, what: str, exc: BaseException) -> StoreError:
        return server_error(self.url, what, exc)

    def _local(self) -> bool:
        """Whether the client is qdrant-client's local mode (given as ``location``, or as a ready-made client)."""
        return self.location is not None or type(getattr(self.client, "_client", None)).__name__ == "QdrantLocal"

    # -- the collection -----------------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the collection exists. Asks the server until it is known to, then remembers it (one request
        per ingest batch saved); a collection deleted behind our back surfaces as an error of the next call."""
        if not self._known:
            self._known = bool(self.call("check the collection", self.client.collection_exists, self.name))
        return self._known

    def open(self) -> None:
        """Connect now and check the collection exists (a wrong URL or key fails here, before models load)."""
        if not self.exists():
            raise StoreError(f"no collection '{self.name}' on the Qdrant server at {redact_url(self.url)}; index "
                             "some documents first or pass the collection name it was built with")

    def finish_ingest(self) -> None:
        """The server indexes in the background; nothing to do."""

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def create_arguments(self, dimension: int, distance: Any) -> dict[str, Any]:
        """``create_collection``'s keyword arguments for this store's settings (the defaults send none)."""
        from qdrant_client import models

        cs = self.settings if self.settings is not None else CollectionSettings()
        bm25 = models.SparseVectorParams(modifier=models.Modifier.IDF)  # weights are BM25's without the IDF
        out: dict[str, Any] = {"vectors_config": models.VectorParams(size=dimension, distance=distance,
                                                                      on_disk=cs.on_disk or None),
                               "sparse_vectors_config": {FIELD: bm25}}
        out.update(cs.server_only())
        if cs.on_disk_payload:
            out["on_disk_payload"] = True
        if cs.hnsw_on_disk:
            out["hnsw_config"] = models.HnswConfigDiff(on_disk=True)
        if cs.quantization is not None:
            out["quantization_config"] = quantization_config(models, cs)
        return out

    def _collection(self) -> Any:
        return self.call("read the collection", self.client.get_collection, self.name)

    def _vector_params(self) -> tuple[Any, dict[str, Any]]:
        """(the unnamed dense vector's params, the named vectors' params) of the collection."""
        params = self._collection().config.params.vectors
        if not isinstance(params, dict):
            return params, {}
        if "" not in params:
            raise CollectionMismatchError(f"collection '{self.name}' has only named vectors {sorted(params)}; "
                                          "recallrank needs an unnamed dense vector: pass another collection name")
        return params[""], {k: v for k, v in params.items() if k}

    def _settings_found(self) -> dict[str, Any]:
        """The settings the server reports. It defaults ``on_disk_payload`` to true, so true tells nothing of what
        was asked (``None``); local mode reports no cluster settings (``None``, not compared)."""
        config = self._collection().config
        params, quant = config.params, config.quantization_config
        dense, _ = self._vector_params()
        return {"on_disk": bool(getattr(dense, "on_disk", None)),
                "on_disk_payload": None if getattr(params, "on_disk_payload", None) else False,
                "quantization": "scalar" if getattr(quant, "scalar", None) is not None else
                "binary" if getattr(quant, "binary", None) is not None else None,
                **{k: getattr(params, k, None) for k in ("shard_number", "replication_factor",
                                                         "write_consistency_factor")}}

    def similarity(self) -> str:
        if self._similarity is None:
            described = self._described()
            self._similarity = described[1] if described is not None else "cosine"
        return self._similarity

    def _described(self) -> tuple[int, str] | None:
        if not self.exists():
            return None
        params, _ = self._vector_params()
        distance = str(getattr(params.distance, "value", params.distance)).lower()
        return int(params.size), SIMILARITIES.get(distance, distance)

    def _ready(self, dimension: int, similarity: str) -> None:
        from qdrant_client import models

        if not self.exists():
            distance = getattr(models.Distance, DISTANCES[similarity].upper())
            self.call("create the collection", self.client.create_collection, self.name,
                      **self.create_arguments(dimension, distance))
            self._record_sparse(bm25_record())  # created with its BM25 field
        elif self.location is None:  # local mode drops quantisation and cluster settings: not asked
            self.check_settings(self._settings_found())
        self._similarity = similarity
        self._known = True

    # -- the collection core's primitives -----------------------------------------------------------------------
    def _search_params(self, exact: bool) -> Any:
        from qdrant_client import models

        if self.location is not None:  # local mode is brute force and warns about search params
            return None
        quantized = None if self.settings is None else self.settings.quantization is not None
        return search_params(models, exact, self.hnsw_ef, quantized, self.settings)

    def _compile(self, flt: Filter | None) -> Any:
        from qdrant_client import models

        return to_qdrant(flt, models, "metadata.")

    def _has_ids(self, ids: Sequence[str]) -> Any:
        from qdrant_client import models

        return models.Filter(must=[models.HasIdCondition(has_id=list(ids))])

    def _lacks_vector(self, name: str) -> Any:
        from qdrant_client import models

        return models.Filter(must_not=[models.HasVectorCondition(has_vector=name)])

    @staticmethod
    def _scoring(vector: Any) -> Any:
        from qdrant_client import models

        if isinstance(vector, Fuse):
            return models.RrfQuery(rrf=models.Rrf(k=vector.k)) if vector.method == "rrf" \
                else models.FusionQuery(fusion=models.Fusion.DBSF)
        if isinstance(vector, Sparse):
            return models.SparseVector(indices=vector.indices, values=vector.values)
        return vector

    def _request(self, query: Query) -> dict[str, Any]:
        from qdrant_client import models

        request: dict[str, Any] = {"collection_name": self.name, "query": self._scoring(query.vector),
                                   "limit": query.limit, "query_filter": query.condition,
                                   "with_payload": query.with_payload, "search_params": query.params}
        if query.using is not None:
            request["using"] = query.using
        legs = [query.prefetch] if query.prefetch is not None else list(query.legs)
        if legs:
            request["prefetch"] = [models.Prefetch(query=self._scoring(leg.vector), using=leg.using, limit=leg.limit,
                                                   filter=leg.condition, params=leg.params) for leg in legs]
        return request

    def _query(self, query: Query) -> list[Any]:
        what = "search" if query.using in (None, FIELD) else "score token vectors"
        return list(self.call(what, self.client.query_points, **self._request(query)).points)

    async def _aquery(self, query: Query) -> list[Any]:
        aclient = self.async_client
        if aclient is None:
            return await super()._aquery(query)
        try:
            response = await aclient.query_points(**self._request(query))
        except Exception as exc:
            raise self.wrap("search", exc) from exc
        return list(response.points)

    def _count(self, condition: Any) -> int:
        return int(self.call("count", self.client.count, self.name, count_filter=condition, exact=True).count)

    def _scroll_page(self, condition: Any, fields: Sequence[str] | None, limit: int,
                     offset: Any) -> tuple[list[Any], Any]:
        records, offset = self.call("read payloads", self.client.scroll, self.name, scroll_filter=condition,
                                    limit=limit, offset=offset, with_vectors=False,
                                    with_payload=list(fields) if fields is not None else False)
        return list(records), offset

    def _retrieve(self, ids: Sequence[str], fields: Sequence[str] | None, with_dense: bool | str) -> list[Any]:
        vectors: Any = False
        if isinstance(with_dense, str):  # one named (token-vector) field
            vectors = [with_dense]
        elif with_dense:  # the dense vector only, never token vectors
            vectors = [""] if self._fields or self._vector_params()[1] else True
        return list(self.call("retrieve points", self.client.retrieve, self.name, ids=list(ids), with_vectors=vectors,
                              with_payload=list(fields) if fields is not None else False))

    def _read_indexes(self) -> dict[str, str] | None:
        """Read from the server once, then kept up to date with the ones this store makes; local mode has none."""
        if self._local():
            return {}
        if not self.exists():
            return None
        return index_kinds(self._collection().payload_schema)

    def _make_index(self, path: str, kind: str, replace: bool) -> bool:
        from qdrant_client import models

        if self._local():  # local mode has no payload indexes
            return False
        if replace:
            self.call("replace a payload index", self.client.delete_payload_index, self.name, path, wait=True)
        self.call("create a payload index", self.client.create_payload_index, self.name, field_name=path,
                  field_schema=models.PayloadSchemaType(kind), wait=True)
        return True

    def _write(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_client import models

        named = bool(self._fields) or bool(self._vector_params()[1])  # beside other vectors the dense one is ""
        batch = []
        for p in points:
            vector: Any = [float(x) for x in p.vector]
            if named or p.sparse:
                vector = {"": vector, **{k: self._scoring(v) for k, v in (p.sparse or {}).items()}}
            batch.append(models.PointStruct(id=p.id, vector=vector, payload=p.payload))
        self.call("upsert points", self.client.upsert, self.name, points=batch, wait=True)

    def _set_parents(self, values: dict[str, str]) -> None:
        from qdrant_client import models

        ops = [models.SetPayloadOperation(set_payload=models.SetPayload(payload={PARENT: parent}, points=[pid]))
               for pid, parent in values.items()]
        self.call("record parents", self.client.batch_update_points, self.name, update_operations=ops, wait=True)

    def _query_groups(self, query: Query, groups: int, group_size: int,
                      condition: Callable[[Sequence[str], bool], Any]) -> list[list[Any]]:
        """Qdrant's own grouping (``query_points_groups``); local mode runs its own copy of it."""
        request = self._request(query)
        request.pop("limit")
        found = self.call("search", self.client.query_points_groups, group_by=PARENT, limit=groups,
                          group_size=group_size, **request)
        return [list(g.hits) for g in found.groups]

    def _remove(self, ids: Sequence[str]) -> None:
        from qdrant_client import models

        self.call("delete points", self.client.delete, self.name, points_selector=models.PointIdsList(points=list(ids)),
                  wait=True)

    def _read_fields(self) -> dict[str, int]:
        """Fields are never removed, so the ones seen are remembered: a scored query asks the server once."""
        if not self._fields:
            self._fields = {k: int(v.size) for k, v in self._vector_params()[1].items()
                            if v.multivector_config is not None}
        return dict(self._fields)

    def _add_field(self, name: str, dimension: int) -> None:
        from qdrant_client import models

        config = models.DenseVectorConfig(
            size=dimension, distance=models.Distance.DOT, datatype=models.VectorStorageDatatype(
                (self.settings or CollectionSettings()).token_storage),
            multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM))
        self.call(f"add the token-vector field '{name}' (needs Qdrant >= 1.18)", self.client.create_vector_name,
                  self.name, name, models.DenseVectorNameConfig(dense=config))
        self._fields[name] = dimension
        if self.location is None:  # no HNSW graph over token vectors: they rescore candidates
            self.call(f"configure the '{name}' field", self.client.update_collection, self.name,
                      vectors_config={name: models.VectorParamsDiff(hnsw_config=models.HnswConfigDiff(m=0))})

    def _write_tokens(self, name: str, vectors: Mapping[str, list[list[float]]]) -> None:
        from qdrant_client import models

        points = [models.PointVectors(id=pid, vector={name: tokens}) for pid, tokens in vectors.items()]
        self.call(f"write '{name}' token vectors", self.client.update_vectors, self.name, points=points, wait=True)

    def _add_sparse(self, name: str) -> None:
        from qdrant_client import models

        if name in (self._collection().config.params.sparse_vectors or {}):  # a backfill stopped before recording
            return
        config = models.SparseVectorConfig(modifier=models.Modifier.IDF)
        self.call(f"add the sparse field '{name}' (needs Qdrant >= 1.18)", self.client.create_vector_name,
                  self.name, name, models.SparseVectorNameConfig(sparse=config))

    def _write_sparse(self, name: str, vectors: Mapping[str, Sparse]) -> None:
        from qdrant_client import models

        points = [models.PointVectors(id=pid, vector={name: self._scoring(v)}) for pid, v in vectors.items()]
        self.call(f"write '{name}' sparse vectors", self.client.update_vectors, self.name, points=points, wait=True)

    def _record(self) -> dict[str, Any]:
        metadata = getattr(self._collection().config, "metadata", None) or {}
        record = metadata.get(RECORD_KEY)
        return dict(record) if isinstance(record, dict) else {}

    def _update_record(self, changes: Mapping[str, Any]) -> None:
        record = {**self._record(), **changes}  # the server merges top-level keys: ours is replaced as a whole
        self.call("record the collection's models (needs Qdrant >= 1.16)", self.client.update_collection, self.name,
                  metadata={RECORD_KEY: record})
