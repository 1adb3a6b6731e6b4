"""Tests of analytics.pipeline.demo: helpers quickly, the whole demo once (slow)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from analytics.pipeline.demo import (
    airflow_environment,
    load_source_tables,
    logical_date_for,
    run_demo,
)


def test_load_source_tables_replaces_and_types_the_tables() -> None:
    engine = sa.create_engine("sqlite://")
    frame = pd.DataFrame(
        {
            "casino_id": ["C01", "C01"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "games_played": [10, 12],
            "coin_in": [1.5, float("nan")],
        }
    )
    assert load_source_tables(engine, {"casino_daily": frame}) == {"casino_daily": 2}
    assert load_source_tables(engine, {"casino_daily": frame.head(1)}) == {
        "casino_daily": 1
    }
    columns = {
        c["name"]: c["type"] for c in sa.inspect(engine).get_columns("casino_daily")
    }
    assert isinstance(columns["day"], sa.Date)
    assert isinstance(columns["games_played"], sa.BigInteger)
    with engine.connect() as conn:
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM casino_daily").scalar_one() == 1
        )


def test_logical_date_is_the_morning_after_the_target() -> None:
    assert logical_date_for(dt.date(2024, 2, 29)) == dt.datetime(
        2024, 3, 1, 6, tzinfo=dt.UTC
    )


def test_airflow_environment_points_at_the_private_home(tmp_path: Path) -> None:
    env = airflow_environment(
        tmp_path,
        dags_folder=tmp_path / "dags",
        source_url="sqlite:///s.db",
        reporting_url="sqlite:///r.db",
    )
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/airflow.db")
    assert env["AIRFLOW_CONN_CASINO_REPORTING"] == "sqlite:///r.db"


@pytest.mark.slow
@pytest.mark.airflow
def test_run_demo_explains_every_casino(tmp_path: Path) -> None:
    lines: list[str] = []
    summary = run_demo(
        tmp_path / "demo",
        n_casinos=2,
        start="2024-01-01",
        end="2024-06-30",
        echo=lines.append,
    )
    assert list(summary["casino_id"]) == ["C01", "C02"]
    assert summary["explanation"].str.startswith("coin_in ").all()
    assert any(line.startswith("demo finished") for line in lines)
    assert (tmp_path / "demo" / "airflow" / "airflow.db").is_file()
