"""Airflow plugin for casino-explain: operators and Jinja macros for DAG authors.

Airflow puts the plugins folder on ``sys.path``, so DAGs may write::

    from casino_explain_pipeline import ExplainCasinosOperator

The operators themselves live in :mod:`analytics.pipeline.operators` (so an
installed package works without this folder); this plugin re-exports them and
registers a macro that applies the pipeline's target-date rule in templates::

    {{ macros.casino_explain.target_date(data_interval_end) }}
"""

from __future__ import annotations

from casino_explain_pipeline.operators import (
    BackfillCasinosOperator,
    ExplainCasinosOperator,
)
from casino_explain_pipeline.plugin import CasinoExplainPlugin

__all__ = ["BackfillCasinosOperator", "CasinoExplainPlugin", "ExplainCasinosOperator"]
