"""Tests of analytics.pipeline.runner against Postgres and the core's own output."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import analytics
from analytics.errors import ParameterError
from analytics.pipeline.compute import run_parameters
from analytics.pipeline.config import PipelineConfig, load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.migrate import upgrade
from analytics.pipeline.runner import (
    backfill_chunk,
    chunk_casinos,
    explain_chunk,
    list_casinos,
    target_date_for,
)
from analytics.pipeline.schema import runs

TARGET = dt.date(2024, 7, 19)
CASINOS = ["C01", "C02", "C03"]
# Each answer table and the key columns after (casino_id, date_target, kpi).
ANSWER_TABLES = {
    "metric_rankings": ["metric"],
    "change_significance": ["metric"],
    "segment_breakdown": ["dimension", "member"],
    "root_cause_segments": ["segment"],
    "daily_summary": [],
}


@pytest.fixture(scope="module")
def engine(
    postgres_url: str, load_sources: Callable[[Engine], None]
) -> Iterator[Engine]:
    engine = engine_from_url(postgres_url)
    load_sources(engine)
    upgrade(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return load_config()


def _snapshot(engine: Engine, dates: list[dt.date]) -> dict[str, pd.DataFrame]:
    tables = {}
    with engine.connect() as conn:
        for name in ANSWER_TABLES:
            frame = pd.read_sql_query(
                sa.text(f"SELECT * FROM explain.{name}"),
                conn,
            )
            frame = frame[frame["date_target"].isin(dates)]
            frame = frame.drop(columns=["run_id", "created_at"], errors="ignore")
            key = ["casino_id", "date_target", "kpi", *ANSWER_TABLES[name]]
            tables[name] = frame.sort_values(key).reset_index(drop=True)
    return tables


def _assert_same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for name in ANSWER_TABLES:
        pd.testing.assert_frame_equal(
            left[name], right[name], check_exact=False, rtol=1e-12
        )


def _run(engine: Engine, config: PipelineConfig, day: dt.date = TARGET) -> Any:
    return explain_chunk(
        CASINOS, date_target=day, config=config, source=engine, reporting=engine
    )


def _backfill(engine: Engine, config: PipelineConfig, days: list[dt.date]) -> Any:
    return backfill_chunk(
        CASINOS,
        date_from=days[0],
        date_to=days[-1],
        config=config,
        source=engine,
        reporting=engine,
    )


@pytest.mark.postgres
def test_chunk_rows_match_the_core_run_directly(
    engine: Engine, config: PipelineConfig, casino_data: Any
) -> None:
    outcome = _run(engine, config)
    assert (outcome.succeeded, outcome.failed, outcome.skipped) == (3, 0, 0)
    assert outcome.rows_written > 0

    daily, segments = casino_data.daily_for("C01"), casino_data.segments_for("C01")
    common = {"metric_col": "coin_in", "date_col": "day", "date_target": TARGET}
    ranked = analytics.rank_metrics(daily, **common).table.sort_values("rank")
    significance = analytics.assess_change(daily, **common).table
    located = analytics.rank_segments(
        segments, **common, dimensions=list(config.source.dimension_columns)
    )
    stored = _snapshot(engine, [TARGET])
    mine = {name: t[t["casino_id"] == "C01"] for name, t in stored.items()}

    rankings = mine["metric_rankings"].dropna(subset=["rank"]).sort_values("rank")
    keep = config.explain.rows_per_explanation
    assert list(rankings["metric"]) == list(ranked["metric"].head(keep))
    np.testing.assert_allclose(rankings["score"], ranked["score"].head(keep), rtol=1e-9)

    z = mine["change_significance"].set_index("metric")["robust_z"]
    expected_z = significance.set_index("metric")["robust_z"]
    np.testing.assert_allclose(z[expected_z.index], expected_z, rtol=1e-9)

    roots = mine["root_cause_segments"]
    assert set(roots.loc[roots["is_root_cause"], "segment"]) == set(
        located.table.loc[located.table["is_root_cause"], "segment"]
    )
    assert len(mine["segment_breakdown"]) == len(located.breakdown)

    summary = mine["daily_summary"].iloc[0]
    kpi_row = significance.set_index("metric").loc["coin_in"]
    np.testing.assert_allclose(summary["delta"], kpi_row["delta"], rtol=1e-12)
    assert summary["top_metric_1"] == ranked["metric"].iloc[0]
    assert summary["explanation"].startswith("coin_in ")


@pytest.mark.postgres
def test_rerun_gives_identical_rows(engine: Engine, config: PipelineConfig) -> None:
    _run(engine, config)
    first = _snapshot(engine, [TARGET])
    _run(engine, config)
    _assert_same(first, _snapshot(engine, [TARGET]))


@pytest.mark.postgres
def test_broken_casino_fails_alone(engine: Engine) -> None:
    config = load_config(
        overrides={
            "source": {
                "daily_table": "broken_daily",
                "segment_table": "broken_segments",
            }
        }
    )
    # The duplicated day lies inside the history window of the next day.
    day = TARGET + dt.timedelta(days=1)
    outcome = _run(engine, config, day)
    assert (outcome.succeeded, outcome.failed) == (2, 1)
    assert list(outcome.failures) == ["C02/coin_in"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT casino_id, status, error_message FROM explain.runs "
                "WHERE date_target = :d ORDER BY casino_id"
            ),
            {"d": day},
        ).all()
        summaries = conn.execute(
            sa.text(
                "SELECT casino_id FROM explain.daily_summary WHERE date_target = :d"
            ),
            {"d": day},
        ).scalars()
        written = sorted(summaries)
    assert [(r[0], r[1]) for r in rows] == [
        ("C01", "succeeded"),
        ("C02", "failed"),
        ("C03", "succeeded"),
    ]
    assert rows[1][2].startswith("DuplicateKeyError")
    assert written == ["C01", "C03"]


@pytest.mark.postgres
def test_bulk_path_gives_the_same_rows_as_the_daily_path(
    engine: Engine, config: PipelineConfig
) -> None:
    days = [TARGET - dt.timedelta(days=i) for i in (2, 1, 0)]
    for day in days:
        _run(engine, config, day)
    daily_rows = _snapshot(engine, days)
    outcome = _backfill(engine, config, days)
    assert (outcome.succeeded, outcome.failed) == (9, 0)
    _assert_same(daily_rows, _snapshot(engine, days))


@pytest.mark.postgres
def test_bulk_path_computes_the_metric_modules_once_per_casino(
    engine: Engine,
    config: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="analytics.pipeline.runner")
    calls: list[str] = []
    for name in ("rank_metrics", "assess_change"):
        original = getattr(analytics, name)

        def counted(
            *args: Any, _name: str = name, _f: Any = original, **kw: Any
        ) -> Any:
            calls.append(_name)
            return _f(*args, **kw)

        monkeypatch.setattr(analytics, name, counted)
    days = [TARGET - dt.timedelta(days=i) for i in range(6, -1, -1)]
    outcome = _backfill(engine, config, days)
    assert (outcome.succeeded, outcome.failed) == (21, 0)
    # Every date came from the all-dates pass: no single-date call at all.
    assert calls == []
    assert "3/3 casinos, 21/21 casino-dates done (0 failed" in caplog.text
    # The runs rows went in by COPY: their JSON columns must read back as JSON.
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(runs.c.parameters, runs.c.rows_written)
            .where(runs.c.date_target == days[0])
            .where(runs.c.casino_id == "C01")
            .order_by(runs.c.started_at.desc())
        ).first()
    assert stored is not None
    assert stored.parameters == run_parameters(config, kpi="coin_in")
    assert stored.rows_written["daily_summary"] == 1


@pytest.mark.postgres
def test_bulk_path_confines_a_broken_extract_to_its_casino(engine: Engine) -> None:
    config = load_config(
        overrides={
            "source": {
                "daily_table": "broken_daily",
                "segment_table": "broken_segments",
            }
        }
    )
    days = [TARGET + dt.timedelta(days=i) for i in (1, 2)]
    outcome = _backfill(engine, config, days)
    # C02's duplicated day makes its extract unusable as a whole: its dates fail
    # one by one with the reason, the other casinos are explained.
    assert (outcome.succeeded, outcome.failed) == (4, 2)
    assert sorted(outcome.failures) == [f"C02/{d.isoformat()}/coin_in" for d in days]
    assert all(m.startswith("DuplicateKeyError") for m in outcome.failures.values())


@pytest.mark.postgres
def test_list_casinos_all_or_configured(engine: Engine, config: PipelineConfig) -> None:
    assert list_casinos(engine, config, date_target=TARGET) == CASINOS
    chosen = load_config(overrides={"explain": {"casinos": ["C03"]}})
    assert list_casinos(engine, chosen, date_target=TARGET) == ["C03"]


@pytest.mark.parametrize(
    ("end", "timezone", "expected"),
    [
        pytest.param(
            dt.datetime(2024, 7, 20, 6, tzinfo=dt.UTC),
            "UTC",
            dt.date(2024, 7, 19),
            id="scheduled",
        ),
        pytest.param(
            dt.datetime(2024, 7, 20, 0, tzinfo=dt.UTC),
            "UTC",
            dt.date(2024, 7, 19),
            id="midnight",
        ),
        pytest.param(
            dt.datetime(2024, 7, 20, 3, tzinfo=dt.UTC),
            "America/Chicago",
            dt.date(2024, 7, 18),
            id="local-evening-before",
        ),
        pytest.param(
            dt.datetime(2024, 7, 20, 6), "UTC", dt.date(2024, 7, 19), id="naive-is-utc"
        ),
    ],
)
def test_target_date_rule(end: dt.datetime, timezone: str, expected: dt.date) -> None:
    assert target_date_for(end, timezone=timezone) == expected


def test_chunks_cover_every_casino_once() -> None:
    casinos = [f"C{i:03d}" for i in range(53)]
    chunks = chunk_casinos(casinos, chunk_size=25)
    assert [len(c) for c in chunks] == [25, 25, 3]
    assert [c for chunk in chunks for c in chunk] == casinos
    with pytest.raises(ParameterError, match="chunk_size must be at least 1, got 0"):
        chunk_casinos(casinos, chunk_size=0)
