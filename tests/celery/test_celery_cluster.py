"""The daily DAG on Airflow's Celery executor with two workers (integration).

Both tests run against the cluster of the ``celery_stack`` fixture (see
conftest.py): the first shows the mapped chunks spread over both workers and the
reporting tables hold the complete, correct answer for every casino; the second
kills one worker while it runs a chunk and shows the run still completes, the
lost chunk retried on the surviving worker; the third calls the HTTP service
that the plugin mounts inside the api-server.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from airflow_cluster import wait_until
from casino_stack import DAILY_DAG_ID, DATE_TARGETS, N_CASINOS, WORKERS, CeleryStack
from numpy.testing import assert_allclose

import analytics
from analytics.pipeline.connections import engine_from_url

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

KPI = "coin_in"
RUN_TIMEOUT = 240.0
CHECKED_CASINOS = ("C01", "C20")
ANSWER_TABLES = (
    "metric_rankings",
    "change_significance",
    "segment_breakdown",
    "root_cause_segments",
    "daily_summary",
)


def _finished_state(stack: CeleryStack, run_id: str) -> str | None:
    state = stack.api.run_state(DAILY_DAG_ID, run_id)
    return state if state in {"success", "failed"} else None


def _run_daily(stack: CeleryStack, day: dt.date) -> str:
    run_id = f"celery_test__{day.isoformat()}__{time.time_ns()}"
    stack.api.trigger(
        DAILY_DAG_ID, run_id=run_id, conf={"date_target": day.isoformat()}
    )
    return run_id


def _wait_finished(stack: CeleryStack, run_id: str, *, timeout: float) -> str:
    return wait_until(
        lambda: _finished_state(stack, run_id), timeout=timeout,
        what=f"dag run {run_id} to finish", interval=2.0,
        alive=lambda: stack.cluster.check_alive("scheduler", "api-server"),
    )  # fmt: skip


def _task_instances(stack: CeleryStack, run_id: str) -> pd.DataFrame:
    rows = stack.metadata_rows(
        "SELECT task_id, map_index, state, hostname, try_number "
        "FROM task_instance WHERE dag_id = %s AND run_id = %s",
        DAILY_DAG_ID,
        run_id,
    )
    columns = ["task_id", "map_index", "state", "hostname", "try_number"]
    return pd.DataFrame(rows, columns=columns)


def _earlier_tries(stack: CeleryStack, run_id: str) -> pd.DataFrame:
    rows = stack.metadata_rows(
        "SELECT task_id, map_index, state, hostname, try_number "
        "FROM task_instance_history WHERE dag_id = %s AND run_id = %s",
        DAILY_DAG_ID,
        run_id,
    )
    columns = ["task_id", "map_index", "state", "hostname", "try_number"]
    return pd.DataFrame(rows, columns=columns)


def _answers(stack: CeleryStack, day: dt.date) -> dict[str, pd.DataFrame]:
    engine = engine_from_url(stack.reporting_url)
    try:
        with engine.connect() as conn:
            return {
                table: pd.read_sql_query(
                    sa.text(
                        f"SELECT * FROM explain.{table} "
                        "WHERE date_target = :day AND kpi = :kpi"
                    ),
                    conn,
                    params={"day": day, "kpi": KPI},
                )
                for table in (*ANSWER_TABLES, "runs")
            }
    finally:
        engine.dispose()


def _window(frame: pd.DataFrame, day: dt.date, days: int) -> pd.DataFrame:
    # The rows the pipeline reads: ``days`` before the target day, and the day.
    first = pd.Timestamp(day - dt.timedelta(days=days))
    dates = pd.to_datetime(frame["day"])
    return frame.loc[(dates >= first) & (dates <= pd.Timestamp(day))]


def _core_results(stack: CeleryStack, casino: str, day: dt.date) -> dict[str, Any]:
    """The three answers computed directly by the core, with the pipeline's options."""
    explain, source = stack.config.explain, stack.config.source
    daily = _window(stack.data.daily_for(casino), day, explain.window_days)
    segments = _window(stack.data.segments_for(casino), day, explain.window_days)
    common = {"metric_col": KPI, "date_col": "day", "date_target": day}
    return {
        "rank_metrics": analytics.rank_metrics(
            daily, **common, history_weeks=explain.history_weeks
        ),
        "assess_change": analytics.assess_change(
            daily,
            **common,
            history_weeks=explain.history_weeks,
            threshold=explain.threshold,
        ),
        "rank_segments": analytics.rank_segments(
            segments,
            **common,
            dimensions=list(source.dimension_columns),
            max_depth=explain.max_depth,
        ),
    }


def _assert_complete(answers: Mapping[str, pd.DataFrame], casinos: list[str]) -> None:
    for table in ANSWER_TABLES:
        found = sorted(answers[table]["casino_id"].unique())
        assert found == casinos, f"{table} lacks casinos {set(casinos) - set(found)}"
    summary = answers["daily_summary"]
    assert len(summary) == len(casinos)
    assert summary["explanation"].str.startswith(KPI).all()
    # Every answer row belongs to a run recorded as succeeded.
    runs = answers["runs"].set_index("run_id")["status"]
    for table in ANSWER_TABLES:
        statuses = runs.reindex(answers[table]["run_id"].unique())
        assert (statuses == "succeeded").all(), f"{table}: {statuses.to_dict()}"


def _assert_kpi_values(stack: CeleryStack, summary: pd.DataFrame, day: dt.date) -> None:
    daily = stack.data.daily.assign(day=pd.to_datetime(stack.data.daily["day"]))
    on = daily.set_index(["casino_id", "day"])[KPI]
    target = on.xs(pd.Timestamp(day), level="day")
    base = on.xs(pd.Timestamp(day - dt.timedelta(days=7)), level="day")
    got = summary.set_index("casino_id").sort_index()
    assert_allclose(got["value_target"], target.reindex(got.index), rtol=1e-12)
    assert_allclose(got["value_base"], base.reindex(got.index), rtol=1e-12)
    assert_allclose(got["delta"], (target - base).reindex(got.index), rtol=1e-9)


def _assert_matches_core(
    stack: CeleryStack, answers: Mapping[str, pd.DataFrame], day: dt.date
) -> None:
    keep = stack.config.explain.rows_per_explanation
    for casino in CHECKED_CASINOS:
        core = _core_results(stack, casino, day)
        mine = {t: f.loc[f["casino_id"] == casino] for t, f in answers.items()}

        ranked = core["rank_metrics"].table.sort_values("rank").head(keep)
        stored = mine["metric_rankings"].dropna(subset=["rank"])
        # Same input rows in the same order: the ranks must agree exactly.
        pairs = stored.merge(ranked, on="metric", suffixes=("_stored", "_core"))
        assert sorted(stored["metric"]) == sorted(ranked["metric"])
        assert len(pairs) == len(ranked)
        assert (pairs["rank_stored"] == pairs["rank_core"]).all(), pairs.to_string()
        assert_allclose(
            pairs["score_stored"], pairs["score_core"], rtol=1e-9, atol=1e-12
        )

        significance = core["assess_change"].table.set_index("metric")
        kept = mine["change_significance"].set_index("metric")
        assert sorted(kept.index) == sorted(significance.index)
        assert_allclose(
            kept["robust_z"].astype(float),
            significance.loc[kept.index, "robust_z"].astype(float),
            rtol=1e-9,
            atol=1e-12,
        )

        segments = core["rank_segments"].table.set_index("segment")
        causes = segments.index[segments["is_root_cause"].astype(bool)]
        stored_segments = mine["root_cause_segments"].set_index("segment")
        stored_causes = stored_segments.index[stored_segments["is_root_cause"]]
        assert sorted(stored_causes) == sorted(causes)
        assert_allclose(
            stored_segments["share_of_change"],
            segments.loc[stored_segments.index, "share_of_change"],
            rtol=1e-9,
            atol=1e-12,
        )


def _assert_answers(stack: CeleryStack, day: dt.date) -> None:
    answers = _answers(stack, day)
    casinos = stack.data.casino_ids
    assert len(casinos) == N_CASINOS
    _assert_complete(answers, casinos)
    _assert_kpi_values(stack, answers["daily_summary"], day)
    _assert_matches_core(stack, answers, day)


def test_daily_run_spreads_chunks_over_both_workers(celery_stack: CeleryStack) -> None:
    day = DATE_TARGETS[0]
    run_id = _run_daily(celery_stack, day)

    state = _wait_finished(celery_stack, run_id, timeout=RUN_TIMEOUT)

    tis = _task_instances(celery_stack, run_id)
    assert state == "success", tis.to_string()
    assert (tis["state"] == "success").all(), tis.to_string()
    chunks = tis.loc[tis["task_id"] == "explain_chunk"]
    assert len(chunks) == int(
        np.ceil(N_CASINOS / celery_stack.config.airflow.chunk_size)
    )
    assert set(tis["hostname"]) == set(WORKERS), tis.to_string()
    _assert_answers(celery_stack, day)


def _running_on(stack: CeleryStack, run_id: str, worker: str) -> int | None:
    tis = _task_instances(stack, run_id)
    mine = tis.loc[
        (tis["task_id"] == "explain_chunk")
        & (tis["state"] == "running")
        & (tis["hostname"] == worker)
    ]
    return None if mine.empty else int(mine["map_index"].iloc[0])


def test_run_completes_after_losing_a_worker(celery_stack: CeleryStack) -> None:
    lost, survivor = WORKERS
    day = DATE_TARGETS[1]
    run_id = _run_daily(celery_stack, day)
    map_index = wait_until(
        lambda: _running_on(celery_stack, run_id, lost), timeout=RUN_TIMEOUT,
        what=f"a chunk running on {lost}", interval=0.3,
    )  # fmt: skip

    celery_stack.cluster.processes[lost].kill()
    state = _wait_finished(celery_stack, run_id, timeout=RUN_TIMEOUT)

    tis = _task_instances(celery_stack, run_id)
    assert state == "success", tis.to_string()
    retried = tis.loc[
        (tis["task_id"] == "explain_chunk") & (tis["map_index"] == map_index)
    ]
    assert retried["try_number"].iloc[0] >= 2, tis.to_string()
    assert retried["hostname"].iloc[0] == survivor, tis.to_string()
    history = _earlier_tries(celery_stack, run_id)
    lost_try = history.loc[
        (history["task_id"] == "explain_chunk") & (history["map_index"] == map_index)
    ]
    assert lost in set(lost_try["hostname"]), history.to_string()
    _assert_answers(celery_stack, day)


def test_http_service_answers_inside_the_api_server(celery_stack: CeleryStack) -> None:
    # The plugin's fastapi_apps entry mounts the same app under /casino-explain.
    response = celery_stack.api.http.get("/casino-explain/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    refused = celery_stack.api.http.post(
        "/casino-explain/singlerankmetrics",
        json={"path": "../x.csv", "metric_col": KPI, "date_target": "2024-04-09"},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "refused_path"
