"""Re-export of the casino-explain operators for DAGs that import from the plugin."""

from __future__ import annotations

from analytics.pipeline.operators import BackfillCasinosOperator, ExplainCasinosOperator

__all__ = ["BackfillCasinosOperator", "ExplainCasinosOperator"]
