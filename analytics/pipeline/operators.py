"""Airflow operators: thin adapters from a task to :mod:`analytics.pipeline.runner`.

Each operator resolves the configuration (file plus the Airflow Variable
``casino_explain_config``) and the two Airflow connections at run time, never at
DAG parse time, calls the runner and returns its small JSON outcome as XCom.
The plugin package ``casino_explain_pipeline`` re-exports them for DAG authors.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from analytics.pipeline.config import PipelineConfig, load_config
from analytics.pipeline.connections import engine_for_connection
from analytics.pipeline.runner import backfill_chunk, explain_chunk, target_date_for

__all__ = [
    "CONFIG_VARIABLE",
    "BackfillCasinosOperator",
    "ExplainCasinosOperator",
    "runtime_config",
]

log = logging.getLogger(__name__)

CONFIG_VARIABLE = "casino_explain_config"


def runtime_config() -> PipelineConfig:
    """The configuration file overlaid with the Airflow Variable, inside a task."""
    from airflow.sdk import Variable

    overrides = Variable.get(CONFIG_VARIABLE, default=None, deserialize_json=True)
    if overrides:
        log.info("configuration overridden by Variable %s", CONFIG_VARIABLE)
    return load_config(overrides=overrides)


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def resolve_target_date(
    context: Any, explicit: object, config: PipelineConfig
) -> dt.date:
    """The explicit date if given, else the target-date rule on the data interval."""
    if explicit:
        return _as_date(explicit)
    end = context["data_interval_end"] or context["logical_date"]
    return target_date_for(end, timezone=config.schedule.timezone)


def _airflow_run_id(context: Any) -> str | None:
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_id", None)


class ExplainCasinosOperator(BaseOperator):
    """Explain one gaming day for a chunk of casinos and write the answers.

    Parameters
    ----------
    casinos : list
        Casino ids (as the source holds them); usually one chunk from a mapped
        ``expand_kwargs``.
    date_target : str, optional
        ISO date; default: the day before the run's data interval end.
    """

    template_fields: Sequence[str] = ("casinos", "date_target")

    def __init__(
        self, *, casinos: list[Any], date_target: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.casinos = casinos
        self.date_target = date_target

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the chunk; return the outcome counts as XCom."""
        config = runtime_config()
        target = resolve_target_date(context, self.date_target, config)
        source = engine_for_connection(config.airflow.source_conn_id)
        reporting = engine_for_connection(config.airflow.reporting_conn_id)
        try:
            outcome = explain_chunk(
                list(self.casinos),
                date_target=target,
                config=config,
                source=source,
                reporting=reporting,
                airflow_run_id=_airflow_run_id(context),
            )
        finally:
            source.dispose()
            reporting.dispose()
        return {**outcome.as_dict(), "date_target": target.isoformat()}


class BackfillCasinosOperator(BaseOperator):
    """Bulk path: explain every day of a range for a chunk of casinos.

    Parameters
    ----------
    casinos : list
        Casino ids of the chunk.
    date_from, date_to : str
        ISO dates, inclusive.
    """

    template_fields: Sequence[str] = ("casinos", "date_from", "date_to")

    def __init__(
        self, *, casinos: list[Any], date_from: str, date_to: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.casinos = casinos
        self.date_from = date_from
        self.date_to = date_to

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the bulk chunk; return the outcome counts as XCom."""
        config = runtime_config()
        source = engine_for_connection(config.airflow.source_conn_id)
        reporting = engine_for_connection(config.airflow.reporting_conn_id)
        try:
            outcome = backfill_chunk(
                list(self.casinos),
                date_from=_as_date(self.date_from),
                date_to=_as_date(self.date_to),
                config=config,
                source=source,
                reporting=reporting,
                airflow_run_id=_airflow_run_id(context),
            )
        finally:
            source.dispose()
            reporting.dispose()
        return outcome.as_dict()
