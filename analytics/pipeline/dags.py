"""The two Airflow DAGs, as factories the DAG files in ``dags/`` call.

``casino_daily_explanations`` runs every morning after the gaming day closes and
explains the day that ended (the target-date rule is in
:func:`analytics.pipeline.runner.target_date_for`); ``casino_backfill_explanations``
is triggered by hand with a date range and loads many days in bulk.

Both plan the work in a first task (list the casinos, cut them into chunks of
``airflow.chunk_size``), map one operator per chunk with ``expand_kwargs`` and
finish with a summary task that logs totals and, when configured, fails the run
if any casino failed. XComs carry only chunk lists and counts. Defining the
DAGs in the package lets the demo and tests load them from an installed copy.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from analytics.errors import ParameterError
from analytics.pipeline.config import load_config
from analytics.pipeline.connections import engine_for_connection
from analytics.pipeline.operators import (
    BackfillCasinosOperator,
    ExplainCasinosOperator,
    resolve_target_date,
    runtime_config,
)
from analytics.pipeline.runner import chunk_casinos, list_casinos

__all__ = ["BACKFILL_DAG_ID", "DAILY_DAG_ID", "backfill_dag", "daily_dag"]

log = logging.getLogger(__name__)

DAILY_DAG_ID = "casino_daily_explanations"
BACKFILL_DAG_ID = "casino_backfill_explanations"

_DEFAULT_ARGS = {
    "owner": "casino-analytics",
    "retries": 2,
    # 5 min, then 10: a database restart or failover gets time to finish.
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": dt.timedelta(minutes=30),
}


def _casinos_for(target: dt.date, requested: list[Any] | None) -> list[Any]:
    config = runtime_config()
    if requested:
        return list(requested)
    source = engine_for_connection(config.airflow.source_conn_id)
    try:
        return list_casinos(source, config, date_target=target)
    finally:
        source.dispose()


@task
def plan_daily() -> list[dict[str, Any]]:
    """List the casinos of the target day and cut them into chunks."""
    context = get_current_context()
    config = runtime_config()
    params = context["params"]
    target = resolve_target_date(context, params.get("date_target"), config)
    casinos = _casinos_for(target, params.get("casinos"))
    chunks = chunk_casinos(casinos, chunk_size=config.airflow.chunk_size)
    log.info(
        "target gaming day %s: %d casinos in %d chunks",
        target.isoformat(),
        len(casinos),
        len(chunks),
    )
    return [{"casinos": c, "date_target": target.isoformat()} for c in chunks]


@task
def plan_backfill() -> list[dict[str, Any]]:
    """Validate the date range and cut the casinos into chunks."""
    context = get_current_context()
    config = runtime_config()
    params = context["params"]
    date_from = dt.date.fromisoformat(str(params["date_from"]))
    date_to = dt.date.fromisoformat(str(params["date_to"]))
    if date_to < date_from:
        raise ParameterError(
            f"date_to={date_to.isoformat()!r} is before "
            f"date_from={date_from.isoformat()!r}"
        )
    casinos = _casinos_for(date_to, params.get("casinos"))
    chunks = chunk_casinos(casinos, chunk_size=config.airflow.chunk_size)
    log.info(
        "backfill %s..%s: %d casinos in %d chunks",
        date_from,
        date_to,
        len(casinos),
        len(chunks),
    )
    return [
        {
            "casinos": c,
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
        }
        for c in chunks
    ]


@task(trigger_rule="none_failed")
def summarize(outcomes: Any) -> dict[str, Any]:
    """Add up the chunk outcomes; fail the run when configured and casinos failed.

    ``outcomes`` is the list of the mapped chunks' return values (typed Any because
    the DAG passes the mapped operator, which Airflow resolves to that list).
    """
    keys = ("casinos", "succeeded", "failed", "skipped", "rows_written")
    totals: dict[str, Any] = {k: sum(int(o.get(k, 0)) for o in outcomes) for k in keys}
    failures = {k: v for o in outcomes for k, v in o.get("failures", {}).items()}
    log.info(
        "done: %d casinos, %d answers written, %d failed, %d skipped, %d rows",
        totals["casinos"],
        totals["succeeded"],
        totals["failed"],
        totals["skipped"],
        totals["rows_written"],
    )
    for key, reason in failures.items():
        log.error("failed %s: %s", key, reason)
    if totals["failed"] and runtime_config().airflow.fail_on_casino_errors:
        # Fail without retries: the casinos' reasons will not change by waiting,
        # whereas a lost worker (any other error) is worth the usual retries.
        raise AirflowFailException(
            f"{totals['failed']} casino answer(s) failed (first: "
            f"{next(iter(failures), '?')}); the others were written. See the runs "
            "table (status 'failed') for every reason."
        )
    return totals


def _start_date(value: str, timezone: str) -> pendulum.DateTime:
    day = dt.date.fromisoformat(value)
    return pendulum.datetime(day.year, day.month, day.day, tz=timezone)


def daily_dag() -> DAG:
    """Build ``casino_daily_explanations`` from the configuration file."""
    schedule = load_config().schedule

    @dag(
        dag_id=DAILY_DAG_ID,
        schedule=schedule.cron,
        start_date=_start_date(schedule.start_date, schedule.timezone),
        catchup=False,
        max_active_runs=4,
        default_args=_DEFAULT_ARGS,
        tags=["casino-explain"],
        doc_md=__doc__,
        params={
            "casinos": Param(None, type=["null", "array"], description="ids; null=all"),
            "date_target": Param(
                None, type=["null", "string"], description="ISO date; null=rule"
            ),
        },
    )
    def casino_daily_explanations() -> None:
        chunks = plan_daily()
        outcomes = ExplainCasinosOperator.partial(
            task_id="explain_chunk"
        ).expand_kwargs(chunks)
        summarize(outcomes.output)

    built: DAG = casino_daily_explanations()
    return built


def backfill_dag() -> DAG:
    """Build ``casino_backfill_explanations`` (manual trigger, bulk load)."""
    schedule = load_config().schedule

    @dag(
        dag_id=BACKFILL_DAG_ID,
        schedule=None,
        start_date=_start_date(schedule.start_date, schedule.timezone),
        catchup=False,
        default_args=_DEFAULT_ARGS,
        tags=["casino-explain"],
        params={
            "date_from": Param(type="string", format="date", description="first day"),
            "date_to": Param(type="string", format="date", description="last day"),
            "casinos": Param(None, type=["null", "array"], description="ids; null=all"),
        },
    )
    def casino_backfill_explanations() -> None:
        chunks = plan_backfill()
        outcomes = BackfillCasinosOperator.partial(
            task_id="backfill_chunk"
        ).expand_kwargs(chunks)
        summarize(outcomes.output)

    built: DAG = casino_backfill_explanations()
    return built
