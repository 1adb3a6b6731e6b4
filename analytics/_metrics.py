"""Placeholder until the module is written."""

METHODS = None
RankMetricsResult = None
rank_metrics = None
