"""assess_change: hand-computed z and percentiles, fallbacks, holidays, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics import (
    ColumnError,
    DateError,
    DuplicateKeyError,
    InputError,
    InsufficientHistoryError,
    ParameterError,
    assess_change,
)
from analytics._significance import ASSESS_COLUMNS, holiday_dates
from analytics.synthetic.metric_cases import floor_holidays

WEEKS = pd.date_range("2024-01-01", periods=6, freq="7D")  # Mondays
D, B = "2024-02-05", "2024-01-29"


@pytest.fixture
def tiny() -> pd.DataFrame:
    """Six Mondays; D the sixth, B the fifth; history deltas d_1..d_4.

    Worked by hand, d_k = x(D - 7k) - x(B - 7k):
    coin_in 10 12 11 13 12 | 30: d = -1 2 -1 2, median 0.5, MAD 1.5, delta 18
    fallback 1 5 5 5 5 | 7:      d = 0 0 0 4, MAD 0, mean |d - 0| = 1, delta 2
    steady   3 3 3 3 3 | 4:      d = 0 0 0 0, no scale at all
    ramp     0 1 3 6 10 | 13:    d = 4 3 2 1, median 2.5, MAD 1, delta 3
    """
    return pd.DataFrame(
        {
            "date": WEEKS,
            "coin_in": [10.0, 12, 11, 13, 12, 30],
            "fallback": [1.0, 5, 5, 5, 5, 7],
            "steady": [3.0, 3, 3, 3, 3, 4],
            "ramp": [0.0, 1, 3, 6, 10, 13],
            "falling": [9.0, 9, 8, 9, 8, 2],
            "gap": [1.0, 2, 3, 4, 5, np.nan],
            "label": list("abcdef"),
        }
    )


def _row(result, metric: str) -> pd.Series:
    return result.table.set_index("metric").loc[metric]


def test_robust_z_with_the_mad(tiny: pd.DataFrame) -> None:
    result = assess_change(tiny, metric_col="coin_in", date_target=D)
    kpi = _row(result, "coin_in")
    assert kpi["delta"] == 18
    assert kpi["n_hist"] == 4
    assert kpi["median_hist"] == 0.5
    assert kpi["mad_hist"] == 1.5
    assert kpi["scale_kind"] == "mad"
    assert_allclose(kpi["robust_z"], 0.6745 * 17.5 / 1.5)
    assert kpi["percentile"] == 100.0
    assert bool(kpi["significant"])
    assert kpi["direction"] == "up"
    assert kpi["reason"] == ""


def test_mean_absolute_deviation_fallback_when_the_mad_is_zero(
    tiny: pd.DataFrame,
) -> None:
    row = _row(assess_change(tiny, metric_col="coin_in", date_target=D), "fallback")
    assert row["mad_hist"] == 0
    assert row["scale_kind"] == "mean_abs_dev"
    assert_allclose(row["robust_z"], 2 / (1.2533 * 1.0))
    assert row["percentile"] == 75.0  # |d| = 0 0 0 4: three are <= 2


def test_undefined_z_says_why(tiny: pd.DataFrame) -> None:
    row = _row(assess_change(tiny, metric_col="coin_in", date_target=D), "steady")
    assert np.isnan(row["robust_z"])
    assert row["scale_kind"] == "none"
    assert "every historical delta is equal" in row["reason"]
    assert not row["significant"]
    assert row["percentile"] == 100.0


def test_percentile_counts_ties_as_at_or_below(tiny: pd.DataFrame) -> None:
    row = _row(assess_change(tiny, metric_col="coin_in", date_target=D), "ramp")
    assert row["percentile"] == 75.0  # |d| = 4 3 2 1; 3, 2 and 1 are <= 3
    assert row["median_hist"] == 2.5
    assert row["mad_hist"] == 1.0
    assert_allclose(row["robust_z"], 0.6745 * 0.5)


def test_threshold_is_inclusive(tiny: pd.DataFrame) -> None:
    at = assess_change(tiny, metric_col="coin_in", date_target=D, threshold=0.33725)
    above = assess_change(tiny, metric_col="coin_in", date_target=D, threshold=0.3373)
    assert bool(_row(at, "ramp")["significant"])
    assert not bool(_row(above, "ramp")["significant"])


def test_kpi_first_then_every_numeric_metric(tiny: pd.DataFrame) -> None:
    result = assess_change(tiny, metric_col="coin_in", date_target=D)
    assert list(result.table.columns) == list(ASSESS_COLUMNS)
    assert result.table["metric"].tolist() == [
        "coin_in",
        "fallback",
        "steady",
        "ramp",
        "falling",
        "gap",
    ]
    assert result.table["is_kpi"].tolist() == [True] + [False] * 5
    assert result.skipped == {"label": "not numeric (dtype str)"}
    assert result.kpi["metric"] == "coin_in"
    assert result.significant


def test_metric_missing_on_the_day_has_no_z(tiny: pd.DataFrame) -> None:
    row = _row(assess_change(tiny, metric_col="coin_in", date_target=D), "gap")
    assert np.isnan(row["robust_z"])
    assert row["reason"] == "no value at the target or base date"
    assert np.isnan(row["percentile"])


def test_direction_down(tiny: pd.DataFrame) -> None:
    row = _row(assess_change(tiny, metric_col="coin_in", date_target=D), "falling")
    assert row["direction"] == "down"
    assert row["robust_z"] < 0


def test_too_few_deltas_give_no_z(tiny: pd.DataFrame) -> None:
    tiny.loc[[0, 1], "ramp"] = np.nan  # leaves d_1 and d_2 only
    row = _row(assess_change(tiny, metric_col="coin_in", date_target=D), "ramp")
    assert row["n_hist"] == 2
    assert row["reason"] == "fewer than 3 historical deltas"


def test_explicit_base_uses_the_same_lag(tiny: pd.DataFrame) -> None:
    # B = D - 14: d_k = x(D - 7k) - x(B - 7k) = 12-11, 13-12, 11-10 (k = 1..3),
    # all equal: no scale, and the KPI's z is undefined with the reason.
    result = assess_change(
        tiny, metric_col="coin_in", date_target=D, date_base="2024-01-22"
    )
    kpi = _row(result, "coin_in")
    assert kpi["delta"] == 30 - 13
    assert kpi["n_hist"] == 3
    assert kpi["median_hist"] == 1.0
    assert kpi["scale_kind"] == "none"
    assert kpi["reason"].startswith("every historical delta is equal")
    assert any("has no robust_z" in note for note in result.notes)
    assert not result.significant


@pytest.mark.parametrize(
    "holidays",
    [
        pytest.param([B], id="list-of-strings"),
        pytest.param(pd.Series(pd.to_datetime([B, "2023-12-25"])), id="series"),
        pytest.param(pd.DataFrame({"date": [B], "name": ["x"]}), id="frame"),
        pytest.param(pd.Series([1.0], index=pd.to_datetime([B])), id="indexed"),
        pytest.param({pd.Timestamp(B).date()}, id="set-of-dates"),
    ],
)
def test_holiday_on_the_base_date_is_flagged(
    tiny: pd.DataFrame, holidays: object
) -> None:
    result = assess_change(tiny, metric_col="coin_in", date_target=D, holidays=holidays)
    assert result.holiday_base
    assert not result.holiday_target
    assert any("base date 2024-01-29 is a holiday" in n for n in result.notes)
    assert result.to_dict()["holiday_base"] is True
    assert result.table["base_is_holiday"].all()
    assert not result.table["target_is_holiday"].any()


def test_holiday_on_the_target_date_is_flagged(tiny: pd.DataFrame) -> None:
    result = assess_change(
        tiny, metric_col="coin_in", date_target=D, holidays=[f"{D} 18:30"]
    )
    assert result.holiday_target
    assert not result.holiday_base


def test_generator_calendar_is_accepted() -> None:
    calendar = floor_holidays("2024-01-01", "2024-12-31")
    assert pd.Timestamp("2024-07-04") in holiday_dates(calendar)
    assert pd.Timestamp("2024-11-28") in holiday_dates(calendar)  # Thanksgiving


def test_to_dict_is_json_ready(tiny: pd.DataFrame) -> None:
    answer = assess_change(tiny, metric_col="coin_in", date_target=D).to_dict()
    assert answer["module"] == "assess_change"
    assert answer["kpi"]["metric"] == "coin_in"
    assert answer["rows"][2]["robust_z"] is None
    assert answer["parameters"]["threshold"] == 3.5
    json.dumps(answer, allow_nan=False)


@pytest.mark.parametrize(
    ("threshold", "match"),
    [
        pytest.param(0, "positive finite number, got 0", id="zero"),
        pytest.param(-1.5, "positive finite number, got -1.5", id="negative"),
        pytest.param(math.nan, "positive finite number, got nan", id="nan"),
        pytest.param(math.inf, "positive finite number, got inf", id="infinite"),
        pytest.param("3.5", "positive number, got '3.5'", id="text"),
        pytest.param(True, "positive number, got True", id="bool"),
        pytest.param(None, "positive number, got None", id="none"),
    ],
)
def test_bad_threshold_is_refused(
    tiny: pd.DataFrame, threshold: object, match: str
) -> None:
    with pytest.raises(ParameterError, match=match):
        assess_change(tiny, metric_col="coin_in", date_target=D, threshold=threshold)


@pytest.mark.parametrize(
    ("holidays", "match"),
    [
        pytest.param("2024-01-29", "iterable of dates", id="bare-string"),
        pytest.param(42, "iterable of dates", id="number"),
        pytest.param(["not a day"], "not a date", id="unparseable"),
        pytest.param([None], "empty value", id="missing"),
        pytest.param(pd.DataFrame({"a": [B], "b": [B]}), "no 'date'", id="frame"),
    ],
)
def test_bad_holidays_are_refused(
    tiny: pd.DataFrame, holidays: object, match: str
) -> None:
    with pytest.raises(ParameterError, match=match):
        assess_change(tiny, metric_col="coin_in", date_target=D, holidays=holidays)


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        pytest.param(
            None,
            {"metric_col": "nope"},
            ColumnError,
            r"KPI column\(s\) 'nope'",
            id="missing-kpi",
        ),
        pytest.param(
            None,
            {"metric_col": "label"},
            ColumnError,
            "must be numeric",
            id="non-numeric-kpi",
        ),
        pytest.param(
            None,
            {"metrics": ["label"]},
            ColumnError,
            "must be numeric",
            id="non-numeric-metric",
        ),
        pytest.param(
            None,
            {"date_target": "2030-01-07"},
            DateError,
            "is not in the data",
            id="target-absent",
        ),
        pytest.param(
            None,
            {"date_base": "2024-02-12"},
            DateError,
            "must be before",
            id="base-after-target",
        ),
        pytest.param(
            None,
            {"date_target": "2024-01-22"},
            InsufficientHistoryError,
            "only 3 same-weekday",
            id="too-little-history",
        ),
        pytest.param(
            "duplicate", {}, DuplicateKeyError, "share a date", id="duplicate-dates"
        ),
        pytest.param(
            "nan-target",
            {},
            ColumnError,
            r"no value \(NaN\) at date_target",
            id="kpi-nan-at-target",
        ),
        pytest.param(
            "nan-base",
            {},
            ColumnError,
            r"no value \(NaN\) at date_base",
            id="kpi-nan-at-base",
        ),
        pytest.param("empty", {}, InputError, "the data is empty", id="empty"),
    ],
)
def test_bad_input_is_refused(
    tiny: pd.DataFrame,
    change: str | None,
    kwargs: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    frame = tiny
    if change == "duplicate":
        frame = pd.concat([tiny, tiny.iloc[[1]]], ignore_index=True)
    elif change == "nan-target":
        frame.loc[5, "coin_in"] = np.nan
    elif change == "nan-base":
        frame.loc[4, "coin_in"] = np.nan
    elif change == "empty":
        frame = tiny.iloc[0:0]
    arguments: dict[str, object] = {"metric_col": "coin_in", "date_target": D}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        assess_change(frame, **arguments)


def test_kpi_alone_is_enough(tiny: pd.DataFrame) -> None:
    result = assess_change(
        tiny[["date", "coin_in"]], metric_col="coin_in", date_target=D
    )
    assert result.table["metric"].tolist() == ["coin_in"]


@pytest.mark.slow
def test_false_flags_are_rare_and_large_shifts_are_caught() -> None:
    from analytics.evaluation.metrics import change_detection_rates

    rates = change_detection_rates(
        cases=60, seed=7000, shifts=(0.0, 4.0), sd_kinds=("delta",)
    )
    flagged = rates.set_index("shift_sd")["flagged"]
    assert flagged[0.0] <= 0.1
    assert flagged[4.0] >= 0.5
