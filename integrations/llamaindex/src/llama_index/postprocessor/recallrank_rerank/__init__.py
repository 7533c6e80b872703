from llama_index.postprocessor.recallrank_rerank.base import RecallrankRerank

__all__ = ["RecallrankRerank"]
