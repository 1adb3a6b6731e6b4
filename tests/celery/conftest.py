"""Fixtures of the Celery integration test: one Airflow cluster per module.

Starting Airflow costs about a minute on two cores, so both tests of the module
share one cluster (``celery_stack``): fresh PostgreSQL databases for Airflow's
metadata, the source data and the reporting schema, a unique Celery queue in a
reserved Redis database, and the api-server, scheduler, dag-processor and two
Celery workers as subprocesses. Everything is stopped and dropped at the end,
also when a test or the set-up fails; the process logs are printed on failure.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from airflow_cluster import (
    AIRFLOW,
    REDIS_DB,
    REDIS_URL,
    AirflowCluster,
    ApiClient,
    cluster_environment,
    databases,
    free_port,
    unique_name,
)
from casino_stack import CeleryStack, build_stack, write_pipeline_config


def _forget_queue(queue: str) -> None:
    # The Redis database is reserved for this test, but another run may share it:
    # remove only this run's queue, its binding and its unacknowledged messages
    # (those of a killed worker), never the whole database.
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
        client.delete(queue, f"_kombu.binding.{queue}")
        for tag, message in client.hgetall("unacked").items():
            if queue.encode() in message:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.close()


@pytest.fixture(scope="module")
def celery_stack() -> Iterator[CeleryStack]:
    """Airflow on Celery with two workers, the source loaded, reporting migrated."""
    if not Path(AIRFLOW).exists():
        pytest.fail(f"the airflow command is missing at {AIRFLOW}")
    queue = unique_name("casino_explain_test")
    with (
        tempfile.TemporaryDirectory(prefix="casino-celery-") as tmp,
        databases("cx_celery_meta", "cx_celery_src", "cx_celery_rep") as names,
    ):
        home = Path(tmp)
        metadata_db, source_db, reporting_db = names
        config_path, config = write_pipeline_config(home)
        port = free_port()
        env = cluster_environment(
            home, metadata_db=metadata_db, source_db=source_db,
            reporting_db=reporting_db, api_port=port, queue=queue,
            pipeline_config=config_path,
        )  # fmt: skip
        cluster = AirflowCluster(home, env, port)
        api = ApiClient(f"http://127.0.0.1:{port}")
        try:
            stack = build_stack(
                cluster, api, metadata_db=metadata_db, source_db=source_db,
                reporting_db=reporting_db, config=config,
            )  # fmt: skip
        except BaseException:
            cluster.stop_all()
            print(cluster.log_report())
            api.close()
            _forget_queue(queue)
            raise
        try:
            yield stack
        finally:
            cluster.stop_all()
            api.close()
            _forget_queue(queue)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach every Airflow process log to a failing test's report."""
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("celery_stack")
    if report.failed and isinstance(stack, CeleryStack):
        report.sections.append(("Airflow process logs", stack.cluster.log_report()))
