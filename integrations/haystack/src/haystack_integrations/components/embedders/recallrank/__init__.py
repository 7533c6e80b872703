from haystack_integrations.components.embedders.recallrank.embedders import (
    RecallrankDocumentEmbedder,
    RecallrankTextEmbedder,
)

__all__ = ["RecallrankDocumentEmbedder", "RecallrankTextEmbedder"]
