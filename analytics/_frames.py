"""Input validation and date arithmetic shared by the analytics modules.

Each public analytics function validates its input once, through the helpers here,
and then works on a clean frame: dates normalised to midnight, one row per date
(or per date and segment), numeric measures as float64.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import (
    ColumnError,
    DateError,
    DuplicateKeyError,
    InputError,
    InsufficientHistoryError,
    ParameterError,
)

__all__ = [
    "MIN_HISTORY_DATES",
    "WEEK",
    "DateWindow",
    "check_columns",
    "parse_date",
    "prepare_daily_frame",
    "resolve_window",
]

WEEK = pd.Timedelta(days=7)
MIN_HISTORY_DATES = 4


@dataclass(frozen=True)
class DateWindow:
    """The dates one explanation compares.

    Attributes
    ----------
    target : pandas.Timestamp
        D, the day being explained.
    base : pandas.Timestamp
        B, the day D is compared with (D - 7 days by default).
    history : tuple of pandas.Timestamp
        H, the same-weekday dates D-7, D-14, ..., D-7W present in the data, newest
        first. D is never in H.
    """

    target: pd.Timestamp
    base: pd.Timestamp
    history: tuple[pd.Timestamp, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the dates as ISO strings, ready for JSON."""
        return {
            "date_target": self.target.date().isoformat(),
            "date_base": self.base.date().isoformat(),
            "history_dates": [d.date().isoformat() for d in self.history],
        }


def parse_date(value: object, *, name: str) -> pd.Timestamp:
    """Parse one date parameter, naming the parameter when it cannot be parsed."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DateError(f"{name} is required, got {value!r}")
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as err:
        raise DateError(
            f"{name}={value!r} is not a date; use ISO format such as '2019-07-17'"
        ) from err
    if pd.isna(stamp):
        raise DateError(f"{name}={value!r} is not a date")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(None)
    clock = (stamp.hour, stamp.minute, stamp.second, stamp.microsecond)
    if not any(clock) and not stamp.nanosecond:
        return stamp  # already midnight: normalize would only copy it
    return stamp.normalize()


def check_columns(frame: pd.DataFrame, columns: Iterable[str], *, role: str) -> None:
    """Raise ColumnError naming every column of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        available = ", ".join(map(str, list(frame.columns)[:30]))
        raise ColumnError(
            f"{role} column(s) {', '.join(map(repr, missing))} not in the data; "
            f"available columns: {available}"
        )


def _as_dates(column: pd.Series, *, date_col: str) -> pd.Series:
    if column.isna().any():
        empty = int(column.isna().sum())
        raise DateError(f"date column {date_col!r} has {empty} empty value(s)")
    try:
        if pd.api.types.is_datetime64_any_dtype(column):
            dates = column
        else:
            dates = pd.to_datetime(column, format="mixed")
    except (ValueError, TypeError) as err:
        raise DateError(
            f"date column {date_col!r} holds values that are not dates: {err}"
        ) from err
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_convert(None)
    normalized: pd.Series = dates.dt.normalize().astype("datetime64[ns]")
    return normalized


def _as_numeric(frame: pd.DataFrame, column: str, *, role: str) -> pd.Series:
    values = frame[column]
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        sample = values.dropna().head(3).tolist()
        raise ColumnError(
            f"{role} column {column!r} must be numeric, got dtype {values.dtype} "
            f"(sample values {sample!r})"
        )
    numeric = values.astype("float64")
    if np.isinf(numeric.to_numpy()).any():
        raise ColumnError(f"{role} column {column!r} holds infinite values")
    return numeric


def prepare_daily_frame(
    frame: pd.DataFrame,
    *,
    date_col: str,
    numeric_cols: Sequence[str],
    key_cols: Sequence[str] = (),
    role: str = "metric",
) -> pd.DataFrame:
    """Validate a daily table and return a clean copy.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per date (and per ``key_cols`` combination).
    date_col : str
        Name of the date column; values are parsed and normalised to midnight.
    numeric_cols : sequence of str
        Columns that must be numeric; returned as float64. NaN is kept (a missing
        reading), infinities are an error.
    key_cols : sequence of str
        Further key columns (segment dimensions); returned as strings.
    role : str
        How the numeric columns are named in error messages.

    Returns
    -------
    pandas.DataFrame
        Columns ``date_col``, ``key_cols`` and ``numeric_cols`` only, sorted by key.

    Raises
    ------
    InputError
        Empty frame, missing or non-numeric columns, unparseable dates, duplicate keys.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise InputError("the data is empty: no rows to explain")
    check_columns(frame, [date_col], role="date")
    check_columns(frame, key_cols, role="dimension")
    check_columns(frame, numeric_cols, role=role)

    # Built as one dict so that a wide table of a hundred metrics becomes one
    # consolidated frame instead of a hundred inserted columns.
    columns: dict[str, pd.Series] = {
        date_col: _as_dates(frame[date_col], date_col=date_col)
    }
    for key in key_cols:
        columns[key] = frame[key].astype("string").fillna("(missing)").astype(object)
    for column in numeric_cols:
        columns[column] = _as_numeric(frame, column, role=role)
    clean = pd.DataFrame(columns)

    keys = [date_col, *key_cols]
    duplicated = clean.duplicated(subset=keys, keep=False)
    if duplicated.any():
        first = clean.loc[duplicated, keys].iloc[0].tolist()
        what = "date" if not key_cols else "date and segment"
        raise DuplicateKeyError(
            f"{int(duplicated.sum())} rows share a {what} (first: {first!r}); "
            "aggregate the data to one row per key before explaining it"
        )
    return clean.sort_values(keys, ignore_index=True)


def _instants(dates: pd.DatetimeIndex | pd.Series | np.ndarray) -> np.ndarray:
    """The distinct non-missing dates, sorted, as NumPy datetime64.

    NumPy, not pandas: membership tests on an index of Timestamps cost more than
    the rest of a call. An array of ``datetime64[D]`` (a wide table's validated
    dates) stays in days, which saves a conversion; anything else becomes
    ``datetime64[ns]``, so that times of day are kept and compared exactly.
    """
    if isinstance(dates, np.ndarray) and dates.dtype == np.dtype("datetime64[D]"):
        values: np.ndarray = dates
    elif isinstance(dates, np.ndarray) and dates.dtype.kind == "M":
        values = dates.astype("datetime64[ns]")
    else:
        values = pd.DatetimeIndex(dates).as_unit("ns").to_numpy()
    missing = np.isnat(values)
    if missing.any():
        values = values[~missing]
    if values.size > 1 and bool((values[1:] > values[:-1]).all()):
        return values
    distinct: np.ndarray = np.unique(values)
    return distinct


def _found(present: np.ndarray, days: np.ndarray) -> list[bool]:
    """Whether each of ``days`` is in the sorted datetime64 array ``present``."""
    if not present.size:
        return [False] * len(days)
    wanted = days.astype(present.dtype)
    at = np.minimum(np.searchsorted(present, wanted), present.size - 1)
    found: list[bool] = (present[at] == wanted).tolist()
    return found


def _check_weeks(history_weeks: object) -> int:
    """``history_weeks`` as an int; ParameterError unless a positive whole number."""
    if isinstance(history_weeks, bool) or not isinstance(
        history_weeks, int | np.integer
    ):
        raise ParameterError(
            f"history_weeks must be a whole number, got {history_weeks!r}"
        )
    if history_weeks < 1:
        raise ParameterError(f"history_weeks must be at least 1, got {history_weeks!r}")
    return int(history_weeks)


def resolve_window(
    dates: pd.DatetimeIndex | pd.Series | np.ndarray,
    *,
    date_target: object,
    date_base: object = None,
    history_weeks: int = 13,
    min_history: int = MIN_HISTORY_DATES,
) -> DateWindow:
    """Work out D, B and the history window H from the dates present in the data.

    Raises
    ------
    DateError
        D or B unparseable or absent from the data, or B not before D.
    InsufficientHistoryError
        Fewer than ``min_history`` same-weekday dates before D.
    ParameterError
        ``history_weeks`` is not a positive whole number.
    """
    weeks = _check_weeks(history_weeks)
    present = _instants(dates)
    target = parse_date(date_target, name="date_target")
    if date_base is None:
        base = target - WEEK
    else:
        base = parse_date(date_base, name="date_base")

    if base >= target:
        raise DateError(
            f"date_base={base.date().isoformat()!r} must be before "
            f"date_target={target.date().isoformat()!r}"
        )
    # D, B and D-7, ..., D-7W are looked up in one search, in NumPy: searching
    # and building Timestamps one by one cost more than the rest of a call.
    # The history dates keep the unit of D - 7 days, as Timestamp sums would.
    week_back = (base if date_base is None else target - WEEK).to_datetime64()
    steps = np.arange(weeks) * np.timedelta64(7, "D")
    history_days = week_back - steps
    wanted = np.concatenate(
        [[target.to_datetime64(), base.to_datetime64()], history_days]
    )
    found = _found(present, wanted)
    for name, day, here in (
        ("date_target", target, found[0]),
        ("date_base", base, found[1]),
    ):
        if not here:
            first, last = (str(present[i].astype("datetime64[D]")) for i in (0, -1))
            raise DateError(
                f"{name}={day.date().isoformat()!r} is not in the data "
                f"(dates run from {first} to {last})"
            )

    history = tuple(map(pd.Timestamp, history_days[found[2:]]))
    if len(history) < min_history:
        raise InsufficientHistoryError(
            f"only {len(history)} same-weekday date(s) before "
            f"{target.date().isoformat()} in the last {history_weeks} weeks; "
            f"at least {min_history} are needed to judge a change"
        )
    return DateWindow(target=target, base=base, history=history)
