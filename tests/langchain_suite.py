"""The langchain-tests standard retriever suite, shared by every backend's test module."""

from __future__ import annotations

from typing import Any

from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

QUERY = "Apple company market value"


class RetrieverSuite(RetrieversIntegrationTests):
    """Subclasses set ``constructor`` and an autouse fixture that fills ``_constructor_params``."""

    constructor: type[BaseRetriever]
    _constructor_params: dict[str, Any]

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return self.constructor

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self._constructor_params

    @property
    def retriever_query_example(self) -> str:
        return QUERY
