"""A throw-away Airflow on the LocalExecutor with Postgres metadata (scenario 5).

The daily-DAG benchmark runs the real components, as a deployment would:
api-server, scheduler (LocalExecutor, so the scheduler's own worker processes
run the tasks) and dag-processor, each a subprocess with a temporary
``AIRFLOW_HOME``. It reuses the harness of the Celery integration test
(tests/celery/airflow_cluster.py and casino_stack.py): process groups and log
files, the environment built by ``cluster_environment`` with the Celery-only and
test-only settings removed, the REST API client and the throw-away databases.

Those test modules import each other as top-level modules, so their folder is
put on ``sys.path`` here; import this module only from the scenario that needs
it (the others run without Airflow's client libraries).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

_HARNESS = Path(__file__).resolve().parents[1] / "tests" / "celery"
if str(_HARNESS) not in sys.path:
    sys.path.insert(0, str(_HARNESS))

from airflow_cluster import (  # noqa: E402
    AirflowCluster,
    ApiClient,
    cluster_environment,
    database_url,
    databases,
    free_port,
    wait_until,
)
from casino_stack import DAILY_DAG_ID, _copy_rows, wait_ready  # noqa: E402

from analytics.pipeline.connections import engine_from_url  # noqa: E402
from analytics.pipeline.demo import load_source_tables  # noqa: E402

__all__ = [
    "DAILY_DAG_ID",
    "DailyRun",
    "LocalAirflow",
    "bench_databases",
    "data_url",
    "load_source",
    "local_airflow",
    "local_environment",
    "run_daily",
]

log = logging.getLogger("benchmarks.airflow_local")

# Settings of the Celery test that a LocalExecutor deployment does not have:
# the broker and queue, the per-worker host names and shortened retry delays of
# its local settings (PYTHONPATH), and its fast lost-worker detection.
_NOT_LOCAL = (
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT",
    "CASINO_TEST_RETRY_DELAY_SECONDS",
    "PYTHONPATH",
)
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LocalAirflow:
    """A running local Airflow and the database its pipeline reads and writes."""

    cluster: AirflowCluster
    api: ApiClient
    metadata_db: str
    data_db: str


@dataclass(frozen=True)
class DailyRun:
    """One finished run of the daily DAG, as the REST API reports it."""

    run_id: str
    state: str
    seconds: float  # from just before the trigger request to the run's end_date
    polled_seconds: float  # until the client saw the final state
    queued_to_start: float  # the scheduler's pick-up of the triggered run
    tasks: pd.DataFrame  # task_id, map_index, state, duration (s), try_number


def data_url(name: str) -> str:
    """SQLAlchemy URL of a benchmark database (psycopg 3 driver)."""
    return database_url(name)


@contextlib.contextmanager
def bench_databases() -> Iterator[tuple[str, str]]:
    """Fresh metadata and source/reporting databases, dropped on exit or error."""
    with databases("cx_bench_meta", "cx_bench_data") as names:
        metadata_db, data_db = names
        yield metadata_db, data_db


def load_source(data_db: str, tables: Mapping[str, pd.DataFrame]) -> None:
    """Create the source tables as the pipeline expects them and COPY the rows in."""
    engine = engine_from_url(data_url(data_db))
    try:
        load_source_tables(engine, {name: f.iloc[:0] for name, f in tables.items()})
    finally:
        engine.dispose()
    for name, frame in tables.items():
        _copy_rows(database_url(data_db, driver="postgresql"), name, frame)


def local_environment(
    home: Path,
    *,
    metadata_db: str,
    data_db: str,
    api_port: int,
    pipeline_config: Path,
) -> dict[str, str]:
    """The Celery cluster's environment, turned into a LocalExecutor deployment's."""
    env = cluster_environment(
        home, metadata_db=metadata_db, source_db=data_db, reporting_db=data_db,
        api_port=api_port, queue="default", pipeline_config=pipeline_config,
    )  # fmt: skip
    for key in _NOT_LOCAL:
        env.pop(key, None)
    env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    # Only the triggered run: unpausing must not also start the cron's latest run.
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    return env


@contextlib.contextmanager
def local_airflow(
    *, metadata_db: str, data_db: str, pipeline_config: Path
) -> Iterator[LocalAirflow]:
    """Migrate the metadata, start the three components, wait for the daily DAG.

    Every process is stopped on exit; on an error the tail of every process log
    is logged before the temporary ``AIRFLOW_HOME`` is removed.
    """
    with tempfile.TemporaryDirectory(prefix="casino-explain-bench-airflow-") as tmp:
        home = Path(tmp)
        port = free_port()
        env = local_environment(
            home, metadata_db=metadata_db, data_db=data_db, api_port=port,
            pipeline_config=pipeline_config,
        )  # fmt: skip
        cluster = AirflowCluster(home, env, port)
        api = ApiClient(f"http://127.0.0.1:{port}")
        try:
            cluster.run_cli("db", "migrate", timeout=300)
            cluster.start_airflow("api-server", "api-server", "--port", str(port))
            cluster.start_airflow("scheduler", "scheduler")
            cluster.start_airflow("dag-processor", "dag-processor")
            wait_ready(cluster, api)
            yield LocalAirflow(cluster, api, metadata_db, data_db)
        except BaseException:
            log.error("local Airflow failed; process logs:\n%s", cluster.log_report())
            raise
        finally:
            cluster.stop_all()
            api.close()


def _finished(api: ApiClient, run_id: str) -> str | None:
    state = api.run_state(DAILY_DAG_ID, run_id)
    return state if state in {"success", "failed"} else None


def _when(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _task_instances(api: ApiClient, run_id: str) -> pd.DataFrame:
    response = api.http.get(
        f"/api/v2/dags/{DAILY_DAG_ID}/dagRuns/{run_id}/taskInstances",
        params={"limit": 1000},
    )
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["task_instances"]
    columns = ["task_id", "map_index", "state", "duration", "try_number"]
    return pd.DataFrame([{c: row.get(c) for c in columns} for row in rows])


def run_daily(airflow: LocalAirflow, day: dt.date, *, timeout: float) -> DailyRun:
    """Trigger the daily DAG for ``day`` through the REST API and wait for its end."""
    api, cluster = airflow.api, airflow.cluster
    run_id = f"bench__{day.isoformat()}__{time.time_ns()}"
    wall, started = time.time(), time.perf_counter()
    api.trigger(DAILY_DAG_ID, run_id=run_id, conf={"date_target": day.isoformat()})
    state = wait_until(
        lambda: _finished(api, run_id), timeout=timeout, interval=POLL_SECONDS,
        what=f"dag run {run_id} to finish", alive=cluster.check_alive,
    )  # fmt: skip
    polled = time.perf_counter() - started
    response = api.http.get(f"/api/v2/dags/{DAILY_DAG_ID}/dagRuns/{run_id}")
    response.raise_for_status()
    record: dict[str, Any] = response.json()
    ended, began = _when(record.get("end_date")), _when(record.get("start_date"))
    queued = _when(record.get("queued_at"))
    seconds = polled if ended is None else ended.timestamp() - wall
    pick_up = float("nan")
    if began is not None and queued is not None:
        pick_up = (began - queued).total_seconds()
    return DailyRun(
        run_id=run_id,
        state=state,
        seconds=seconds,
        polled_seconds=polled,
        queued_to_start=pick_up,
        tasks=_task_instances(api, run_id),
    )
