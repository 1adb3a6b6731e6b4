"""The casino-explain side of the Celery integration test: data, config, start-up.

:func:`build_stack` turns an empty :class:`~airflow_cluster.AirflowCluster` into
a running one: Airflow's metadata migrated, api-server, scheduler, dag-processor
and two Celery workers started, demo data for 20 casinos copied into the source
database, the reporting schema migrated and the daily DAG unpaused.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import yaml
from airflow_cluster import (
    REPO,
    AirflowCluster,
    ApiClient,
    database_url,
    wait_until,
)
from psycopg import sql

from analytics.pipeline.config import PipelineConfig, load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.demo import load_source_tables
from analytics.pipeline.migrate import upgrade
from analytics.synthetic.casino import SyntheticCasinoData, generate_casinos

log = logging.getLogger(__name__)

DAILY_DAG_ID = "casino_daily_explanations"
WORKERS = ("worker-a", "worker-b")
N_CASINOS = 20
# 13 weeks of history before the first target day, and a second target day.
DATA_START, DATA_END = "2024-01-01", "2024-04-10"
DATE_TARGETS = (dt.date(2024, 4, 9), dt.date(2024, 4, 10))
CHUNK_SIZE = 4  # 20 casinos -> 5 mapped tasks, enough to reach both workers
STARTUP_TIMEOUT = 180.0


@dataclass(frozen=True)
class CeleryStack:
    """A running cluster and what the tests need to check its results."""

    cluster: AirflowCluster
    api: ApiClient
    metadata_db: str
    reporting_url: str
    config: PipelineConfig
    data: SyntheticCasinoData

    def metadata_rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on Airflow's metadata database."""
        dsn = database_url(self.metadata_db, driver="postgresql")
        with psycopg.connect(dsn) as conn:
            return conn.execute(query, params).fetchall()


def write_pipeline_config(home: Path) -> tuple[Path, PipelineConfig]:
    """The repository's pipeline configuration with smaller chunks, as a file."""
    config = load_config(
        REPO / "config" / "pipeline.yaml",
        overrides={"airflow": {"chunk_size": CHUNK_SIZE}},
    )
    path = home / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config.as_dict()), encoding="utf-8")
    return path, config


def _copy_rows(dsn: str, table: str, frame: pd.DataFrame) -> None:
    # COPY is far faster than INSERTs for the half-million segment rows.
    columns = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), columns
    )
    text = frame.to_csv(index=False, header=False, date_format="%Y-%m-%d")
    with psycopg.connect(dsn) as conn, conn.cursor().copy(statement) as copy:
        copy.write(text)


def load_source(source_db: str, config: PipelineConfig) -> SyntheticCasinoData:
    """Generate the casinos and copy them into the source database's tables."""
    data = generate_casinos(
        n_casinos=N_CASINOS, start=DATA_START, end=DATA_END, seed=11
    )
    assert data.segments is not None
    tables = {
        config.source.daily_table: data.daily,
        config.source.segment_table: data.segments,
    }
    # The demo's loader creates the tables the way the pipeline expects them.
    engine = engine_from_url(database_url(source_db))
    try:
        load_source_tables(engine, {name: f.iloc[:0] for name, f in tables.items()})
    finally:
        engine.dispose()
    for name, frame in tables.items():
        _copy_rows(database_url(source_db, driver="postgresql"), name, frame)
    return data


def start_components(cluster: AirflowCluster) -> None:
    """Start api-server, scheduler, dag-processor and the two Celery workers."""
    cluster.start_airflow("api-server", "api-server", "--port", str(cluster.api_port))
    cluster.start_airflow("scheduler", "scheduler")
    cluster.start_airflow("dag-processor", "dag-processor")
    for name in WORKERS:
        cluster.start_airflow(
            name, "celery", "worker", "--celery-hostname", f"{name}@localhost",
            "--concurrency", "1", "--skip-serve-logs", "--without-mingle",
            "--without-gossip", env={"CASINO_TEST_WORKER_NAME": name},
        )  # fmt: skip


def wait_ready(cluster: AirflowCluster, api: ApiClient) -> None:
    """Wait for the api-server and the serialized DAG, then unpause the DAG."""
    wait_until(
        api.healthy, timeout=STARTUP_TIMEOUT, what="the api-server",
        alive=cluster.check_alive,
    )  # fmt: skip
    api.authenticate()
    wait_until(
        lambda: api.dag(DAILY_DAG_ID),
        timeout=STARTUP_TIMEOUT,
        what=f"the dag-processor to serialize {DAILY_DAG_ID}",
        alive=cluster.check_alive,
    )
    api.unpause(DAILY_DAG_ID)


def build_stack(
    cluster: AirflowCluster,
    api: ApiClient,
    *,
    metadata_db: str,
    source_db: str,
    reporting_db: str,
    config: PipelineConfig,
) -> CeleryStack:
    """Bring the cluster up with data; the caller stops it."""
    cluster.run_cli("db", "migrate", timeout=300)
    start_components(cluster)
    # Load the data while the components start: they need none to boot.
    data = load_source(source_db, config)
    upgrade(database_url(reporting_db))
    wait_ready(cluster, api)
    return CeleryStack(
        cluster=cluster, api=api, metadata_db=metadata_db,
        reporting_url=database_url(reporting_db), config=config, data=data,
    )  # fmt: skip
