from haystack_integrations.components.rankers.recallrank.ranker import RecallrankRanker

__all__ = ["RecallrankRanker"]
