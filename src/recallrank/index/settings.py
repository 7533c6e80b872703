"""How a collection is laid out, for both stores: where vectors and payloads live, quantisation with rescoring,
and (on a Qdrant server or cluster) sharding, replication and write consistency.

Settings take effect when a collection is created; an existing collection keeps its own (the embedded store
records them in ``recallrank.json``; a server reports them), and asking for other ones is an error that says how
to move to them (``recallrank index --reembed --into NEW``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Quantization = Literal["scalar", "binary"]
TokenStorage = Literal["float32", "float16", "turbo8", "turbo4"]
#: settings a Qdrant server or cluster has and the embedded (single-shard) store has not
SERVER_ONLY = ("shard_number", "replication_factor", "write_consistency_factor")


@dataclass(frozen=True)
class CollectionSettings:
    """Collection layout, passed as ``settings=`` to :class:`~recallrank.EdgeStore` or
    :class:`~recallrank.QdrantServerStore`.

    Args:
        on_disk: keep the original vectors memory-mapped on disk instead of in RAM (large collections; pair it
            with ``quantization`` so the search runs on small in-RAM codes and rescoring reads the disk).
        on_disk_payload: keep payloads (document text and metadata) on disk.
        hnsw_on_disk: keep the HNSW graph on disk.
        quantization: ``"scalar"`` (int8 codes, 4x smaller) or ``"binary"`` (1 bit per dimension, 32x smaller;
            for models of 384+ dimensions) or ``None``.
        quantization_always_ram: keep the quantised codes in RAM (the point of quantising).
        rescore: re-rank the quantised search's candidates with the original vectors (recommended).
        oversampling: fetch ``oversampling x limit`` candidates by the codes before rescoring (``None``: 1.0 for
            scalar, 3.0 for binary, as Qdrant's guide suggests).
        shard_number, replication_factor, write_consistency_factor: a Qdrant cluster's settings (server only).
        token_storage: how the collection's token-vector (MaxSim) fields store their vectors: ``"turbo4"``
            (default: Qdrant's TurboQuant, 4 bits per dimension, ~200 bytes per 384-d token vector; MaxSim scores
            within ~1 % and nDCG@10 within 0.005 of fp16, ``benchmarks/token_storage.py``), ``"turbo8"``,
            ``"float16"`` (exact to ~1e-3) or ``"float32"``. A field keeps the type it was created with.

    Example:
        >>> big = CollectionSettings(on_disk=True, quantization="scalar")
        >>> big.search_oversampling()
        1.0
    """

    on_disk: bool = False
    on_disk_payload: bool = False
    hnsw_on_disk: bool = False
    quantization: Quantization | None = None
    quantization_always_ram: bool = True
    rescore: bool = True
    oversampling: float | None = None
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    token_storage: TokenStorage = "turbo4"

    def __post_init__(self) -> None:
        for name in ("on_disk", "on_disk_payload", "hnsw_on_disk", "quantization_always_ram", "rescore"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.token_storage not in ("float32", "float16", "turbo8", "turbo4"):
            raise ValueError(f"token_storage={self.token_storage!r} must be 'turbo4', 'turbo8', 'float16' or "
                             "'float32'")
        if self.quantization not in (None, "scalar", "binary"):
            raise ValueError(f"quantization={self.quantization!r} must be 'scalar', 'binary' or None")
        if self.oversampling is not None and (isinstance(self.oversampling, bool)
                                              or not isinstance(self.oversampling, (int, float))
                                              or self.oversampling < 1):
            raise ValueError(f"oversampling must be a number >= 1 (or None), got {self.oversampling!r}")
        for name in SERVER_ONLY:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int (or None), got {value!r}")
        if self.replication_factor is not None and self.write_consistency_factor is not None \
                and self.write_consistency_factor > self.replication_factor:
            raise ValueError(f"write_consistency_factor={self.write_consistency_factor} cannot exceed "
                             f"replication_factor={self.replication_factor}: a write would wait for replicas "
                             "that do not exist")

    def search_oversampling(self) -> float:
        if self.oversampling is not None:
            return float(self.oversampling)
        return 3.0 if self.quantization == "binary" else 1.0

    def server_only(self) -> dict[str, int]:
        """The cluster settings that are set (the embedded store refuses them)."""
        return {name: getattr(self, name) for name in SERVER_ONLY if getattr(self, name) is not None}

    def layout(self) -> dict[str, Any]:
        """What is fixed at creation (search-time ``rescore``/``oversampling`` left out), for comparing with a
        collection's recorded settings."""
        out = asdict(self)
        for name in ("rescore", "oversampling", "token_storage", *SERVER_ONLY):  # token fields keep their own
            out.pop(name)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != getattr(DEFAULT, k)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CollectionSettings:
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown collection settings {sorted(unknown)}; known: "
                             f"{', '.join(f.name for f in fields(cls))}")
        return cls(**data)


DEFAULT = CollectionSettings()


def mismatches(have: dict[str, Any], want: CollectionSettings) -> list[str]:
    """``"on_disk=False, asked True"`` for each setting a collection reports (``have``; ``None`` where it cannot
    tell) that differs from ``want``. Cluster settings are compared only where they were asked for."""
    out = []
    for key, value in have.items():
        asked = getattr(want, key)
        if value is None or (key in SERVER_ONLY and asked is None):
            continue
        if value != asked:
            out.append(f"{key}={value!r}, asked {asked!r}")
    return out


def quantization_config(models: Any, layout: CollectionSettings) -> Any:
    """The quantisation config of a new collection with ``layout``, built from ``models`` (``qdrant_edge``, or
    ``qdrant_client.models``, which wraps each config and spells its enums in capitals); ``None`` for none."""
    server = hasattr(models, "ScalarQuantization")
    if layout.quantization == "scalar":
        int8 = models.ScalarType.INT8 if server else models.ScalarType.Int8
        scalar = models.ScalarQuantizationConfig(type=int8, quantile=0.99, always_ram=layout.quantization_always_ram)
        return models.ScalarQuantization(scalar=scalar) if server else scalar
    if layout.quantization == "binary":
        binary = models.BinaryQuantizationConfig(always_ram=layout.quantization_always_ram)
        return models.BinaryQuantization(binary=binary) if server else binary
    return None


def search_params(models: Any, exact: bool, hnsw_ef: int | None, quantized: bool | None,
                  asked: CollectionSettings | None) -> Any:
    """``SearchParams`` (of ``models``: ``qdrant_edge`` or ``qdrant_client.models``) for a collection that is
    ``quantized`` (``None``: not known). Exact means the original vectors: a quantised collection would otherwise
    scan its codes. Rescoring and oversampling are the caller's (``asked``) search-time choices."""
    if exact and quantized is not False:
        return models.SearchParams(hnsw_ef=hnsw_ef, exact=True, quantization=models.QuantizationSearchParams(
            ignore=True))
    quantization = None
    if not exact and quantized and asked is not None:
        quantization = models.QuantizationSearchParams(rescore=asked.rescore, oversampling=asked.search_oversampling())
    return models.SearchParams(hnsw_ef=hnsw_ef, exact=exact, quantization=quantization)
