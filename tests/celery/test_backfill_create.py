"""``airflow backfill create`` on the daily DAG, run by a real scheduler (integration).

The module brings up its own cluster (the ``celery_stack`` fixture below replaces
the conftest's one for this module only: five casinos in one chunk, so a run is
three short tasks) and runs one test: a backfill over three gaming days through
the CLI, its answers checked against the target-date rule and the core, then the
same backfill again with ``--reprocess-behavior completed``, which Airflow needs
before it reruns days that already have a successful run. The second pass must
replace every answer, not add to them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis
import sqlalchemy as sa
import yaml
from airflow_cluster import (
    AIRFLOW,
    REDIS_DB,
    REDIS_URL,
    AirflowCluster,
    ApiClient,
    cluster_environment,
    database_url,
    databases,
    free_port,
    unique_name,
    wait_until,
)
from casino_stack import DAILY_DAG_ID, CeleryStack, _copy_rows, start_components
from casino_stack import wait_ready as wait_dag_ready
from numpy.testing import assert_allclose

import analytics
from analytics.pipeline.config import PipelineConfig, load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.demo import load_source_tables
from analytics.pipeline.migrate import upgrade
from analytics.pipeline.runner import target_date_for
from analytics.synthetic.casino import SyntheticCasinoData, generate_casinos

log = logging.getLogger(__name__)

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

KPI = "coin_in"
N_CASINOS = 5
# One chunk per run: three tasks per run keep both passes near a minute each.
CHUNK_SIZE = N_CASINOS
# 98 days of history (window_days) before the first gaming day, and no more.
DATA_START, DATA_END = "2024-01-01", "2024-04-10"
GAMING_DAYS = (dt.date(2024, 4, 8), dt.date(2024, 4, 9), dt.date(2024, 4, 10))
# Runs at 06:00 on 9, 10 and 11 April explain 8, 9 and 10 April: --to-date is a
# midnight, so 06:00 on the 12th is outside the window.
FROM_DATE, TO_DATE = "2024-04-09", "2024-04-12"
CHECKED_CASINO = "C03"
BACKFILL_TIMEOUT = 150.0
ANSWER_TABLES = (
    "metric_rankings",
    "change_significance",
    "segment_breakdown",
    "root_cause_segments",
    "daily_summary",
)


def _write_config(home: Path) -> tuple[Path, PipelineConfig]:
    config = load_config(
        Path(__file__).resolve().parents[2] / "config" / "pipeline.yaml",
        overrides={"airflow": {"chunk_size": CHUNK_SIZE}},
    )
    path = home / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config.as_dict()), encoding="utf-8")
    return path, config


def _load_source(source_db: str, config: PipelineConfig) -> SyntheticCasinoData:
    data = generate_casinos(n_casinos=N_CASINOS, start=DATA_START, end=DATA_END, seed=5)
    assert data.segments is not None
    tables = {
        config.source.daily_table: data.daily,
        config.source.segment_table: data.segments,
    }
    engine = engine_from_url(database_url(source_db))
    try:
        load_source_tables(engine, {name: f.iloc[:0] for name, f in tables.items()})
    finally:
        engine.dispose()
    for name, frame in tables.items():
        _copy_rows(database_url(source_db, driver="postgresql"), name, frame)
    return data


def _forget_queue(queue: str) -> None:
    # Only this run's queue and binding: the Redis database may be shared.
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()


def _build(
    cluster: AirflowCluster, api: ApiClient, names: list[str], config: PipelineConfig
) -> CeleryStack:
    metadata_db, source_db, reporting_db = names
    cluster.run_cli("db", "migrate", timeout=300)
    start_components(cluster)
    data = _load_source(source_db, config)
    upgrade(database_url(reporting_db))
    # Backfill runs are only started for an unpaused DAG.
    wait_dag_ready(cluster, api)
    return CeleryStack(
        cluster=cluster, api=api, metadata_db=metadata_db,
        reporting_url=database_url(reporting_db), config=config, data=data,
    )  # fmt: skip


@pytest.fixture(scope="module")
def celery_stack() -> Iterator[CeleryStack]:
    """A cluster like the conftest's, with five casinos in one chunk per run.

    Named like the conftest fixture so its hook attaches the process logs to a
    failing test here as well.
    """
    if not Path(AIRFLOW).exists():
        pytest.fail(f"the airflow command is missing at {AIRFLOW}")
    queue = unique_name("casino_backfill_test")
    with (
        tempfile.TemporaryDirectory(prefix="casino-backfill-") as tmp,
        databases("cx_bf_meta", "cx_bf_src", "cx_bf_rep") as names,
    ):
        home = Path(tmp)
        config_path, config = _write_config(home)
        port = free_port()
        env = cluster_environment(
            home, metadata_db=names[0], source_db=names[1], reporting_db=names[2],
            api_port=port, queue=queue, pipeline_config=config_path,
        )  # fmt: skip
        cluster = AirflowCluster(home, env, port)
        api = ApiClient(f"http://127.0.0.1:{port}")
        try:
            stack = _build(cluster, api, names, config)
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


def _backfill(stack: CeleryStack, *extra: str) -> int:
    """Run ``airflow backfill create`` and return the new backfill's id."""
    started = time.monotonic()
    stack.cluster.run_cli(
        "backfill", "create", "--dag-id", DAILY_DAG_ID, "--from-date", FROM_DATE,
        "--to-date", TO_DATE, *extra,
    )  # fmt: skip
    log.info("backfill create %s took %.1f s", extra, time.monotonic() - started)
    rows = stack.metadata_rows(
        "SELECT max(id) FROM backfill WHERE dag_id = %s", DAILY_DAG_ID
    )
    return int(rows[0][0])


def _planned_runs(stack: CeleryStack, *extra: str) -> list[str]:
    """Logical dates a ``--dry-run`` of the same backfill would (re)run."""
    output = stack.cluster.run_cli(
        "backfill", "create", "--dag-id", DAILY_DAG_ID, "--from-date", FROM_DATE,
        "--to-date", TO_DATE, "--dry-run", *extra,
    )  # fmt: skip
    table = output.split("Runs to be attempted")[1]
    return re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00", table)


def _backfill_runs(stack: CeleryStack, backfill_id: int) -> pd.DataFrame:
    rows = stack.metadata_rows(
        "SELECT r.run_id, r.logical_date, r.data_interval_end, r.state, r.run_type "
        "FROM backfill_dag_run b JOIN dag_run r ON r.id = b.dag_run_id "
        "WHERE b.backfill_id = %s ORDER BY r.logical_date",
        backfill_id,
    )
    columns = ["run_id", "logical_date", "data_interval_end", "state", "run_type"]
    return pd.DataFrame(rows, columns=columns)


def _finished(stack: CeleryStack, backfill_id: int) -> pd.DataFrame | None:
    done = stack.metadata_rows(
        "SELECT completed_at FROM backfill WHERE id = %s", backfill_id
    )
    if done[0][0] is None:
        return None
    return _backfill_runs(stack, backfill_id)


def _runs_done(stack: CeleryStack, backfill_id: int) -> pd.DataFrame | None:
    runs = _backfill_runs(stack, backfill_id)
    finished = runs["state"].isin(["success", "failed"]).all()
    return runs if len(runs) and finished else None


def _wait_backfill(
    stack: CeleryStack, backfill_id: int, *, completed: bool
) -> pd.DataFrame:
    """Wait for the backfill's runs to finish, and if ``completed`` for the mark.

    The scheduler marks a backfill complete only every 30 s; Airflow refuses the
    next backfill of the DAG until then, but checking answers need not wait.
    """
    probe = _finished if completed else _runs_done
    started = time.monotonic()
    runs = wait_until(
        lambda: probe(stack, backfill_id), timeout=BACKFILL_TIMEOUT,
        what=f"backfill {backfill_id} to finish", interval=1.0,
        alive=lambda: stack.cluster.check_alive(),
    )  # fmt: skip
    log.info(
        "backfill %s finished after %.1f s", backfill_id, time.monotonic() - started
    )
    return runs


def _reporting(stack: CeleryStack) -> dict[str, pd.DataFrame]:
    """Every answer table and the runs table, whole (the test owns the database)."""
    engine = engine_from_url(stack.reporting_url)
    try:
        with engine.connect() as conn:
            return {
                table: pd.read_sql_query(
                    sa.text(f"SELECT * FROM explain.{table}"), conn
                )
                for table in (*ANSWER_TABLES, "runs")
            }
    finally:
        engine.dispose()


def _assert_runs_succeeded(runs: pd.DataFrame) -> None:
    assert len(runs) == len(GAMING_DAYS), runs.to_string()
    assert (runs["state"] == "success").all(), runs.to_string()
    assert (runs["run_type"] == "backfill").all(), runs.to_string()
    # The documented target-date rule, applied to the runs Airflow created.
    explained = [target_date_for(end) for end in runs["data_interval_end"]]
    assert explained == list(GAMING_DAYS), runs.to_string()


def _keys(frame: pd.DataFrame) -> set[tuple[str, dt.date, str]]:
    days = pd.to_datetime(frame["date_target"]).dt.date
    return set(zip(frame["casino_id"], days, frame["kpi"], strict=True))


def _assert_one_answer_per_key(
    tables: dict[str, pd.DataFrame], casinos: list[str]
) -> None:
    expected = {(c, d, KPI) for c in casinos for d in GAMING_DAYS}
    summary = tables["daily_summary"]
    assert len(summary) == len(expected), summary.to_string()
    for table in ANSWER_TABLES:
        frame = tables[table]
        assert _keys(frame) == expected, table
        # One answer per key: all its rows come from a single succeeded run.
        per_key = frame.groupby(["casino_id", "date_target", "kpi"])["run_id"]
        assert (per_key.nunique() == 1).all(), table
    runs = tables["runs"].set_index("run_id")
    for table in ANSWER_TABLES:
        used = runs.loc[tables[table]["run_id"].unique(), "status"]
        assert (used == "succeeded").all(), f"{table}: {used.to_dict()}"


def _window(frame: pd.DataFrame, day: dt.date, days: int) -> pd.DataFrame:
    # The rows the pipeline reads: ``days`` before the target day, and the day.
    dates = pd.to_datetime(frame["day"])
    first = pd.Timestamp(day - dt.timedelta(days=days))
    return frame.loc[(dates >= first) & (dates <= pd.Timestamp(day))]


def _core(stack: CeleryStack, day: dt.date) -> dict[str, Any]:
    explain, source = stack.config.explain, stack.config.source
    daily = _window(stack.data.daily_for(CHECKED_CASINO), day, explain.window_days)
    segments = _window(
        stack.data.segments_for(CHECKED_CASINO), day, explain.window_days
    )
    common = {"metric_col": KPI, "date_col": "day", "date_target": day}
    return {
        "metrics": analytics.rank_metrics(
            daily, **common, history_weeks=explain.history_weeks
        ).table,
        "change": analytics.assess_change(
            daily, **common, history_weeks=explain.history_weeks,
            threshold=explain.threshold,
        ).table,
        "segments": analytics.rank_segments(
            segments, **common, dimensions=list(source.dimension_columns),
            max_depth=explain.max_depth,
        ).table,
    }  # fmt: skip


def _stored(tables: dict[str, pd.DataFrame], table: str, day: dt.date) -> pd.DataFrame:
    frame = tables[table]
    days = pd.to_datetime(frame["date_target"]).dt.date
    return frame.loc[(frame["casino_id"] == CHECKED_CASINO) & (days == day)]


def _assert_matches_core(stack: CeleryStack, tables: dict[str, pd.DataFrame]) -> None:
    keep = stack.config.explain.rows_per_explanation
    for day in GAMING_DAYS:
        core = _core(stack, day)
        ranked = core["metrics"].sort_values("rank").head(keep)
        stored = _stored(tables, "metric_rankings", day).dropna(subset=["rank"])
        pairs = stored.merge(ranked, on="metric", suffixes=("_stored", "_core"))
        assert len(pairs) == len(ranked) == len(stored), day
        assert (pairs["rank_stored"] == pairs["rank_core"]).all(), pairs.to_string()
        assert_allclose(pairs["score_stored"], pairs["score_core"], rtol=1e-9)

        change = core["change"].set_index("metric")
        kept = _stored(tables, "change_significance", day).set_index("metric")
        assert sorted(kept.index) == sorted(change.index), day
        assert_allclose(
            kept["robust_z"].astype(float),
            change.loc[kept.index, "robust_z"].astype(float),
            rtol=1e-9,
        )

        segments = core["segments"].set_index("segment")
        causes = segments.index[segments["is_root_cause"].astype(bool)]
        mine = _stored(tables, "root_cause_segments", day).set_index("segment")
        assert sorted(mine.index[mine["is_root_cause"]]) == sorted(causes), day
        assert_allclose(
            mine["share_of_change"],
            segments.loc[mine.index, "share_of_change"],
            rtol=1e-9,
        )


def _answer_values(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    summary = tables["daily_summary"]
    return (
        summary[["casino_id", "date_target", "value_base", "value_target", "delta"]]
        .sort_values(["casino_id", "date_target"])
        .reset_index(drop=True)
    )


def test_backfill_create_writes_then_replaces_answers(
    celery_stack: CeleryStack,
) -> None:
    casinos = celery_stack.data.casino_ids
    assert len(casinos) == N_CASINOS

    first_id = _backfill(celery_stack)
    first_runs = _wait_backfill(celery_stack, first_id, completed=False)
    _assert_runs_succeeded(first_runs)
    first = _reporting(celery_stack)
    _assert_one_answer_per_key(first, casinos)
    assert len(first["runs"]) == N_CASINOS * len(GAMING_DAYS)
    assert set(first["runs"]["airflow_run_id"]) == set(first_runs["run_id"])
    _assert_matches_core(celery_stack, first)
    # Days with a successful run are skipped unless reprocessing is asked for (a
    # dry run: no side effect, and it overlaps the wait for the mark below).
    assert _planned_runs(celery_stack) == []
    # Airflow accepts the next backfill of the DAG only once this one is marked.
    _wait_backfill(celery_stack, first_id, completed=True)

    second_id = _backfill(celery_stack, "--reprocess-behavior", "completed")
    second_runs = _wait_backfill(celery_stack, second_id, completed=False)
    assert second_id != first_id
    _assert_runs_succeeded(second_runs)
    # Airflow clears and reruns the existing runs rather than adding new ones.
    assert list(second_runs["run_id"]) == list(first_runs["run_id"])

    second = _reporting(celery_stack)
    _assert_one_answer_per_key(second, casinos)
    for table in ANSWER_TABLES:
        assert len(second[table]) == len(first[table]), table
        # Replaced: every row now belongs to a run of the second pass.
        assert not set(second[table]["run_id"]) & set(first["runs"]["run_id"]), table
    runs = second["runs"]
    assert len(runs) == 2 * N_CASINOS * len(GAMING_DAYS)
    assert (runs["status"] == "succeeded").all(), runs.to_string()
    assert (runs.groupby(["casino_id", "date_target", "kpi"]).size() == 2).all()
    pd.testing.assert_frame_equal(_answer_values(second), _answer_values(first))
