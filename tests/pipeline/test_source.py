"""Tests of analytics.pipeline.source: catalog validation and parameterised reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.pipeline.config import SourceSettings
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.demo import load_source_tables
from analytics.pipeline.source import SourceReader, SourceSchemaError

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = engine_from_url(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def loaded(
    engine: Engine, casino_data: object, source_tables: Callable[..., Any]
) -> object:
    load_source_tables(engine, source_tables(casino_data))
    return casino_data


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        pytest.param(
            SourceSettings(daily_table="casino_dayly"),
            "daily_table='casino_dayly' is not a table",
            id="unknown-table",
        ),
        pytest.param(
            SourceSettings(date_column="gaming_day"),
            "'gaming_day' not in source table 'casino_daily'",
            id="unknown-key-column",
        ),
        pytest.param(
            SourceSettings(metric_columns=("coin_in", "coin_in; DROP TABLE x")),
            "'coin_in; DROP TABLE x' not in source table",
            id="injection-as-column",
        ),
        pytest.param(
            SourceSettings(dimension_columns=("zone", "aisle")),
            "'aisle' not in source table 'casino_segment_daily'",
            id="unknown-dimension",
        ),
        pytest.param(
            SourceSettings(schema="nowhere"),
            "source.schema='nowhere'",
            id="unknown-schema",
        ),
    ],
)
def test_unknown_identifiers_are_rejected(
    engine: Engine, loaded: object, settings: SourceSettings, match: str
) -> None:
    with pytest.raises(SourceSchemaError, match=match):
        SourceReader(engine, settings)


def test_metric_columns_default_to_every_numeric_column(
    engine: Engine, loaded: object
) -> None:
    reader = SourceReader(engine, SourceSettings())
    assert "coin_in" in reader.metric_columns
    assert "casino_id" not in reader.metric_columns
    assert "day" not in reader.metric_columns
    assert "zone" not in reader.segment_measures


def test_read_daily_returns_exactly_the_window_of_the_casinos(
    engine: Engine, loaded: object
) -> None:
    reader = SourceReader(engine, SourceSettings())
    frame = reader.read_daily(
        ["C01", "C03"], date_from=dt.date(2024, 7, 1), date_to=dt.date(2024, 7, 10)
    )
    assert sorted(frame["casino_id"].unique()) == ["C01", "C03"]
    assert frame["day"].min() == pd.Timestamp("2024-07-01")
    assert frame["day"].max() == pd.Timestamp("2024-07-10")
    assert len(frame) == 20
    daily = loaded.daily  # type: ignore[attr-defined]
    expected = daily.loc[
        (daily["casino_id"] == "C01") & (daily["day"] == pd.Timestamp("2024-07-10")),
        "coin_in",
    ].iloc[0]
    got = frame.loc[
        (frame["casino_id"] == "C01") & (frame["day"] == pd.Timestamp("2024-07-10")),
        "coin_in",
    ].iloc[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_casino_ids_are_bound_not_pasted(engine: Engine, loaded: object) -> None:
    reader = SourceReader(engine, SourceSettings())
    frame = reader.read_daily(
        ["C01' OR '1'='1"], date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 7, 31)
    )
    assert frame.empty


def test_segments_are_summed_over_dimensions_not_configured(
    engine: Engine, loaded: object
) -> None:
    reader = SourceReader(engine, SourceSettings(dimension_columns=("zone",)))
    day = dt.date(2024, 7, 19)
    frame = reader.read_segments(["C02"], date_from=day, date_to=day)
    segments = loaded.segments  # type: ignore[attr-defined]
    rows = segments[
        (segments["casino_id"] == "C02") & (segments["day"] == pd.Timestamp(day))
    ]
    expected = rows.groupby("zone")["coin_in"].sum().sort_index()
    assert list(frame["zone"]) == list(expected.index)
    np.testing.assert_allclose(frame["coin_in"], expected.to_numpy(), rtol=1e-12)


def test_list_casinos_returns_casinos_with_data_that_day(
    engine: Engine, loaded: object
) -> None:
    reader = SourceReader(engine, SourceSettings())
    day = dt.date(2024, 7, 19)
    assert reader.list_casinos(date_from=day, date_to=day) == ["C01", "C02", "C03"]
    assert (
        reader.list_casinos(date_from=dt.date(2030, 1, 1), date_to=dt.date(2030, 1, 2))
        == []
    )


def test_sqlite_source_works_without_a_schema() -> None:
    engine = sa.create_engine("sqlite://")
    frame = pd.DataFrame(
        {
            "casino_id": ["A", "A"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "coin_in": [1.0, 2.0],
        }
    )
    load_source_tables(engine, {"casino_daily": frame})
    reader = SourceReader(engine, SourceSettings(), need_segments=False)
    got = reader.read_daily(
        ["A"], date_from=dt.date(2024, 1, 2), date_to=dt.date(2024, 1, 2)
    )
    assert got["coin_in"].tolist() == [2.0]
    assert not reader.has_segments
