"""Tests of the operators and the Airflow plugin, executed outside a DAG run."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.pipeline.config import PipelineConfig
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.demo import load_source_tables
from analytics.pipeline.migrate import upgrade
from analytics.pipeline.operators import (
    BackfillCasinosOperator,
    ExplainCasinosOperator,
    resolve_target_date,
    runtime_config,
)

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

TARGET = dt.date(2024, 7, 19)
RUN_END = dt.datetime(2024, 7, 20, 6, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine(
    postgres_url: str, casino_data: Any, source_tables: Callable[..., Any]
) -> Iterator[Engine]:
    engine = engine_from_url(postgres_url)
    load_source_tables(engine, source_tables(casino_data))
    upgrade(postgres_url)
    uri = sa.make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    saved = {
        k: os.environ.get(k)
        for k in ("AIRFLOW_CONN_CASINO_SOURCE", "AIRFLOW_CONN_CASINO_REPORTING")
    }
    os.environ["AIRFLOW_CONN_CASINO_SOURCE"] = uri
    os.environ["AIRFLOW_CONN_CASINO_REPORTING"] = uri
    yield engine
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    engine.dispose()


def _context(end: dt.datetime = RUN_END) -> dict[str, Any]:
    return {"data_interval_end": end, "logical_date": end, "dag_run": None}


def _summaries(engine: Engine, day: dt.date) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT casino_id FROM explain.daily_summary WHERE date_target = :d"
            ),
            {"d": day},
        ).scalars()
        return sorted(rows)


@pytest.mark.postgres
def test_explain_operator_applies_the_target_date_rule(engine: Engine) -> None:
    operator = ExplainCasinosOperator(task_id="explain", casinos=["C01", "C03"])
    result = operator.execute(_context())
    assert result["date_target"] == TARGET.isoformat()
    assert (result["succeeded"], result["failed"]) == (2, 0)
    assert _summaries(engine, TARGET) == ["C01", "C03"]
    # The XCom stays small: counts and at most a few failure reasons.
    assert len(json.dumps(result)) < 500


@pytest.mark.postgres
def test_explain_operator_takes_an_explicit_date(engine: Engine) -> None:
    day = TARGET - dt.timedelta(days=5)
    operator = ExplainCasinosOperator(
        task_id="explain", casinos=["C02"], date_target=day.isoformat()
    )
    assert operator.execute(_context())["date_target"] == day.isoformat()
    assert _summaries(engine, day) == ["C02"]


@pytest.mark.postgres
def test_backfill_operator_covers_the_range(engine: Engine) -> None:
    operator = BackfillCasinosOperator(
        task_id="backfill",
        casinos=["C01"],
        date_from="2024-07-10",
        date_to="2024-07-12",
    )
    result = operator.execute(_context())
    assert (result["succeeded"], result["failed"], result["skipped"]) == (3, 0, 0)
    for day in (dt.date(2024, 7, 10), dt.date(2024, 7, 12)):
        assert _summaries(engine, day) == ["C01"]


def test_variable_overrides_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_VAR_CASINO_EXPLAIN_CONFIG",
        json.dumps({"explain": {"kpis": ["theo_win"]}}),
    )
    assert runtime_config().explain.kpis == ("theo_win",)


def test_resolve_target_date_prefers_an_explicit_date() -> None:
    config = PipelineConfig()
    assert resolve_target_date(_context(), "2024-01-02", config) == dt.date(2024, 1, 2)
    assert resolve_target_date(_context(), None, config) == TARGET


def test_plugin_registers_the_target_date_macro() -> None:
    from casino_explain_pipeline import CasinoExplainPlugin

    (macro,) = CasinoExplainPlugin.macros
    assert CasinoExplainPlugin.name == "casino_explain"
    assert macro(RUN_END) == "2024-07-19"
    assert macro(RUN_END, "America/Los_Angeles") == "2024-07-18"
