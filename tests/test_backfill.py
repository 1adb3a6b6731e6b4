"""The vectorized all-dates pass gives what the single-date functions give."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import analytics
from analytics import _backfill, _metrics
from analytics._backfill import (
    DayMap,
    backfill_assess_change,
    backfill_rank_metrics,
)
from analytics.errors import (
    DateError,
    DegenerateInputWarning,
    DuplicateKeyError,
    InsufficientHistoryError,
    ParameterError,
)
from analytics.synthetic.casino import generate_casinos

START, END = "2024-01-01", "2024-07-31"


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    """One generated casino with the awkward cases of real data planted in it."""
    data = generate_casinos(n_casinos=1, start=START, end=END, seed=5, causes=True)
    frame = data.daily_for("C01").reset_index(drop=True)
    frame["floor_label"] = "north"  # non-numeric: listed as skipped
    frame["constant_units"] = 1500.0  # sd 0: skipped on every date
    # A missing reading, a missing day and a KPI that does not move on one date.
    frame.loc[frame["day"] == pd.Timestamp("2024-06-12"), "hvac_kwh"] = np.nan
    frame = frame.loc[frame["day"] != pd.Timestamp("2024-05-02")]
    flat = frame["day"] == pd.Timestamp("2024-07-24")
    before = frame.loc[frame["day"] == pd.Timestamp("2024-07-17"), "coin_in"]
    frame.loc[flat, "coin_in"] = float(before.iloc[0])
    return frame.reset_index(drop=True)


# Early dates (too little history), ordinary dates, the missing day and the day
# after it (its base is missing), the NaN reading, the KPI that did not move.
DATES = [
    "2024-01-20",
    "2024-02-05",
    "2024-04-10",
    "2024-05-02",
    "2024-05-09",
    "2024-05-10",
    "2024-06-12",
    "2024-06-19",
    "2024-07-24",
    "2024-07-31",
]


def _assert_same_table(bulk: pd.DataFrame, single: pd.DataFrame) -> None:
    # Same rows in the same order (metric names compare exactly); the floats to
    # rtol 1e-12, since the bulk correlations sum in another order.
    pd.testing.assert_frame_equal(
        bulk, single, check_exact=False, rtol=1e-12, atol=1e-13
    )
    numbers = single.select_dtypes("number").columns
    assert_allclose(
        bulk[numbers].to_numpy(dtype="float64"),
        single[numbers].to_numpy(dtype="float64"),
        rtol=1e-12,
        atol=1e-13,
    )


def _single_rank(frame: pd.DataFrame, day: str, method: str) -> object:
    try:
        return analytics.rank_metrics(
            frame, metric_col="coin_in", date_col="day", date_target=day, method=method
        )
    except analytics.InputError as err:
        return err


@pytest.mark.parametrize("method", list(analytics.METHODS), ids=str)
def test_rank_metrics_matches_single_dates(daily: pd.DataFrame, method: str) -> None:
    with pytest.warns(DegenerateInputWarning, match="did not move"):
        bulk = backfill_rank_metrics(
            daily, metric_col="coin_in", date_col="day", dates=DATES, method=method
        )
    for day in DATES:
        with (
            pytest.warns(DegenerateInputWarning)
            if day == "2024-07-24"
            else nullcontext()
        ):
            single = _single_rank(daily, day, method)
        if isinstance(single, Exception):
            with pytest.raises(type(single), match=r"\w"):
                bulk.result_for(day)
            assert str(bulk.failures[pd.Timestamp(day)]) == str(single)
            continue
        result = bulk.result_for(day)
        _assert_same_table(result.table, single.table)  # type: ignore[attr-defined]
        assert result.kpi == single.kpi  # type: ignore[attr-defined]
        assert result.skipped == single.skipped  # type: ignore[attr-defined]
        assert result.notes == single.notes  # type: ignore[attr-defined]
        assert result.dates == single.dates  # type: ignore[attr-defined]
        assert result.parameters == single.parameters  # type: ignore[attr-defined]


def _single_assess(
    frame: pd.DataFrame, day: str, holidays: list[str]
) -> analytics.AssessChangeResult | Exception:
    try:
        return analytics.assess_change(
            frame,
            metric_col="coin_in",
            date_col="day",
            date_target=day,
            holidays=holidays,
        )
    except analytics.InputError as err:
        return err


def test_assess_change_matches_single_dates(daily: pd.DataFrame) -> None:
    holidays = ["2024-02-05", "2024-06-12"]
    bulk = backfill_assess_change(
        daily, metric_col="coin_in", date_col="day", dates=DATES, holidays=holidays
    )
    explained = 0
    for day in DATES:
        single = _single_assess(daily, day, holidays)
        if isinstance(single, Exception):
            assert str(bulk.failures[pd.Timestamp(day)]) == str(single)
            continue
        result = bulk.result_for(day)
        _assert_same_table(result.table, single.table)
        assert result.kpi == single.kpi
        assert result.notes == single.notes
        assert result.dates == single.dates
        assert (result.holiday_target, result.holiday_base) == (
            single.holiday_target,
            single.holiday_base,
        )
        assert result.skipped == single.skipped
        explained += 1
    assert explained == 7


def test_every_date_by_default_and_failures_are_kept(daily: pd.DataFrame) -> None:
    with pytest.warns(DegenerateInputWarning):
        bulk = backfill_rank_metrics(daily, metric_col="coin_in", date_col="day")
    assert len(bulk.windows) + len(bulk.failures) == len(daily)
    assert isinstance(bulk.failures[pd.Timestamp(START)], DateError)
    assert isinstance(
        bulk.failures[pd.Timestamp("2024-01-08")], InsufficientHistoryError
    )
    assert bulk.table["date_target"].is_monotonic_increasing
    ranks = bulk.table.groupby("date_target")["rank"].agg(["min", "max", "size"])
    assert (ranks["min"] == 1).all()
    assert (ranks["max"] == ranks["size"]).all()
    # Membership by any date-like, without building the window.
    explained = next(iter(bulk.windows))
    assert explained.date() in bulk.windows
    assert str(explained.date()) in bulk.windows
    assert pd.Timestamp(START) not in bulk.windows
    assert "not a date" not in bulk.windows
    with pytest.raises(DateError):
        bulk.result_for(START)  # the date's own failure
    with pytest.raises(ParameterError, match="was not part of this backfill"):
        bulk.result_for("2099-01-01")


def test_a_whole_year_matches_on_every_date() -> None:
    data = generate_casinos(
        n_casinos=1,
        start="2023-06-01",
        end="2024-06-30",
        seed=9,
        include_segments=False,
    )
    frame = data.daily_for("C01")
    days = pd.date_range("2024-01-01", "2024-06-30")
    bulk = backfill_rank_metrics(
        frame, metric_col="coin_in", date_col="day", dates=days
    )
    changes = backfill_assess_change(
        frame, metric_col="coin_in", date_col="day", dates=days
    )
    assert not bulk.failures
    assert not changes.failures
    for day in days[::9]:
        single = analytics.rank_metrics(
            frame, metric_col="coin_in", date_col="day", date_target=day
        )
        _assert_same_table(bulk.result_for(day).table, single.table)
        judged = analytics.assess_change(
            frame, metric_col="coin_in", date_col="day", date_target=day
        )
        _assert_same_table(changes.result_for(day).table, judged.table)


def test_frame_errors_are_raised_once(daily: pd.DataFrame) -> None:
    doubled = pd.concat([daily, daily.tail(1)], ignore_index=True)
    with pytest.raises(DuplicateKeyError, match="share a date"):
        backfill_rank_metrics(doubled, metric_col="coin_in", date_col="day")
    with pytest.raises(ParameterError, match="history_weeks must be at least 1"):
        backfill_assess_change(
            daily, metric_col="coin_in", date_col="day", history_weeks=0
        )
    with pytest.raises(ParameterError, match="method='best'"):
        backfill_rank_metrics(
            daily, metric_col="coin_in", date_col="day", method="best"
        )


def test_day_map_looks_up_any_date_like() -> None:
    days = [19_723, 19_730]  # 2024-01-01 and 2024-01-08
    notes = DayMap(days, [("a",), ("b",)])
    assert notes["2024-01-08"] == ("b",)
    assert notes[pd.Timestamp("2024-01-01 13:00")] == ("a",)
    assert list(notes) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    with pytest.raises(KeyError):
        notes["2024-01-02"]
    assert DayMap(days, make=lambda n: n * 2)["2024-01-01"] == 39_446


# The building blocks of the vectorized pass, against the single-date helpers on
# awkward random data (ties, NaN, trends, constants).


@pytest.mark.parametrize("size", [1, 2, 5, 12, 13, 17])
def test_median_network_picks_the_middle_order_statistics(size: int) -> None:
    rng = np.random.default_rng(size)
    planes = [np.round(rng.normal(size=(40, 3)), 1) for _ in range(size)]
    middle = _backfill._network_middle(planes)
    ordered = np.sort(np.stack(planes), axis=0)
    for position in {(size - 1) // 2, size // 2}:
        assert np.array_equal(middle[position], ordered[position])


def test_sortable_keys_keep_the_float_order() -> None:
    values = np.array([[3.5, -0.0, np.nan, -2.0, 0.0, -1e-300, np.inf, -np.inf]])
    order = np.argsort(_backfill._sortable(values), axis=1)
    assert np.array_equal(values[0, order[0]], np.sort(values[0]), equal_nan=True)


def _random_series(rng: np.random.Generator, days: int) -> np.ndarray:
    series = np.round(rng.normal(size=(6, days)), 2)  # rounded: many ties
    series[1, rng.random(days) < 0.2] = np.nan  # gaps
    series[2, 40:] = 0.25  # constant: MAD 0
    series[3, : days // 2] = np.nan  # windows with few or no values
    return series


@pytest.mark.parametrize("width", [4, 7, 28, 91])
def test_sorted_windows_give_the_nan_median_and_mad(width: int) -> None:
    rng = np.random.default_rng(width)
    series = _random_series(rng, 200)
    rows = np.concatenate([np.arange(width, 150), [160, 171, 199]])
    windows = _backfill._SortedWindows(_backfill._RankedDays.of(series), rows, width)
    median = windows.median()
    mad = windows.mad(median)
    for i, row in enumerate(rows):
        past = series[:, row - width : row].T
        expected = _metrics.nanmedian_columns(past)
        spread = _metrics.nanmedian_columns(np.abs(past - expected))
        assert_allclose(median[i], expected, rtol=0, atol=0)
        assert_allclose(mad[i], spread, rtol=0, atol=0)


def _daily_frame(rng: np.random.Generator, days: int) -> np.ndarray:
    kpi = rng.normal(size=days)
    columns = [
        kpi * 0.5 + rng.normal(size=days),  # linked
        rng.normal(size=days),  # noise
        1e6 + np.arange(days) * 1e3 + rng.normal(size=days),  # far from its mean
        np.full(days, 2.5),  # constant
        np.where(rng.random(days) < 0.1, np.nan, rng.normal(size=days)),  # gaps
    ]
    return np.column_stack([kpi, *columns])


@pytest.mark.parametrize("gaps", [False, True])
def test_window_pearson_matches_pearson_columns(gaps: bool) -> None:
    rng = np.random.default_rng(3)
    delta = _daily_frame(rng, 400)
    if gaps:
        delta[50, 0] = np.nan  # a missing KPI day: the masked path
    else:
        delta[:, 5] = rng.normal(size=400)
    rows = np.concatenate([np.arange(100, 330), [340, 399]])
    daily = np.arange(91, 0, -1)
    r, count = _backfill._window_pearson(delta, rows, daily, min_count=4)
    weekly = _backfill._lag_pearson(delta, rows, range(7, 84, 7), 3)
    for i, row in enumerate(rows):
        span = delta[row - daily]
        expected, pairs = _metrics.pearson_columns(span[:, 0], span[:, 1:], min_count=4)
        assert_allclose(r[i], expected, rtol=1e-12, atol=1e-13)
        assert np.array_equal(count[i], pairs)
        lags = delta[row - np.arange(7, 84, 7)]
        same, _ = _metrics.pearson_columns(lags[:, 0], lags[:, 1:], min_count=3)
        assert_allclose(weekly[i], same, rtol=0, atol=0)


def test_text_columns_are_what_pandas_makes_of_the_strings() -> None:
    labels = ["m001", "coin_in", "ü"]
    codes = np.array([2, 0, 0, 1, 2])
    made = pd.Series(_backfill._text(labels, codes))
    pd.testing.assert_series_equal(made, pd.Series([labels[c] for c in codes]))


@pytest.mark.parametrize("weeks", [4, 8])
def test_even_windows_and_scattered_dates_match(
    daily: pd.DataFrame, weeks: int
) -> None:
    # 7W daily moves: an even count, so medians and MADs average two values.
    days = ["2024-03-01", "2024-03-02", "2024-04-17", "2024-05-20", "2024-06-12"]
    ranked = backfill_rank_metrics(
        daily, metric_col="coin_in", date_col="day", dates=days, history_weeks=weeks
    )
    changes = backfill_assess_change(
        daily, metric_col="coin_in", date_col="day", dates=days, history_weeks=weeks
    )
    for day in days:
        single = analytics.rank_metrics(
            daily,
            metric_col="coin_in",
            date_col="day",
            date_target=day,
            history_weeks=weeks,
        )
        _assert_same_table(ranked.result_for(day).table, single.table)
        judged = analytics.assess_change(
            daily,
            metric_col="coin_in",
            date_col="day",
            date_target=day,
            history_weeks=weeks,
        )
        _assert_same_table(changes.result_for(day).table, judged.table)
