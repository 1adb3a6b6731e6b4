"""casino-explain: why did a casino's slot revenue move yesterday?

For one casino and one gaming day D compared with the same weekday a week earlier,
the three functions here answer:

* :func:`rank_metrics` -- which metrics moved with the KPI, and by how much;
* :func:`assess_change` -- is the change unusual against the casino's own history;
* :func:`rank_segments` -- where on the floor the change happened.

They are plain functions over pandas DataFrames with no I/O. The formulas are
documented in ``docs/method.md``.
"""

from __future__ import annotations

from analytics._metrics import METHODS, RankMetricsResult, rank_metrics
from analytics._segments import RankSegmentsResult, rank_segments
from analytics._significance import AssessChangeResult, assess_change
from analytics.errors import (
    CasinoExplainError,
    ColumnError,
    DateError,
    DegenerateInputWarning,
    DuplicateKeyError,
    InputError,
    InsufficientHistoryError,
    ParameterError,
)

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "AssessChangeResult",
    "CasinoExplainError",
    "ColumnError",
    "DateError",
    "DegenerateInputWarning",
    "DuplicateKeyError",
    "InputError",
    "InsufficientHistoryError",
    "ParameterError",
    "RankMetricsResult",
    "RankSegmentsResult",
    "__version__",
    "assess_change",
    "rank_metrics",
    "rank_segments",
]
