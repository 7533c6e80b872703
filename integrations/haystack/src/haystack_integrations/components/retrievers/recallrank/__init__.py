from haystack_integrations.components.retrievers.recallrank.retrievers import (
    RecallrankEmbeddingRetriever,
    RecallrankRetriever,
)

__all__ = ["RecallrankEmbeddingRetriever", "RecallrankRetriever"]
