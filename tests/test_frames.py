"""The shared validation helpers in analytics._frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics._frames import (
    MIN_HISTORY_DATES,
    WEEK,
    DateWindow,
    check_columns,
    parse_date,
    prepare_daily_frame,
    resolve_window,
)
from analytics.errors import (
    ColumnError,
    DateError,
    DuplicateKeyError,
    InputError,
    InsufficientHistoryError,
    ParameterError,
)


@pytest.fixture
def daily() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": ["2024-01-03", "2024-01-01 13:45", "2024-01-02"],
            "coin_in": [3, 1, 2],
            "zone": ["Z1", None, "Z2"],
        }
    )


# ---------------------------------------------------------------- parse_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2024-07-17", "2024-07-17", id="iso"),
        pytest.param("2024-07-17 23:59", "2024-07-17", id="time-dropped"),
        pytest.param(dt.date(2024, 7, 17), "2024-07-17", id="date"),
        pytest.param(pd.Timestamp("2024-07-17 05:00"), "2024-07-17", id="timestamp"),
        pytest.param(
            pd.Timestamp("2024-07-17 23:00", tz="US/Eastern"),
            "2024-07-18",
            id="tz-to-utc-naive",
        ),
    ],
)
def test_parse_date_normalises(value: object, expected: str) -> None:
    assert parse_date(value, name="date_target") == pd.Timestamp(expected)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param(None, "date_target is required, got None", id="none"),
        pytest.param("  ", "date_target is required", id="blank"),
        pytest.param("yesterday-ish", "is not a date; use ISO format", id="text"),
        pytest.param(pd.NaT, "is not a date", id="nat"),
        pytest.param([2024], "is not a date", id="list"),
    ],
)
def test_parse_date_refuses(value: object, match: str) -> None:
    with pytest.raises(DateError, match=match):
        parse_date(value, name="date_target")


# ------------------------------------------------------------- check_columns


def test_check_columns_names_every_missing_column(daily: pd.DataFrame) -> None:
    with pytest.raises(ColumnError, match=r"metric column\(s\) 'a', 'b' not in"):
        check_columns(daily, ["a", "coin_in", "b"], role="metric")


def test_check_columns_lists_the_available_ones(daily: pd.DataFrame) -> None:
    with pytest.raises(ColumnError, match="available columns: day, coin_in, zone"):
        check_columns(daily, ["a"], role="metric")


def test_check_columns_accepts_present_columns(daily: pd.DataFrame) -> None:
    check_columns(daily, ["day", "coin_in"], role="metric")


# ------------------------------------------------------- prepare_daily_frame


def test_prepare_sorts_normalises_and_converts(daily: pd.DataFrame) -> None:
    clean = prepare_daily_frame(daily, date_col="day", numeric_cols=["coin_in"])
    assert list(clean.columns) == ["day", "coin_in"]
    assert clean["day"].tolist() == list(pd.date_range("2024-01-01", periods=3))
    assert clean["coin_in"].tolist() == [1.0, 2.0, 3.0]
    assert clean["coin_in"].dtype == np.float64


def test_prepare_keeps_key_columns_as_text(daily: pd.DataFrame) -> None:
    clean = prepare_daily_frame(
        daily, date_col="day", numeric_cols=["coin_in"], key_cols=["zone"]
    )
    assert clean["zone"].tolist() == ["(missing)", "Z2", "Z1"]


def test_prepare_keeps_nan_as_a_missing_reading() -> None:
    frame = pd.DataFrame({"day": ["2024-01-01", "2024-01-02"], "x": [1.0, np.nan]})
    clean = prepare_daily_frame(frame, date_col="day", numeric_cols=["x"])
    assert np.isnan(clean["x"].iloc[1])


def test_prepare_accepts_timezone_aware_dates() -> None:
    days = pd.date_range("2024-01-01 10:00", periods=2, freq="D", tz="UTC")
    frame = pd.DataFrame({"day": days, "x": [1.0, 2.0]})
    clean = prepare_daily_frame(frame, date_col="day", numeric_cols=["x"])
    assert clean["day"].dt.tz is None
    assert clean["day"].iloc[0] == pd.Timestamp("2024-01-01")


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "match"),
    [
        pytest.param(
            [1, 2],
            {},
            InputError,
            "expected a pandas DataFrame, got list",
            id="not-a-frame",
        ),
        pytest.param(
            pd.DataFrame({"day": [], "x": []}),
            {},
            InputError,
            "the data is empty",
            id="empty",
        ),
        pytest.param(
            pd.DataFrame({"x": [1]}),
            {},
            ColumnError,
            r"date column\(s\) 'day'",
            id="no-date-column",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01"], "y": [1]}),
            {},
            ColumnError,
            r"metric column\(s\) 'x'",
            id="no-metric-column",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01"], "x": ["a"]}),
            {},
            ColumnError,
            "metric column 'x' must be numeric, got dtype",
            id="text-metric",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01"], "x": [True]}),
            {},
            ColumnError,
            "must be numeric",
            id="bool-metric",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01"], "x": [np.inf]}),
            {},
            ColumnError,
            "holds infinite values",
            id="infinite",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01", None], "x": [1, 2]}),
            {},
            DateError,
            "has 1 empty value",
            id="empty-date",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01", "soon"], "x": [1, 2]}),
            {},
            DateError,
            "holds values that are not dates",
            id="bad-date",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01", "2024-01-01 08:00"], "x": [1, 2]}),
            {},
            DuplicateKeyError,
            "2 rows share a date",
            id="duplicate-date",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01"] * 2, "zone": ["a", "a"], "x": [1, 2]}),
            {"key_cols": ["zone"]},
            DuplicateKeyError,
            "share a date and segment",
            id="duplicate-segment",
        ),
        pytest.param(
            pd.DataFrame({"day": ["2024-01-01"], "x": [1]}),
            {"key_cols": ["zone"]},
            ColumnError,
            r"dimension column\(s\) 'zone'",
            id="missing-dimension",
        ),
    ],
)
def test_prepare_refuses_bad_tables(
    frame: object, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        prepare_daily_frame(frame, date_col="day", numeric_cols=["x"], **kwargs)


def test_prepare_names_the_role_in_messages() -> None:
    frame = pd.DataFrame({"day": ["2024-01-01"], "coin_in": ["x"]})
    with pytest.raises(ColumnError, match="KPI column 'coin_in'"):
        prepare_daily_frame(frame, date_col="day", numeric_cols=["coin_in"], role="KPI")


def test_same_segment_on_different_dates_is_fine() -> None:
    frame = pd.DataFrame(
        {"day": ["2024-01-01", "2024-01-02"], "zone": ["a", "a"], "x": [1, 2]}
    )
    clean = prepare_daily_frame(
        frame, date_col="day", numeric_cols=["x"], key_cols=["zone"]
    )
    assert len(clean) == 2


# ------------------------------------------------------------ resolve_window

MONDAYS = pd.date_range("2024-01-01", periods=20, freq="7D")


def test_window_defaults_to_the_same_weekday_a_week_earlier() -> None:
    window = resolve_window(MONDAYS, date_target="2024-05-13")
    assert window.target == pd.Timestamp("2024-05-13")
    assert window.base == pd.Timestamp("2024-05-06")
    assert len(window.history) == 13
    assert window.history[0] == window.base
    assert window.history[-1] == pd.Timestamp("2024-05-13") - 13 * WEEK
    assert window.target not in window.history


def test_window_keeps_only_dates_present() -> None:
    dates = MONDAYS.delete([17, 15])  # drop 2024-04-29 and 2024-04-15
    window = resolve_window(dates, date_target="2024-05-13", history_weeks=7)
    assert [d.date().isoformat() for d in window.history] == [
        "2024-05-06",
        "2024-04-22",
        "2024-04-08",
        "2024-04-01",
        "2024-03-25",
    ]


def test_window_with_an_explicit_base() -> None:
    window = resolve_window(MONDAYS, date_target="2024-05-13", date_base="2024-04-01")
    assert window.base == pd.Timestamp("2024-04-01")
    assert window.history[0] == pd.Timestamp("2024-05-06")


def test_window_as_dict_is_iso() -> None:
    window = DateWindow(
        target=pd.Timestamp("2024-05-13"),
        base=pd.Timestamp("2024-05-06"),
        history=(pd.Timestamp("2024-05-06"),),
    )
    assert window.as_dict() == {
        "date_target": "2024-05-13",
        "date_base": "2024-05-06",
        "history_dates": ["2024-05-06"],
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param(
            {"date_target": "2024-06-03"},
            DateError,
            "date_target='2024-06-03' is not in the data \\(dates run from "
            "2024-01-01 to 2024-05-13\\)",
            id="target-absent",
        ),
        pytest.param(
            {"date_target": "2024-05-13", "date_base": "2024-05-07"},
            DateError,
            "date_base='2024-05-07' is not in the data",
            id="base-absent",
        ),
        pytest.param(
            {"date_target": "2024-05-06", "date_base": "2024-05-06"},
            DateError,
            "must be before",
            id="base-equals-target",
        ),
        pytest.param(
            {"date_target": "2024-01-22"},
            InsufficientHistoryError,
            "only 3 same-weekday date\\(s\\) before 2024-01-22 in the last 13 weeks; "
            "at least 4",
            id="short-history",
        ),
        pytest.param(
            {"date_target": "2024-05-13", "history_weeks": 3},
            InsufficientHistoryError,
            "only 3 same-weekday",
            id="short-window",
        ),
        pytest.param(
            {"date_target": "2024-05-13", "history_weeks": 0},
            ParameterError,
            "history_weeks must be at least 1, got 0",
            id="zero-weeks",
        ),
        pytest.param(
            {"date_target": "2024-05-13", "history_weeks": 2.5},
            ParameterError,
            "history_weeks must be a whole number, got 2.5",
            id="fractional-weeks",
        ),
        pytest.param(
            {"date_target": "2024-05-13", "history_weeks": True},
            ParameterError,
            "whole number, got True",
            id="bool-weeks",
        ),
    ],
)
def test_window_refusals(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        resolve_window(MONDAYS, **kwargs)


def test_min_history_is_four_dates() -> None:
    assert MIN_HISTORY_DATES == 4
    window = resolve_window(MONDAYS[:5], date_target="2024-01-29")
    assert len(window.history) == 4
