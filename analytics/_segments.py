"""Placeholder until the module is written."""

RankSegmentsResult = None
rank_segments = None
