"""Tests of the DAGs: import, dag.test() of the daily and bulk DAGs on Postgres.

Airflow's own modules raise deprecation warnings the project cannot fix (e.g.
starlette's test client inside the in-process execution API); they are ignored
here, for these tests only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import analytics
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.demo import logical_date_for
from analytics.pipeline.migrate import upgrade

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.airflow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

REPO = Path(__file__).resolve().parents[2]
TARGET = dt.date(2024, 7, 19)
ENV_KEYS = (
    "AIRFLOW_CONN_CASINO_SOURCE",
    "AIRFLOW_CONN_CASINO_REPORTING",
    "AIRFLOW_VAR_CASINO_EXPLAIN_CONFIG",
)


@pytest.fixture(scope="module")
def engine(
    postgres_url: str,
    load_sources: Callable[[Engine], None],
    airflow_db: Path,
) -> Iterator[Engine]:
    engine = engine_from_url(postgres_url)
    load_sources(engine)
    upgrade(postgres_url)
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    uri = sa.make_url(postgres_url).set(drivername="postgresql")
    os.environ["AIRFLOW_CONN_CASINO_SOURCE"] = uri.render_as_string(False)
    os.environ["AIRFLOW_CONN_CASINO_REPORTING"] = uri.render_as_string(False)
    yield engine
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    engine.dispose()


def _summary(engine: Engine, day: dt.date) -> pd.DataFrame:
    query = sa.text(
        "SELECT casino_id, kpi, delta, top_metric_1, explanation, run_id "
        "FROM explain.v_daily_summary WHERE date_target = :d ORDER BY casino_id"
    )
    with engine.connect() as conn:
        return pd.read_sql_query(query, conn, params={"d": day})


def _rankings(engine: Engine, day: dt.date, casino: str) -> pd.DataFrame:
    query = sa.text(
        "SELECT metric, rank, score FROM explain.v_metric_rankings "
        "WHERE date_target = :d AND casino_id = :c ORDER BY rank"
    )
    with engine.connect() as conn:
        return pd.read_sql_query(query, conn, params={"d": day, "c": casino})


def _answer(engine: Engine, table: str, day: dt.date, casino: str) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql_query(sa.text(f"SELECT * FROM explain.{table}"), conn)
    keep = (frame["casino_id"] == casino) & (frame["date_target"] == day)
    return frame.loc[keep].reset_index(drop=True)


def test_dag_files_import_without_errors(airflow_db: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    daily = bag.get_dag("casino_daily_explanations")
    backfill = bag.get_dag("casino_backfill_explanations")
    assert set(daily.task_ids) == {"plan_daily", "explain_chunk", "summarize"}
    assert set(backfill.task_ids) == {"plan_backfill", "backfill_chunk", "summarize"}
    assert daily.schedule == "0 6 * * *"
    assert backfill.schedule is None
    assert not daily.catchup


def _state(run: Any) -> str:
    return str(getattr(run.state, "value", run.state))


def test_daily_dag_writes_the_core_answers(engine: Engine, casino_data: Any) -> None:
    from analytics.pipeline.dags import daily_dag

    run = daily_dag().test(logical_date=logical_date_for(TARGET))
    assert _state(run) == "success"
    summary = _summary(engine, TARGET)
    assert list(summary["casino_id"]) == ["C01", "C02", "C03"]

    direct = analytics.rank_metrics(
        casino_data.daily_for("C02"),
        metric_col="coin_in",
        date_col="day",
        date_target=TARGET,
    ).table.sort_values("rank")
    stored = _rankings(engine, TARGET, "C02")
    assert list(stored["metric"]) == list(direct["metric"].head(len(stored)))
    np.testing.assert_allclose(stored["score"], direct["score"].head(len(stored)))
    expected_delta = (
        casino_data.daily_for("C02")
        .set_index("day")
        .loc[pd.Timestamp(TARGET), "coin_in"]
        - casino_data.daily_for("C02")
        .set_index("day")
        .loc[pd.Timestamp(TARGET - dt.timedelta(days=7)), "coin_in"]
    )
    np.testing.assert_allclose(summary["delta"].iloc[1], expected_delta, rtol=1e-9)

    # The significance and root-cause answers are the core's too.
    change = analytics.assess_change(
        casino_data.daily_for("C02"),
        metric_col="coin_in",
        date_col="day",
        date_target=TARGET,
    ).table.set_index("metric")
    stored_change = _answer(engine, "change_significance", TARGET, "C02")
    stored_change = stored_change.set_index("metric").loc[change.index]
    np.testing.assert_allclose(stored_change["robust_z"], change["robust_z"])
    assert list(stored_change["significant"]) == list(change["significant"])
    where = analytics.rank_segments(
        casino_data.segments_for("C02"),
        metric_col="coin_in",
        date_col="day",
        dimensions=["zone", "denomination", "game_type", "player_tier"],
        date_target=TARGET,
    ).table
    stored_roots = _answer(engine, "root_cause_segments", TARGET, "C02")
    assert set(stored_roots.loc[stored_roots["is_root_cause"], "segment"]) == set(
        where.loc[where["is_root_cause"], "segment"]
    )


def test_runs_over_several_dates_are_idempotent(engine: Engine) -> None:
    from analytics.pipeline.dags import daily_dag

    days = [TARGET - dt.timedelta(days=i) for i in (3, 2)]
    dag = daily_dag()
    for day in days:
        assert _state(dag.test(logical_date=logical_date_for(day))) == "success"
    first = {day: _summary(engine, day).drop(columns="run_id") for day in days}
    assert _state(dag.test(logical_date=logical_date_for(days[0]))) == "success"
    for day in days:
        pd.testing.assert_frame_equal(
            _summary(engine, day).drop(columns="run_id"), first[day]
        )
    assert all(len(frame) == 3 for frame in first.values())


def test_bulk_dag_matches_the_daily_dag(engine: Engine) -> None:
    from analytics.pipeline.dags import backfill_dag

    days = [TARGET - dt.timedelta(days=i) for i in (3, 2)]
    before = {day: _rankings(engine, day, "C01") for day in days}
    conf = {"date_from": days[0].isoformat(), "date_to": days[-1].isoformat()}
    run = backfill_dag().test(logical_date=logical_date_for(TARGET), run_conf=conf)
    assert _state(run) == "success"
    for day in days:
        pd.testing.assert_frame_equal(_rankings(engine, day, "C01"), before[day])


def test_broken_casino_fails_the_run_but_not_the_others(engine: Engine) -> None:
    from analytics.pipeline.dags import daily_dag

    os.environ["AIRFLOW_VAR_CASINO_EXPLAIN_CONFIG"] = json.dumps(
        {"source": {"daily_table": "broken_daily", "segment_table": "broken_segments"}}
    )
    day = TARGET + dt.timedelta(days=1)
    try:
        run = daily_dag().test(logical_date=logical_date_for(day))
    finally:
        os.environ.pop("AIRFLOW_VAR_CASINO_EXPLAIN_CONFIG")
    assert _state(run) == "failed"
    assert list(_summary(engine, day)["casino_id"]) == ["C01", "C03"]
    with engine.connect() as conn:
        status = conn.execute(
            sa.text(
                "SELECT status FROM explain.v_run_status "
                "WHERE date_target = :d AND casino_id = 'C02'"
            ),
            {"d": day},
        ).scalar_one()
    assert status == "failed"


def test_backfill_command_plans_one_run_per_gaming_day(airflow_db: Path) -> None:
    import re
    import subprocess
    import sys

    from analytics.pipeline.runner import target_date_for

    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "dags", "reserialize"], check=True, capture_output=True)
    planned = subprocess.run(
        [
            *airflow,
            "backfill",
            "create",
            "--dag-id",
            "casino_daily_explanations",
            "--from-date",
            "2024-07-16",
            "--to-date",
            "2024-07-19",
            "--reprocess-behavior",
            "completed",
            "--dry-run",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    table = planned.split("Runs to be attempted")[1]
    stamps = re.findall(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00)", table)
    runs = [dt.datetime.fromisoformat(s) for s in stamps]
    # Runs at 06:00 on the 16th, 17th and 18th explain the 15th, 16th and 17th;
    # "completed" replans the days earlier tests already ran (idempotent rewrite).
    assert [target_date_for(r).isoformat() for r in runs] == [
        "2024-07-15",
        "2024-07-16",
        "2024-07-17",
    ]
