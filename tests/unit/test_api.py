import recallrank

EXPECTED = {
    "BiEncoder", "CollectionMismatchError", "CollectionSettings", "CrossEncoderReranker", "DatasetError", "Document",
    "E5Encoder", "EdgeStore", "Evidence", "Hit", "Passage", "chunk",
    "IngestReport", "InvalidInputError", "MissingDependencyError", "ModelLoadError", "QdrantServerStore",
    "RecallrankError", "Result", "RetrievalSet", "SearchResponse", "StoreCorruptedError", "StoreError",
    "StoreUnavailableError", "TwoStageRetriever", "VectorStore",
    "__version__", "evaluate_run", "load_beir", "load_dataset", "point_id",
}


def test_public_api_is_exactly_listed() -> None:
    assert set(recallrank.__all__) == EXPECTED
    for name in recallrank.__all__:
        assert hasattr(recallrank, name), name


def test_errors_share_one_base() -> None:
    for name in ("CollectionMismatchError", "DatasetError", "InvalidInputError", "ModelLoadError",
                 "StoreUnavailableError", "MissingDependencyError"):
        assert issubclass(getattr(recallrank, name, getattr(recallrank.errors, name)), recallrank.RecallrankError)


def test_point_ids_are_deterministic() -> None:
    a = recallrank.Document("text", metadata={"b": 1, "a": 2})
    b = recallrank.Document("text", metadata={"a": 2, "b": 1})
    assert recallrank.point_id(a) == recallrank.point_id(b)
    assert recallrank.point_id(a) != recallrank.point_id(recallrank.Document("text"))
    by_id = recallrank.Document("x", id="k"), recallrank.Document("y", id="k")
    assert recallrank.point_id(by_id[0]) == recallrank.point_id(by_id[1])
