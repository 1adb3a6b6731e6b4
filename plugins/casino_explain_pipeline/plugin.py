"""The Airflow plugin object: registers the target-date macro."""

from __future__ import annotations

import datetime as dt

from airflow.plugins_manager import AirflowPlugin

from analytics.pipeline.runner import target_date_for


def target_date(data_interval_end: dt.datetime, timezone: str = "UTC") -> str:
    """The gaming day a run explains, as an ISO date (the pipeline's rule)."""
    return target_date_for(data_interval_end, timezone=timezone).isoformat()


class CasinoExplainPlugin(AirflowPlugin):
    """Makes ``macros.casino_explain.target_date`` available in templates."""

    name = "casino_explain"
    # AirflowPlugin declares macros as a plain list attribute, so no ClassVar.
    macros = [target_date]  # noqa: RUF012
