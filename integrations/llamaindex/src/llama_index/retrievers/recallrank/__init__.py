from llama_index.retrievers.recallrank.base import RecallrankRetriever, from_metadata_filters

__all__ = ["RecallrankRetriever", "from_metadata_filters"]
