"""assess_change: is the change from B to D unusual against the casino's own history?

METHOD.md section 2. For the KPI and every other numeric metric, today's delta
x(D) - x(B) is compared with the deltas of the same lag in history,
d_k = x(D - 7k) - x(B - 7k) for k = 1 .. W-1 (those present):

    robust_z = 0.6745 * (delta - median(d)) / MAD(d),  MAD = median(|d - median(d)|)

When MAD is 0 (more than half the d equal), the scale falls back to the mean
absolute deviation around the median times 1.2533 (sqrt(pi / 2), which makes it
estimate a normal standard deviation): robust_z = (delta - median(d)) /
(1.2533 * mean|d - median(d)|). When that is 0 too, every d is equal and the z is
undefined; the row says so in ``reason``. ``docs/method-metrics.md`` has the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics._frames import DateWindow
from analytics._metrics import (
    json_ready,
    load_wide_table,
    nanmedian_columns,
    require_kpi_values,
    table_records,
)
from analytics.errors import ParameterError

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAD_CONSISTENCY",
    "MEAN_ABS_DEV_CONSISTENCY",
    "MIN_DELTAS",
    "AssessChangeResult",
    "assess_change",
]

DEFAULT_THRESHOLD = 3.5
MAD_CONSISTENCY = 0.6745
MEAN_ABS_DEV_CONSISTENCY = 1.2533
MIN_DELTAS = 3

ASSESS_COLUMNS = (
    "metric",
    "is_kpi",
    "value_base",
    "value_target",
    "delta",
    "pct_change",
    "n_hist",
    "median_hist",
    "mad_hist",
    "scale_kind",
    "robust_z",
    "percentile",
    "significant",
    "direction",
    "target_is_holiday",
    "base_is_holiday",
    "reason",
)


@dataclass(frozen=True)
class AssessChangeResult:
    """How unusual the change of the KPI and of every metric is.

    Attributes
    ----------
    table : pandas.DataFrame
        The KPI first, then every other numeric metric; columns
        :data:`ASSESS_COLUMNS`. ``percentile`` is 100 x the share of historical
        |d| that are <= |delta|; ``scale_kind`` is ``"mad"``,
        ``"mean_abs_dev"`` or ``"none"``; ``reason`` is empty unless robust_z
        is undefined; ``target_is_holiday`` and ``base_is_holiday`` repeat the
        calendar flags on every row, for readers of the table alone.
    kpi : dict
        The KPI's row of ``table``.
    parameters : dict
        The parameters as used.
    dates : DateWindow
        D, B and the history window H.
    notes : tuple of str
        Plain-language remarks (holidays, an undefined KPI z, ...).
    skipped : dict
        {column: reason} for the non-numeric columns left out.
    holiday_target, holiday_base : bool
        Whether D, B is in the holiday calendar passed in.
    """

    table: pd.DataFrame
    kpi: dict[str, Any]
    parameters: dict[str, Any]
    dates: DateWindow
    notes: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    holiday_target: bool = False
    holiday_base: bool = False

    @property
    def significant(self) -> bool:
        """Whether the KPI's change is significant."""
        return bool(self.kpi["significant"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN as None, dates as ISO strings)."""
        return {
            "module": "assess_change",
            "parameters": json_ready(self.parameters),
            "dates": self.dates.as_dict(),
            "kpi": json_ready(self.kpi),
            "rows": table_records(self.table),
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
            "holiday_target": self.holiday_target,
            "holiday_base": self.holiday_base,
        }


def _check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(
        threshold, int | float | np.integer | np.floating
    ):
        raise ParameterError(f"threshold must be a positive number, got {threshold!r}")
    value = float(threshold)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(
            f"threshold must be a positive finite number, got {threshold!r}"
        )
    return value


def _holiday_values(holidays: object, date_col: str) -> Iterable[Any]:
    if isinstance(holidays, pd.DataFrame):
        for name in (date_col, "date"):
            if name in holidays.columns:
                return holidays[name].tolist()
        if holidays.shape[1] == 1:
            return holidays.iloc[:, 0].tolist()
        raise ParameterError(
            f"holidays has no {date_col!r} or 'date' column; columns: "
            f"{', '.join(map(str, holidays.columns))}"
        )
    if isinstance(holidays, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(holidays) or holidays.empty:
            return holidays.tolist()
        if isinstance(holidays.index, pd.DatetimeIndex):
            return holidays.index.tolist()
        return holidays.tolist()
    if isinstance(holidays, str | bytes) or not isinstance(holidays, Iterable):
        raise ParameterError(
            f"holidays must be an iterable of dates, a Series or a DataFrame, "
            f"got {holidays!r}"
        )
    return list(holidays)


def holiday_dates(holidays: object, *, date_col: str = "date") -> pd.DatetimeIndex:
    """Parse a holiday calendar into normalised dates.

    Accepts None, an iterable of date-likes, a Series of dates (or indexed by date)
    or a DataFrame with a ``date_col`` or ``date`` column (or a single column).
    """
    if holidays is None:
        return pd.DatetimeIndex([])
    values = list(_holiday_values(holidays, date_col))
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(values, format="mixed"))
    except (ValueError, TypeError) as err:
        raise ParameterError(
            f"holidays holds a value that is not a date: {err}"
        ) from err
    if parsed.isna().any():
        raise ParameterError("holidays holds an empty value (NaT)")
    if parsed.tz is not None:
        parsed = parsed.tz_convert(None)
    return parsed.normalize()


def _lag_days(window: DateWindow, history_weeks: int) -> np.ndarray:
    """D, B, then D - 7k for k = 1 .. W-1, then B - 7k for the same k."""
    target = np.datetime64(window.target.date(), "D")
    base = np.datetime64(window.base.date(), "D")
    lags = 7 * np.arange(1, history_weeks)
    return np.concatenate([[target, base], target - lags, base - lags])


def _robust_z(
    delta: np.ndarray, deltas: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """robust_z with its MAD and mean-absolute-deviation fallback, column-wise."""
    count = np.isfinite(deltas).sum(axis=0)
    median = nanmedian_columns(deltas)
    spread = np.abs(deltas - median)
    mad = nanmedian_columns(spread)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = np.where(np.isfinite(spread), spread, 0.0).sum(axis=0) / count
        by_mad = MAD_CONSISTENCY * (delta - median) / mad
        by_mean = (delta - median) / (MEAN_ABS_DEV_CONSISTENCY * mean_abs)
        below = np.abs(np.where(np.isfinite(deltas), deltas, np.inf)) <= np.abs(delta)
        percentile = 100.0 * below.sum(axis=0) / count

    kind = np.where(mad > 0, "mad", np.where(mean_abs > 0, "mean_abs_dev", "none"))
    z = np.where(mad > 0, by_mad, np.where(mean_abs > 0, by_mean, np.nan))
    reason = np.full(delta.shape, "", dtype=object)
    reason[kind == "none"] = (
        "every historical delta is equal (MAD and mean absolute deviation are 0)"
    )
    reason[count < MIN_DELTAS] = f"fewer than {MIN_DELTAS} historical deltas"
    reason[np.isnan(delta)] = "no value at the target or base date"
    undefined = reason != ""
    z = np.where(undefined, np.nan, z)
    kind = np.where(undefined, "none", kind)
    percentile = np.where(np.isnan(delta) | (count == 0), np.nan, percentile)
    stats = {
        "n_hist": count,
        "median_hist": median,
        "mad_hist": mad,
        "scale_kind": kind.astype(object),
        "robust_z": z,
        "percentile": percentile,
    }
    return stats, reason


def assess_change(
    data: pd.DataFrame,
    *,
    metric_col: str,
    date_target: object,
    date_base: object = None,
    date_col: str = "date",
    metrics: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    history_weeks: int = 13,
    holidays: object = None,
) -> AssessChangeResult:
    """Judge whether the change of the KPI (and of each metric) from B to D is unusual.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide daily table: one row per date, one numeric column per metric.
    metric_col : str
        The KPI column; its row comes first in the result.
    date_target, date_base : date-like
        D and B (default D - 7 days).
    date_col : str
        The date column.
    metrics : sequence of str, optional
        The other metrics to judge; default every numeric column.
    threshold : float
        A change is significant when |robust_z| >= threshold. Default 3.5.
    history_weeks : int
        W: history deltas use the lags k = 1 .. W-1.
    holidays : iterable of date-like, Series or DataFrame, optional
        A holiday calendar; the result flags D and B when they are in it.

    Returns
    -------
    AssessChangeResult

    Raises
    ------
    InputError
        Bad columns, dates, history or parameters (subclasses name which).

    Examples
    --------
    >>> import pandas as pd
    >>> days = pd.date_range("2024-01-01", periods=6, freq="7D")
    >>> frame = pd.DataFrame({"date": days, "coin_in": [10, 12, 11, 13, 12, 30]})
    >>> result = assess_change(frame, metric_col="coin_in", date_target="2024-02-05")
    >>> round(result.kpi["robust_z"], 2), result.significant
    (7.87, True)
    """
    limit = _check_threshold(threshold)
    calendar = holiday_dates(holidays, date_col=date_col)
    table = load_wide_table(
        data,
        metric_col=metric_col,
        date_target=date_target,
        date_base=date_base,
        date_col=date_col,
        metrics=metrics,
        history_weeks=history_weeks,
    )
    window = table.window
    values = table.values_at(_lag_days(window, history_weeks))
    require_kpi_values(values, window, metric_col)

    lags = history_weeks - 1
    delta = values[0] - values[1]
    deltas = values[2 : 2 + lags] - values[2 + lags :]
    stats, reason = _robust_z(delta, deltas)
    z = stats["robust_z"]
    with np.errstate(invalid="ignore", divide="ignore"):
        pct_change = np.where(values[1] == 0, np.nan, delta / np.abs(values[1]))
    holiday_target = window.target in calendar
    holiday_base = window.base in calendar
    columns: dict[str, Any] = {
        "metric": np.array(table.names, dtype=object),
        "is_kpi": np.arange(len(table.names)) == 0,
        "value_base": values[1],
        "value_target": values[0],
        "delta": delta,
        "pct_change": pct_change,
        **stats,
        "significant": np.abs(np.nan_to_num(z, nan=0.0)) >= limit,
        "direction": np.where(delta > 0, "up", np.where(delta < 0, "down", "flat")),
        "target_is_holiday": np.full(delta.shape, holiday_target),
        "base_is_holiday": np.full(delta.shape, holiday_base),
        "reason": reason,
    }
    frame = pd.DataFrame({name: columns[name] for name in ASSESS_COLUMNS})
    return AssessChangeResult(
        table=frame,
        kpi=json_ready(frame.iloc[0].to_dict()),
        parameters={
            "metric_col": metric_col,
            "date_col": date_col,
            "threshold": limit,
            "history_weeks": history_weeks,
            "metrics": list(table.metrics) if metrics is not None else None,
            "holidays": [d.date().isoformat() for d in calendar],
        },
        dates=window,
        notes=_notes(metric_col, window, reason[0], holiday_target, holiday_base),
        skipped=dict(table.ignored),
        holiday_target=holiday_target,
        holiday_base=holiday_base,
    )


def _notes(
    metric_col: str,
    window: DateWindow,
    kpi_reason: str,
    holiday_target: bool,
    holiday_base: bool,
) -> tuple[str, ...]:
    notes = []
    if kpi_reason:
        notes.append(f"the KPI {metric_col!r} has no robust_z: {kpi_reason}")
    if holiday_target:
        notes.append(
            f"the target date {window.target.date().isoformat()} is a holiday: "
            "a holiday moves volume by itself"
        )
    if holiday_base:
        notes.append(
            f"the base date {window.base.date().isoformat()} is a holiday: a "
            "holiday in the base week explains many changes"
        )
    return tuple(notes)
