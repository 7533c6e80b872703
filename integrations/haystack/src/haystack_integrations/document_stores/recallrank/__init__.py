from haystack_integrations.document_stores.recallrank.document_store import RecallrankDocumentStore

__all__ = ["RecallrankDocumentStore"]
