"""Every date of a casino in one vectorized pass: rank_metrics and assess_change.

The bulk path (a backfill of two years) explains hundreds of dates of one casino
from one extract. Calling :func:`analytics.rank_metrics` and
:func:`analytics.assess_change` once per date validates the frame, resolves the
window and builds result frames hundreds of times. The functions here validate the
frame once, lay it on a dense day grid and compute the same formulas for all the
dates at once, (dates, metrics) arrays throughout:

- sums over the weekly lags (history, assess deltas, corr_hist) add whole lag
  planes, views of the grid, in the single-date order: the same floats;
- the medians and MADs of the linkranks moves (7W days a window) come from each
  window's sorted int32 ranks, the MAD by bisection: the same floats;
- the assess medians of short full windows go through a sorting network;
- the daily Pearson link sums are band-matrix products, in another order: they
  agree to about 1e-15 relative, and windows that would lose digits are summed
  again the single-date way;
- text columns are codes until the one frame is built.

Tests hold the bulk tables to rtol 1e-12 and the rank order to exact equality.

Dates the vectorized pass does not handle are handed to the single-date function,
which then raises (a missing day, too little history, an infinite value) or warns
(a KPI that did not move or was constant) exactly as it would on its own: the
exception is kept in ``failures``, a result is merged into the tables. Only the
default base date B = D - 7 is supported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from analytics._frames import (
    MIN_HISTORY_DATES,
    DateWindow,
    _as_numeric,
    _check_weeks,
    parse_date,
)
from analytics._metrics import (
    CORR_MIN_DELTAS,
    DEFAULT_METHOD,
    IDENTITIES,
    IDENTITY_TOLERANCE,
    LINK_MIN_DELTAS,
    LINK_T_FULL,
    LINK_T_START,
    MAD_TO_SD,
    RANKED_COLUMNS,
    SCALED_BY_KPI,
    RankMetricsResult,
    _candidates,
    _check_dates,
    _check_frame,
    _check_method,
    _is_numeric,
    json_ready,
    rank_metrics,
)
from analytics._significance import (
    ASSESS_COLUMNS,
    DEFAULT_THRESHOLD,
    MAD_CONSISTENCY,
    MEAN_ABS_DEV_CONSISTENCY,
    MIN_DELTAS,
    AssessChangeResult,
    _check_threshold,
    _notes,
    assess_change,
    holiday_dates,
)
from analytics.errors import ColumnError, InputError, ParameterError

__all__ = [
    "BackfillAssessChange",
    "BackfillRankMetrics",
    "backfill_assess_change",
    "backfill_rank_metrics",
]

# Dates per vectorized block: bounds the (dates x 13 weeks x metrics) temporaries
# to about ten MB for 100 metrics, whatever the length of the range; two years of
# dates are one block.
BLOCK_DATES = 1024
_V = TypeVar("_V")
_Columns = dict[str, np.ndarray]
_TIE_DIGITS = 9
# Text columns are built from small integer codes into these labels: a Python
# string per table row cost more than the arithmetic of the row.
_DIRECTIONS = ("flat", "up", "down")
_SOURCES = ("none", "history", "identity")
_SKIP_REASONS = (
    "",
    "constant over the history window (sd 0)",
    "fewer than 2 values in the history window",
    "no value at the base date",
    "no value at the target date",
    "no value at the target and base date",
)


@dataclass(frozen=True)
class _Grid:
    """The wide table on a dense day grid, padded in front for the longest window.

    Row ``pad + i`` holds day ``first + i``; absent days and the padding are NaN.
    """

    values: np.ndarray
    present: np.ndarray
    infinite: np.ndarray
    first: np.datetime64
    pad: int
    names: tuple[str, ...]
    metrics: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]

    def position(self, day: np.datetime64) -> int:
        """Grid row of ``day`` (may fall outside the grid)."""
        return self.pad + int((day - self.first).astype("int64"))

    def day(self, row: int) -> pd.Timestamp:
        """The day of grid row ``row``."""
        return pd.Timestamp(self.first + np.timedelta64(row - self.pad, "D"))

    def numbers(self, rows: np.ndarray) -> np.ndarray:
        """Day numbers (days since 1970-01-01) of grid rows."""
        offset: np.ndarray = rows - self.pad + int(self.first.astype("int64"))
        return offset

    def window(self, number: int, history_weeks: int) -> DateWindow:
        """The DateWindow of the day with day number ``number`` (B = D - 7)."""
        row = number - int(self.first.astype("int64")) + self.pad
        return _window_of(self, row, history_weeks)


class DayMap(Mapping[pd.Timestamp, _V]):
    """A read-only {date: value} mapping stored as day numbers, built lazily.

    The bulk path explains hundreds of dates; a Timestamp key and a value object
    per date would cost more than the arithmetic. Keys are looked up by any
    date-like; values come from a list or are made on demand by ``make``.
    """

    def __init__(
        self,
        days: Sequence[int],
        values: Sequence[_V] | None = None,
        *,
        make: Callable[[int], _V] | None = None,
    ) -> None:
        self._days = np.asarray(days, dtype="int64")
        self._index = {int(d): i for i, d in enumerate(self._days)}
        self._values = values
        self._make = make

    def __getitem__(self, key: object) -> _V:
        try:
            number = _day_number(parse_date(key, name="date"))
        except InputError as err:
            raise KeyError(key) from err
        if number not in self._index:
            raise KeyError(key)
        if self._values is not None:
            return self._values[self._index[number]]
        if self._make is None:
            raise KeyError(key)
        return self._make(number)

    def __contains__(self, key: object) -> bool:
        # Membership must not make the value (a window is built on demand).
        try:
            return _day_number(parse_date(key, name="date")) in self._index
        except InputError:
            return False

    def __iter__(self) -> Iterator[pd.Timestamp]:
        return (pd.Timestamp(d) for d in self._days.astype("datetime64[D]"))

    def __len__(self) -> int:
        return len(self._days)


def _day_number(day: pd.Timestamp) -> int:
    return int(np.datetime64(day.date(), "D").astype("int64"))


def _validated_grid(
    data: pd.DataFrame,
    *,
    metric_col: str,
    date_col: str,
    metrics: Sequence[str] | None,
    history_weeks: int,
) -> _Grid:
    """Validate like :func:`analytics._metrics.load_wide_table`, minus the window."""
    _check_frame(data, date_col=date_col, metric_col=metric_col)
    dtypes = dict(
        zip(map(str, data.columns.tolist()), data.dtypes.tolist(), strict=True)
    )
    if not _is_numeric(dtypes[metric_col]):
        _as_numeric(data, metric_col, role="KPI")
    chosen, ignored = _candidates(
        data, date_col=date_col, metric_col=metric_col, metrics=metrics, dtypes=dtypes
    )
    _check_weeks(history_weeks)
    days = _check_dates(data, date_col, dtypes[date_col])

    first, last = days.min(), days.max()
    pad = 7 * (history_weeks + 2)
    size = pad + int((last - first).astype("int64")) + 1
    rows = pad + (days - first).astype("int64")
    names = (metric_col, *chosen)
    values = np.full((size, len(names)), np.nan)
    values[rows] = data.loc[:, list(names)].to_numpy(dtype="float64", na_value=np.nan)
    present = np.zeros(size, dtype=bool)
    present[rows] = True
    return _Grid(
        values=values,
        present=present,
        infinite=np.isinf(values).any(axis=1),
        first=first,
        pad=pad,
        names=names,
        metrics=chosen,
        ignored=ignored,
    )


def _wanted_days(grid: _Grid, dates: Iterable[object] | None) -> np.ndarray:
    """The distinct target days, sorted, as datetime64[D]."""
    if dates is None:
        every: np.ndarray = grid.numbers(np.flatnonzero(grid.present))
        return every.astype("datetime64[D]")
    if isinstance(dates, str | bytes):
        raise ParameterError(f"dates must be a list of dates, got {dates!r}")
    if isinstance(dates, pd.DatetimeIndex | np.ndarray):
        raw = np.asarray(dates)
        if raw.dtype.kind == "M" and not np.isnat(raw).any():
            # Tz-naive dates already: no need to parse them one by one.
            fast: np.ndarray = np.unique(raw.astype("datetime64[D]"))
            return fast
    days = {parse_date(d, name="dates") for d in dates}
    return np.array(sorted(np.datetime64(d.date(), "D") for d in days), dtype="M8[D]")


def _history_count(grid: _Grid, rows: np.ndarray, history_weeks: int) -> np.ndarray:
    lags = 7 * np.arange(1, history_weeks + 1)
    counts: np.ndarray = grid.present[rows[:, None] - lags[None, :]].sum(axis=1)
    return counts


def _window_has_infinite(grid: _Grid, rows: np.ndarray, offsets: np.ndarray) -> Any:
    return grid.infinite[rows[:, None] - offsets[None, :]].any(axis=1)


def _split_rows(
    grid: _Grid,
    stamps: np.ndarray,
    history_weeks: int,
    offsets: np.ndarray,
) -> tuple[np.ndarray, list[pd.Timestamp]]:
    """Grid rows the vectorized pass can take, and the days it hands over.

    A day is handed to the single-date function when that function would raise
    for it: not in the data (or its base), too little history, an infinite value
    in the days it reads, the KPI missing at D or B.
    """
    rows = grid.pad + (stamps - grid.first).astype("int64")
    inside = (rows >= grid.pad) & (rows < len(grid.present))
    safe = np.where(inside, rows, grid.pad)
    ok = inside & grid.present[safe] & grid.present[safe - 7]
    ok &= _history_count(grid, safe, history_weeks) >= MIN_HISTORY_DATES
    ok &= ~_window_has_infinite(grid, safe, offsets)
    kpi = grid.values[:, 0]
    ok &= np.isfinite(kpi[safe]) & np.isfinite(kpi[safe - 7])
    handed = [pd.Timestamp(d) for d in stamps[~ok]]
    return rows[ok], handed


def _lagged(values: np.ndarray, rows: np.ndarray, lags: Iterable[int]) -> list[Any]:
    """values[rows - lag] for each lag, as (rows, columns) planes.

    Views of ``values`` when the rows are consecutive (the usual backfill), else
    gathered. Summing plane by plane adds in the lags' order, as the single-date
    code sums its (lags, columns) block down axis 0, without materializing a
    (lags x dates x columns) array.
    """
    if _consecutive(rows):
        return [values[rows[0] - lag : rows[-1] - lag + 1] for lag in lags]
    return [values[rows - lag] for lag in lags]


def _consecutive(rows: np.ndarray) -> bool:
    """Whether the (sorted, distinct) rows are one run of consecutive days."""
    return bool(len(rows)) and int(rows[-1] - rows[0]) == len(rows) - 1


@dataclass(frozen=True)
class _RankedDays:
    """Daily series ranked once per column, so that a window's order statistics
    are read through its sorted ranks.

    Sorting every (date, column) window of 7W daily values is the bulk of
    linkranks; sorting small integer ranks instead of the floats is 2-3x faster,
    and the window of a date is a slice of the ranks, not a gather of values.
    """

    ranks: np.ndarray  # (columns, days): rank of each day's value (NaN last)
    ordered: np.ndarray  # (columns, days): the values in rank order
    finite_before: np.ndarray  # (columns, days + 1): finite values before a day

    @classmethod
    def of(cls, series_t: np.ndarray) -> _RankedDays:
        """Rank ``series_t`` (columns, days); non-finite values count as missing,
        as in nanmedian_columns."""
        series_t = np.where(np.isfinite(series_t), series_t, np.nan)
        columns, days = series_t.shape
        # Equal values may rank either way round: order statistics do not care.
        order = np.argsort(_sortable(series_t), axis=1)
        # Each rank offset by its column's start in the flattened ``ordered``, so
        # that a rank is the index of its value (the offsets do not change the
        # order within a column).
        dtype = np.int32 if columns * days < 2**31 else np.int64
        ranks = np.empty(order.shape, dtype=dtype)
        flat = np.arange(columns * days, dtype=dtype).reshape(columns, days)
        ranks[np.arange(columns)[:, None], order] = flat
        finite = np.cumsum(np.isfinite(series_t), axis=1)
        return cls(
            ranks=ranks,
            ordered=np.take_along_axis(series_t, order, axis=1),
            finite_before=np.pad(finite, ((0, 0), (1, 0))),
        )


def _sortable(values: np.ndarray) -> np.ndarray:
    """int64 keys in the order of the floats ``values`` (NaN, positive, last).

    numpy argsorts int64 several times faster than float64. A float's bits read
    as an integer sort right for positive floats; for negative ones the other
    bits are flipped to reverse their order.
    """
    bits = values.view(np.int64)
    keys: np.ndarray = np.where(bits < 0, bits ^ np.int64(2**63 - 1), bits)
    return keys


class _SortedWindows:
    """The windows ``days r - width .. r - 1`` of some rows, as sorted ranks.

    ``pick(j)`` is the value at sorted position ``j`` of each (row, column)
    window: the j-th smallest of its finite values for ``j < count``.
    """

    def __init__(self, ranked: _RankedDays, rows: np.ndarray, width: int) -> None:
        windows = np.lib.stride_tricks.sliding_window_view(ranked.ranks, width, axis=1)
        starts = rows - width
        if len(rows) and starts[-1] - starts[0] == len(rows) - 1:
            # Consecutive dates: a slice of the windows, copied once, window last.
            chosen = windows[:, starts[0] : starts[-1] + 1].transpose(1, 0, 2)
            self.sorted = np.ascontiguousarray(chosen)
        else:
            # Fancy indexing lays the copy out (rows, columns, width) already.
            self.sorted = windows[:, starts].transpose(1, 0, 2)
        # Contiguous rows of small integers: the vectorized sort is fast there.
        self.sorted.sort(axis=2)
        before = ranked.finite_before
        self.count = (before[:, rows] - before[:, starts]).T
        self._flat = self.sorted.reshape(-1)
        # Where each window starts in the flattened sorted ranks.
        self.cell = width * np.arange(self.count.size).reshape(self.count.shape)
        self._ordered = ranked.ordered.reshape(-1)

    def pick(self, j: np.ndarray) -> np.ndarray:
        """Values at sorted positions ``j`` (one per window)."""
        return self.pick_at(self.cell + j)

    def pick_at(self, flat: np.ndarray) -> np.ndarray:
        """Values at flat positions ``cell + j`` of the sorted ranks."""
        # The positions are in range by construction: "clip" skips the bounds
        # check of a plain take (a third of its time).
        ranks = np.take(self._flat, flat, mode="clip")
        picked: np.ndarray = np.take(self._ordered, ranks, mode="clip")
        return picked

    def median(self) -> np.ndarray:
        """nanmedian_columns of each window (NaN without a finite value)."""
        low, high = self.middle()
        first = self.pick(low)
        # Odd counts (the default 91 days): one middle value, one pick.
        second = first if np.array_equal(low, high) else self.pick(high)
        with np.errstate(invalid="ignore"):
            middle: np.ndarray = (first + second) / 2
        return middle

    def middle(self) -> tuple[np.ndarray, np.ndarray]:
        """The two middle sorted positions of the finite values of each window."""
        return np.maximum((self.count - 1) // 2, 0), self.count // 2

    def mad(self, median: np.ndarray) -> np.ndarray:
        """nanmedian_columns(abs(window - median)) of each window.

        The two middle absolute deviations, each found by bisection over the
        sorted window rather than by sorting the deviations (see
        :func:`_kth_deviation`).
        """
        low, high = self.middle()
        first = _kth_deviation(self, median, low)
        second = (
            first if np.array_equal(low, high) else _kth_deviation(self, median, high)
        )
        with np.errstate(invalid="ignore"):
            middle: np.ndarray = (first + second) / 2
        return middle


def _kth_deviation(
    windows: _SortedWindows, median: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """The k-th smallest (from 0) of abs(value - median) over each window.

    Sorted, the deviations fall then rise, so the k + 1 smallest are k + 1
    consecutive sorted values v[a] .. v[a + k], and the k-th smallest deviation is
    the least over a of max(m - v[a], v[a + k] - m). The first term falls with a
    and the second rises: bisect for the first a where the first is no larger.
    The result is one of the deviations, bit for bit: m - v equals abs(v - m).
    """
    last = np.maximum(windows.count - 1 - k, 0)
    # The first a in [0, last] that fits, or last + 1, as the number of a that do
    # not: by steps of falling powers of two, each kept when the last a it
    # covers does not fit either. A fixed number of rounds, no test for the end.
    start = np.zeros_like(last)
    cell, cell_k = windows.cell, windows.cell + k
    with np.errstate(invalid="ignore"):
        for power in reversed(range(int(last.max() + 1).bit_length())):
            step = 1 << power
            covered = start + (step - 1)
            a = np.minimum(covered, last)
            below = median - windows.pick_at(cell + a)
            misfit = below > windows.pick_at(cell_k + a) - median
            misfit &= covered <= last
            start += step * misfit
        right = windows.pick_at(cell_k + np.minimum(start, last)) - median
        left = median - windows.pick_at(cell + np.maximum(start - 1, 0))
    return np.minimum(
        np.where(start <= last, right, np.inf), np.where(start >= 1, left, np.inf)
    )


# Bytes of sorted window ranks per chunk of dates: two years of 50 metrics in one
# chunk (13 MB). Kept under glibc's largest mmap threshold (32 MB) on purpose: a
# freed chunk below it raises the threshold, so that the next casino's arrays
# reuse the freed memory instead of faulting fresh pages in (which cost a third
# of the run in chunks of 128 dates).
MOVE_BYTES = 24 * 2**20


def _sliding_move(
    ranked: _RankedDays, rows: np.ndarray, width: int, today: np.ndarray
) -> np.ndarray:
    """The linkranks move z of :mod:`analytics._metrics` for each row.

    ``ranked`` holds the past moves, ``today`` (rows, columns) the move to judge;
    the past of row r is days r - width .. r - 1.
    """
    median = np.empty(today.shape)
    mad = np.empty(today.shape)
    count = np.empty(today.shape, dtype=np.int64)
    chunk = max(1, MOVE_BYTES // (ranked.ranks.itemsize * today.shape[1] * width))
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        windows = _SortedWindows(ranked, rows[part], width)
        median[part] = windows.median()
        mad[part] = windows.mad(median[part])
        count[part] = windows.count
    scale = MAD_TO_SD * mad
    usable = (count >= LINK_MIN_DELTAS) & (scale > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(usable, (today - median) / scale, np.nan)


def _history_stats(history: list[Any]) -> tuple[np.ndarray, ...]:
    """_history_stats of :mod:`analytics._metrics` over lag planes (see
    :func:`_lagged`), with the same sums in the same order."""
    if all(np.isfinite(plane).all() for plane in history):
        # The masks of the general case change nothing: leave them out.
        count = np.full(history[0].shape, len(history))
        mean = _fold(np.add, history) / count
        squares = _fold(np.add, ((plane - mean) ** 2 for plane in history))
        high, low = _fold(np.maximum, history), _fold(np.minimum, history)
    else:
        pairs = [(np.isfinite(plane), plane) for plane in history]
        count = _fold(np.add, (f for f, _ in pairs), dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = _fold(np.add, (np.where(f, h, 0.0) for f, h in pairs)) / count
            squares = _fold(np.add, (np.where(f, h - mean, 0.0) ** 2 for f, h in pairs))
        high = _fold(np.maximum, (np.where(f, h, -np.inf) for f, h in pairs))
        low = _fold(np.minimum, (np.where(f, h, np.inf) for f, h in pairs))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(squares / (count - 1))
    sd = np.where(high == low, 0.0, sd)
    sd = np.where(count < 2, np.nan, sd)
    return mean, sd, count


def _fold(
    ufunc: np.ufunc, planes: Iterable[np.ndarray], dtype: Any = np.float64
) -> np.ndarray:
    """``ufunc`` over the planes, first to last, in place. For np.add that is
    the order of a sum down axis 0 of their stack."""
    it = iter(planes)
    out = np.array(next(it), dtype=dtype)
    for plane in it:
        ufunc(out, plane, out=out)
    return out


# OpenBLAS runs a matrix product of at most 65536 x 4 multiply-adds (m n k) on
# the calling thread. A larger one is split over threads, and then stalls for
# milliseconds whenever another process holds the other core (15 ms instead of
# 0.1 ms per product was measured here): the band products stay below it.
_BLAS_ONE_THREAD = 65536 * 4
# A centred second moment below 1/_CANCELLATION of the raw one it comes from has
# lost digits to cancellation: such cells are summed again the single-date way.
_CANCELLATION = 4.0


def _lag_pearson(
    delta: np.ndarray, rows: np.ndarray, lags: Iterable[int], min_count: int
) -> np.ndarray:
    """pearson_columns of delta[:, 1:] with delta[:, 0] over the days r - lag of
    each row r: the single-date code's operations in its order, over lag planes
    (see :func:`_lagged`). For a few lags (corr_hist's same-weekday deltas)."""
    planes = _lagged(delta, rows, lags)
    xs, ys = [p[:, 1:] for p in planes], [p[:, :1] for p in planes]
    valid: list[np.ndarray] | None = None
    count: Any = len(planes)
    if not all(np.isfinite(plane).all() for plane in planes):
        valid = [np.isfinite(x) & np.isfinite(y) for x, y in zip(xs, ys, strict=True)]
        xs = [np.where(v, x, 0.0) for x, v in zip(xs, valid, strict=True)]
        ys = [np.where(v, y, 0.0) for y, v in zip(ys, valid, strict=True)]
        count = _fold(np.add, valid, dtype=np.int64)
    # Without a missing pair the KPI's side is the same for every column: it is
    # worked out once, (dates, 1), as every column would.
    with np.errstate(invalid="ignore", divide="ignore"):
        dx, dy = _centred(xs, count, valid), _centred(ys, count, valid)
    sxx = _fold(np.add, (d * d for d in dx))
    syy = np.broadcast_to(_fold(np.add, (d * d for d in dy)), sxx.shape)
    sxy = _fold(np.add, (a * b for a, b in zip(dx, dy, strict=True)))
    r, _ = _pearson_r(sxx, syy, sxy, np.broadcast_to(count, sxx.shape), min_count)
    return r


def _centred(
    planes: list[np.ndarray], count: Any, valid: list[np.ndarray] | None
) -> list[np.ndarray]:
    """Each plane minus the mean over the planes, zero where a pair is missing."""
    mean = _fold(np.add, planes) / count
    if valid is None:
        return [p - mean for p in planes]
    return [np.where(v, p - mean, 0.0) for p, v in zip(planes, valid, strict=True)]


# Columns per band product: 50 metrics (3 x 50 + 2 sums) in one, 16 rows a band.
_BAND_COLUMNS = 152
# Rows whose window days are centred on one mean: short enough that the mean
# stays near every window's, long enough to cost few NumPy calls.
_CHUNK_ROWS = 128


def _window_pearson(
    delta: np.ndarray, rows: np.ndarray, offsets: np.ndarray, *, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """pearson_columns of delta[:, 1:] with delta[:, 0] over days r - offsets.

    One window per row r. The window sums of the values, their squares and cross
    products come from products of a 0/1 band matrix (rows x days) with the
    values of the days a band of consecutive rows spans (see :func:`_chunk_sums`)
    instead of a (dates x window x metrics) gather. The values are centred on
    their mean over a chunk of days first, so the moments lose no digits to
    cancellation unless a window's mean sits far from it; those windows (and
    degenerate ones, e.g. a constant column) are recomputed exactly as
    :func:`analytics._metrics.pearson_columns` does. Other windows agree with it
    to about 1e-15: the sums run in another order.
    """
    shape = (len(rows), delta.shape[1] - 1)
    r, count = np.empty(shape), np.empty(shape, dtype=np.int64)
    doubtful = np.empty(shape, dtype=bool)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for run in np.split(np.arange(len(rows)), breaks):
        for start in range(0, len(run), _CHUNK_ROWS):
            part = run[start : start + _CHUNK_ROWS]
            moments = _chunk_sums(delta, rows[part], offsets)
            r[part], count[part], doubtful[part] = _moments_pearson(moments, min_count)
    dates, columns = np.nonzero(doubtful)
    if dates.size:
        r[dates, columns] = _pearson_cells(
            delta, rows[dates], columns + 1, offsets, min_count
        )
    return r, count


def _chunk_sums(
    delta: np.ndarray, rows: np.ndarray, offsets: np.ndarray
) -> list[np.ndarray]:
    """Pair count and sums of x, y, x^2, y^2, xy over the window of each row, for
    consecutive rows; x the metric columns of ``delta``, y its KPI column, both
    centred on their mean over the days the rows' windows span (valid pairs).

    The centred values and products are laid out once; bands of a few rows
    then read overlapping views of them, all in one batched product.
    """
    top, reach = int(offsets.max()), int(offsets.max() - offsets.min())
    span = delta[rows[0] - top : rows[-1] - top + reach + 1]
    x, y = span[:, 1:], span[:, :1]
    valid = np.isfinite(x) & np.isfinite(y)
    full = bool(valid.all())
    width = x.shape[1]
    columns = 3 * width + 2 if full else 6 * width
    size = _band_rows(reach, min(columns, _BAND_COLUMNS), len(rows))
    bands = -(-len(rows) // size)
    # Zero days after the span let every band read a whole view; the rows they
    # give past the last row are dropped.
    stack = np.zeros((bands * size + reach, columns))
    with np.errstate(invalid="ignore", divide="ignore"):
        if full:
            # Every pair present: the KPI's sums are the same for every column.
            xc, yc = x - x.mean(axis=0), y - y.mean()
            parts = [xc, yc, xc * xc, yc * yc, xc * yc]
        else:
            weight = valid.astype(np.float64)
            total = weight.sum(axis=0)
            xc = np.where(valid, x - (weight * np.nan_to_num(x)).sum(0) / total, 0.0)
            yc = np.where(valid, y - (weight * np.nan_to_num(y)).sum(0) / total, 0.0)
            parts = [weight, xc, yc, xc * xc, yc * yc, xc * yc]
    np.concatenate(parts, axis=1, out=stack[: len(span)])
    step, item = stack.strides
    views = np.lib.stride_tricks.as_strided(
        stack, (bands, size + reach, columns), (size * step, step, item)
    )
    band = np.zeros((size, size + reach))
    band[np.arange(size)[:, None], np.arange(size)[:, None] + top - offsets] = 1.0
    # Many metrics: products of a few hundred columns each, so that the bands
    # need not shrink to stay on one thread.
    sums = np.concatenate(
        [
            np.matmul(band, views[:, :, start : start + _BAND_COLUMNS])
            for start in range(0, columns, _BAND_COLUMNS)
        ],
        axis=2,
    ).reshape(bands * size, columns)[: len(rows)]
    if full:
        s1x, s1y, s2x, s2y, sxy = np.split(sums, np.cumsum([width, 1, width, 1]), 1)
        return [np.full(s1x.shape, len(offsets)), s1x, s1y, s2x, s2y, sxy]
    pairs, *moments = np.split(sums, 6, axis=1)
    return [np.rint(pairs).astype(np.int64), *moments]


def _band_rows(reach: int, columns: int, rows: int) -> int:
    """Rows per band: the most whose product (rows x (rows + reach) days x
    columns) stays on one thread, at least 1 and at most ``rows``."""
    limit = _BLAS_ONE_THREAD / columns
    size = int((np.sqrt(reach * reach + 4 * limit) - reach) / 2)
    return max(1, min(size, rows))


def _moments_pearson(
    moments: list[np.ndarray], min_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """r, pair count and the cells to recompute, from the band moments."""
    count, s1x, s1y, s2x, s2y, sxy = moments
    with np.errstate(invalid="ignore", divide="ignore"):
        sxx = s2x - s1x * s1x / count
        syy = s2y - s1y * s1y / count
        sxy = sxy - s1x * s1y / count
    r, _ = _pearson_r(sxx, syy, sxy, count, min_count)
    kept = (_CANCELLATION * sxx > s2x) & (_CANCELLATION * syy > s2y)
    return r, count, (count >= min_count) & ~kept


def _pearson_cells(
    delta: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    offsets: np.ndarray,
    min_count: int,
) -> np.ndarray:
    """pearson_columns for single (row, column) cells: the same operations in the
    same order (window first, summed along axis 0) as the single-date code."""
    days = rows[None, :] - offsets[:, None]
    x, y = delta[days, columns[None, :]], delta[days, 0]
    valid = np.isfinite(x) & np.isfinite(y)
    count = valid.sum(axis=0)
    x, y = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(valid, x - x.sum(axis=0) / count, 0.0)
        dy = np.where(valid, y - y.sum(axis=0) / count, 0.0)
    sxx, syy = (dx * dx).sum(axis=0), (dy * dy).sum(axis=0)
    r, _ = _pearson_r(sxx, syy, (dx * dy).sum(axis=0), count, min_count)
    return r


def _pearson_r(
    sxx: np.ndarray,
    syy: np.ndarray,
    sxy: np.ndarray,
    count: np.ndarray,
    min_count: int,
) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r = np.where((count < min_count) | (sxx <= 0) | (syy <= 0), np.nan, r)
    return np.clip(r, -1.0, 1.0), count


def _link(r: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(r) * np.sqrt(count - 2.0) / np.sqrt(1.0 - r * r)
    weight = (t - LINK_T_START) / (LINK_T_FULL - LINK_T_START)
    weight = np.clip(np.nan_to_num(weight, nan=0.0, posinf=1.0), 0.0, 1.0)
    return np.where(count < LINK_MIN_DELTAS, 0.0, weight)


@dataclass(frozen=True)
class _DailyMoves:
    """Per grid day: week-over-week deltas, and the linkranks moves (log changes,
    beyond-proportional moves of the metrics) ranked for window medians."""

    delta: np.ndarray
    log_change: _RankedDays
    scaled: _RankedDays
    scaled_columns: list[int]


def _weekly_deltas(grid: _Grid) -> np.ndarray:
    """x(t) - x(t - 7) for every grid day t (NaN for the first week)."""
    pad = np.full((7, grid.values.shape[1]), np.nan)
    return np.vstack([pad, grid.values[7:] - grid.values[:-7]])


def _daily_moves(grid: _Grid, metric_col: str) -> _DailyMoves:
    """The week-over-week moves of every grid day, the linkranks ones ranked."""
    now, then = grid.values[7:], grid.values[:-7]
    pad = np.full((7, now.shape[1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        positive = (now > 0) & (then > 0)
        logs = np.where(positive, np.log(now / then), np.nan)
        scaled_columns = [
            i
            for i, name in enumerate(grid.names)
            if i and name in SCALED_BY_KPI.get(metric_col, ())
        ]
        kpi_now, kpi_then = now[:, :1], then[:, :1]
        scaled = now[:, scaled_columns] - then[:, scaled_columns] / kpi_then * kpi_now
    return _DailyMoves(
        delta=_weekly_deltas(grid),
        # The KPI's own move is never ranked: metric columns only.
        log_change=_RankedDays.of(np.vstack([pad, logs])[:, 1:].T),
        scaled=_RankedDays.of(np.vstack([pad[:, : len(scaled_columns)], scaled]).T),
        scaled_columns=scaled_columns,
    )


@dataclass(frozen=True)
class _Block:
    """The per-(date, metric) arrays of some dates: metrics only (KPI fields as
    ``kpi_*``, one per date), text columns as codes."""

    columns: dict[str, np.ndarray]
    kpi_norm: np.ndarray
    identity_used: list[tuple[str, tuple[str, ...], np.ndarray]]

    def subset(self, keep: np.ndarray) -> _Block:
        """The dates where ``keep`` is true."""
        return _Block(
            columns={name: values[keep] for name, values in self.columns.items()},
            kpi_norm=self.kpi_norm[keep],
            identity_used=[(k, p, holds[keep]) for k, p, holds in self.identity_used],
        )


def _identities(
    grid: _Grid, target: np.ndarray, base: np.ndarray, history: list[Any]
) -> list[tuple[str, tuple[str, ...], np.ndarray, list[int]]]:
    """Each identity of the KPI whose parts are candidates, with where it holds."""
    index = {name: i for i, name in enumerate(grid.names)}
    found = []
    for kind, parts in IDENTITIES.get(grid.names[0], ()):
        if not all(p in index for p in parts):
            continue
        columns = [index[p] for p in parts]
        # (dates, [D, B, H...], [KPI, parts...])
        picked = [0, *columns]
        checked = np.stack([v[:, picked] for v in (target, base, *history)], axis=1)
        block = checked[:, :, 1:]
        rows = np.isfinite(block).all(axis=2) & np.isfinite(checked[:, :, 0])
        combined = block.sum(axis=2) if kind == "sum" else block.prod(axis=2)
        kpi = checked[:, :, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            error = np.abs(kpi - combined) / np.maximum(np.abs(kpi), 1e-12)
        holds = rows[:, :2].all(axis=1) & np.where(
            rows, error <= IDENTITY_TOLERANCE, True
        ).all(axis=1)
        found.append((kind, tuple(parts), holds, columns))
    return found


def _contributions(
    identities: list[tuple[str, tuple[str, ...], np.ndarray, list[int]]],
    target: np.ndarray,
    base: np.ndarray,
) -> np.ndarray:
    share = np.full(target.shape, np.nan)
    kpi_delta = target[:, 0] - base[:, 0]
    for kind, _, holds, cols in identities:
        if kind == "sum":
            share[:, cols] = np.where(
                holds[:, None], target[:, cols] - base[:, cols], share[:, cols]
            )
            continue
        positive = ~((target[:, cols] <= 0).any(axis=1) | (base[:, cols] <= 0).any(1))
        with np.errstate(invalid="ignore", divide="ignore"):
            logs = np.log(target[:, cols] / base[:, cols])
            total = logs.sum(axis=1)
            split = kpi_delta[:, None] * logs / total[:, None]
        use = holds & positive & (total != 0)
        share[:, cols] = np.where(use[:, None], split, share[:, cols])
    return share


def _rank_block(
    grid: _Grid, moves: _DailyMoves, rows: np.ndarray, history_weeks: int
) -> _Block:
    """The rank_metrics columns of some dates, (dates, columns) arrays."""
    w = history_weeks
    target, base = _lagged(grid.values, rows, (0, 7))
    history = _lagged(grid.values, rows, range(7, 7 * w + 1, 7))
    mean, sd, count = _history_stats(history)

    delta = target - base
    scale = np.where(sd > 0, sd, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm_base = (base - mean) / scale
        norm_target = (target - mean) / scale
        norm_delta = delta / scale
        pct_change = np.where(base == 0, np.nan, delta / np.abs(base))
        kpi_norm = delta[:, 0] / sd[:, 0]
    score = norm_delta * kpi_norm[:, None]

    corr, link, source = _links(moves.delta, rows, w)
    identities = _identities(grid, target, base, history)
    for _, _, holds, cols in identities:
        parts = [c - 1 for c in cols]
        link[:, parts] = np.where(holds[:, None], 1.0, link[:, parts])
        source[:, parts] = np.where(holds[:, None], 2, source[:, parts])
    contribution = _contributions(identities, target, base)
    move = _block_move_z(moves, rows, 7 * w, target, base)
    move = np.where(np.isfinite(move), move, norm_delta[:, 1:])

    columns = {
        "value_base": base,
        "value_target": target,
        "delta": delta,
        "pct_change": pct_change,
        "norm_base": norm_base,
        "norm_target": norm_target,
        "norm_delta": norm_delta,
        "score": score,
        "mean_hist": mean,
        "sd_hist": sd,
        "n_hist": count,
        "contribution": contribution,
    }
    columns = {name: values[:, 1:] for name, values in columns.items()}
    columns |= {
        "corr_hist": corr,
        "link": link,
        "link_source": source,
        "move_z": move,
        "linked_score": link * move * np.sign(delta[:, :1]),
        "kpi_value_base": base[:, 0],
        "kpi_value_target": target[:, 0],
        "kpi_delta": delta[:, 0],
        "kpi_pct_change": pct_change[:, 0],
        "kpi_mean_hist": mean[:, 0],
        "kpi_sd_hist": sd[:, 0],
        "kpi_n_hist": count[:, 0],
    }
    used = [(kind, parts, holds) for kind, parts, holds, _ in identities]
    return _Block(columns=columns, kpi_norm=kpi_norm, identity_used=used)


def _links(
    delta: np.ndarray, rows: np.ndarray, history_weeks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """corr_hist, link and link_source (codes into _SOURCES) of each metric,
    before the identities."""
    # The lags in the single-date order (for the cells summed its way): the
    # same-weekday deltas most recent first, the daily ones oldest first.
    weekly = range(7, 7 * history_weeks, 7)
    daily = np.arange(7 * history_weeks, 0, -1)
    corr = _lag_pearson(delta, rows, weekly, CORR_MIN_DELTAS)
    r, pairs = _window_pearson(delta, rows, daily, min_count=LINK_MIN_DELTAS)
    link = _link(r, pairs)
    return corr, link, (link > 0).astype(np.int8)


def _block_move_z(
    moves: _DailyMoves,
    rows: np.ndarray,
    width: int,
    target: np.ndarray,
    base: np.ndarray,
) -> np.ndarray:
    """move_z of every metric (KPI column left out) for each row."""
    with np.errstate(invalid="ignore", divide="ignore"):
        today = np.where((target > 0) & (base > 0), np.log(target / base), np.nan)
        result = _sliding_move(moves.log_change, rows, width, today[:, 1:])
        scaled = moves.scaled_columns
        if scaled:
            today = target[:, scaled] - base[:, scaled] / base[:, :1] * target[:, :1]
            parts = [c - 1 for c in scaled]
            result[:, parts] = _sliding_move(moves.scaled, rows, width, today)
    return result


def _direction_codes(delta: np.ndarray) -> np.ndarray:
    """Codes into _DIRECTIONS: up for a positive delta, down for a negative one."""
    codes: np.ndarray = (delta > 0) + 2 * (delta < 0)
    return codes


def _ties_key(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """_ties_key of :mod:`analytics._metrics`, scaled per date over the kept rows."""
    magnitude = np.where(keep & np.isfinite(values), np.abs(values), -np.inf)
    largest = magnitude.max(axis=1, initial=-np.inf)
    scale = np.where(largest > 0, largest, 1.0)
    return np.round(values / scale[:, None], _TIE_DIGITS)


def _skip_codes(target: np.ndarray, base: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """The skip reason of every (date, metric), as codes into _SKIP_REASONS (0:
    ranked), in the precedence of the single-date code."""
    reason = np.zeros(target.shape, dtype=np.int8)
    reason[(sd == 0)] = 1
    reason[np.isnan(sd)] = 2
    missing_target, missing_base = np.isnan(target), np.isnan(base)
    reason[missing_base] = 3
    reason[missing_target] = 4
    reason[missing_target & missing_base] = 5
    return reason


@dataclass(frozen=True)
class BackfillRankMetrics:
    """rank_metrics for many dates of one casino.

    Attributes
    ----------
    table : pandas.DataFrame
        ``date_target`` followed by the columns of ``RankMetricsResult.table``; the
        dates in order, each date's metrics by rank.
    kpi : pandas.DataFrame
        One row per explained date: ``date_target`` and the fields of
        ``RankMetricsResult.kpi``.
    skipped : pandas.DataFrame
        ``date_target``, ``metric``, ``reason`` for every metric left out of a
        date's ranking (non-numeric columns included), in the single-date order.
    notes : DayMap
        {date: tuple of str}, the notes of each explained date.
    windows : DayMap
        {date: DateWindow} of each explained date (made on demand).
    failures : dict
        {date: exception} for the dates that cannot be explained, with the
        exception the single-date function raises.
    parameters : dict
        The parameters as used (method in lower case).
    """

    table: pd.DataFrame
    kpi: pd.DataFrame
    skipped: pd.DataFrame
    notes: Mapping[pd.Timestamp, tuple[str, ...]]
    windows: Mapping[pd.Timestamp, DateWindow]
    failures: dict[pd.Timestamp, InputError] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)

    def result_for(self, date: object) -> RankMetricsResult:
        """The single-date result of ``date`` (raises its failure if it had one)."""
        day = _explained_day(date, self.failures, self.windows)
        rows = _date_rows(self.table, day)
        kpi = self.kpi.loc[self.kpi["date_target"] == day].iloc[0].to_dict()
        kpi.pop("date_target")
        skipped = _date_rows(self.skipped, day)
        return RankMetricsResult(
            table=rows,
            kpi={
                str(k): (str(v) if k == "metric" else float(v)) for k, v in kpi.items()
            },
            parameters=dict(self.parameters),
            dates=self.windows[day],
            notes=self.notes[day],
            skipped=dict(zip(skipped["metric"], skipped["reason"], strict=True)),
        )


def _explained_day(
    date: object,
    failures: Mapping[pd.Timestamp, InputError],
    explained: Mapping[Any, Any],
) -> pd.Timestamp:
    """``date`` as a Timestamp; raises its failure, or if it was not backfilled."""
    day = parse_date(date, name="date")
    if day in failures:
        raise failures[day]
    if day not in explained:
        raise ParameterError(f"date={date!r} was not part of this backfill")
    return day


def _date_rows(frame: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    # A boolean mask on a sorted column; result_for is for checks, not the bulk.
    rows = frame.loc[frame["date_target"] == day].drop(columns="date_target")
    return rows.reset_index(drop=True)


def _window_of(grid: _Grid, row: int, history_weeks: int) -> DateWindow:
    history = tuple(
        grid.day(row - 7 * k)
        for k in range(1, history_weeks + 1)
        if grid.present[row - 7 * k]
    )
    return DateWindow(target=grid.day(row), base=grid.day(row - 7), history=history)


def _rank_notes(
    grid: _Grid, block: _Block, ranked_count: np.ndarray
) -> list[tuple[str, ...]]:
    """The notes of each date: the identities checked, a date with no metric."""
    kpi = grid.names[0]
    texts = []
    for kind, parts, holds in block.identity_used:
        formula = f"{kpi} = {(' + ' if kind == 'sum' else ' x ').join(parts)}"
        texts.append(
            (
                holds.tolist(),
                f"identity {formula} holds on the compared dates: used",
                f"identity {formula} does not hold on the compared dates",
            )
        )
    empty = (ranked_count == 0).tolist()
    if not texts and not any(empty):
        return [()] * len(empty)
    notes: list[tuple[str, ...]] = []
    for i, none_ranked in enumerate(empty):
        found = [used if holds[i] else unused for holds, used, unused in texts]
        if none_ranked:
            found.append("no metric could be ranked: see skipped for the reasons")
        notes.append(tuple(found))
    return notes


def _ranked_cells(
    method: str, block: _Block, keep: np.ndarray, name_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Date, metric and rank of the kept cells, date by date in rank order.

    The single-date order: the method's key, then abs(norm_delta) descending,
    then the name. A rounded ties key is a whole number of 1e-9, so the keys
    fold into integers: first the place of each metric by (abs(norm_delta),
    name) within its date, then the method's key times the number of metrics
    plus that place, sorted per date (two int64 sorts instead of a lexsort of
    four keys); the skipped metrics last.
    """
    c = block.columns
    width = keep.shape[1]
    size = _whole(-_ties_key(np.abs(c["norm_delta"]), keep), keep)
    order = np.argsort(size * width + name_rank, axis=1)
    place = np.empty_like(order)
    place[np.arange(len(order))[:, None], order] = np.arange(width)
    if method == "bestranks":
        primary = _whole(-_ties_key(c["score"], keep), keep)
    elif method == "worstranks":
        primary = _whole(_ties_key(c["score"], keep), keep)
    elif method == "linkranks":
        primary = _whole(-_ties_key(c["linked_score"], keep), keep)
    else:
        primary = np.where(keep, 0, _SKIPPED_KEY)
    order = np.argsort(primary * width + place, axis=1)
    ranked = np.arange(width) < keep.sum(axis=1)[:, None]
    dates, positions = np.nonzero(ranked)
    return dates, order[ranked], positions + 1


# Above every whole ties key (at most 10**9 in magnitude): sorts skipped cells last.
_SKIPPED_KEY = 2 * 10**_TIE_DIGITS


def _whole(key: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """A rounded ties key (kept cells finite) as whole numbers of 1e-9, int64."""
    scaled = np.where(keep, key * 10.0**_TIE_DIGITS, float(_SKIPPED_KEY))
    whole: np.ndarray = np.rint(scaled).astype(np.int64)
    return whole


def _block_columns(
    grid: _Grid, block: _Block, method: str, days: np.ndarray
) -> tuple[_Columns, _Columns, _Columns, np.ndarray]:
    """The table, kpi and skipped columns of one block, as NumPy arrays (text
    as codes, see :func:`_frame`): the frames are built once over all blocks."""
    c = block.columns
    reason = _skip_codes(c["value_target"], c["value_base"], c["sd_hist"])
    keep = reason == 0
    name_rank = np.argsort(np.argsort(np.array(grid.metrics, dtype=str)))
    dates, metrics, rank = _ranked_cells(method, block, keep, name_rank)
    cells = dates * keep.shape[1] + metrics
    table: _Columns = {"date_target": days[dates], "metric": metrics, "rank": rank}
    for name in RANKED_COLUMNS[2:]:
        if name == "direction":
            table[name] = _direction_codes(np.take(c["delta"], cells, mode="clip"))
        else:
            table[name] = np.take(c[name], cells, mode="clip")
    kpi = {
        "date_target": days,
        "metric": np.zeros(len(days), dtype=np.int8),
        **{name: c[f"kpi_{name}"].astype("float64") for name in _KPI_FIELDS},
        "norm_delta": block.kpi_norm,
    }
    return table, kpi, _skipped_columns(grid, keep, reason, days), keep.sum(axis=1)


_KPI_FIELDS = (
    "value_base",
    "value_target",
    "delta",
    "pct_change",
    "mean_hist",
    "sd_hist",
    "n_hist",
)


def _skipped_columns(
    grid: _Grid, keep: np.ndarray, reason: np.ndarray, days: np.ndarray
) -> _Columns:
    """Per date the non-numeric columns first, then the skipped metrics in column
    order, as the single-date result lists them. Codes as in _skipped_labels."""
    dates, width = keep.shape
    ignored = np.arange(len(grid.ignored))
    listed = np.hstack([np.ones((dates, len(ignored)), dtype=bool), ~keep])
    metric = np.concatenate([width + ignored, np.arange(width)])
    why = np.hstack(
        [np.broadcast_to(len(_SKIP_REASONS) + ignored, (dates, len(ignored))), reason]
    )
    return {
        "date_target": days[np.nonzero(listed)[0]],
        "metric": np.broadcast_to(metric, listed.shape)[listed],
        "reason": why[listed],
    }


def _skipped_labels(grid: _Grid) -> dict[str, Sequence[str]]:
    """The labels of the codes of :func:`_skipped_columns`."""
    return {
        "metric": [*grid.metrics, *(name for name, _ in grid.ignored)],
        "reason": [*_SKIP_REASONS, *(why for _, why in grid.ignored)],
    }


def backfill_rank_metrics(
    data: pd.DataFrame,
    *,
    metric_col: str,
    date_col: str = "date",
    dates: Iterable[object] | None = None,
    metrics: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    history_weeks: int = 13,
) -> BackfillRankMetrics:
    """Run :func:`analytics.rank_metrics` for every date of a casino at once.

    Parameters
    ----------
    data : pandas.DataFrame
        One casino's wide daily table (one row per date, one column per metric).
    metric_col, date_col, metrics, method, history_weeks
        As for :func:`analytics.rank_metrics`; the base date is always D - 7.
    dates : iterable of date-like, optional
        The target dates; default every date of ``data``.

    Returns
    -------
    BackfillRankMetrics
        Long tables over the dates; ``result_for(date)`` gives the single-date
        result, equal to what :func:`analytics.rank_metrics` returns.

    Raises
    ------
    InputError
        The frame itself is unusable (bad columns, duplicate dates, parameters):
        every date would fail the same way. Date-specific failures are collected
        in ``failures`` instead.

    Examples
    --------
    >>> days = pd.date_range("2024-01-01", periods=56)
    >>> frame = pd.DataFrame({"date": days, "coin_in": np.arange(56.0) % 5 + 10,
    ...                       "games": np.arange(56.0) % 3 + 4})
    >>> bulk = backfill_rank_metrics(frame, metric_col="coin_in", history_weeks=4)
    >>> len(bulk.windows), len(bulk.failures)
    (28, 28)
    """
    method_name = _check_method(method)
    grid = _validated_grid(
        data,
        metric_col=metric_col,
        date_col=date_col,
        metrics=metrics,
        history_weeks=history_weeks,
    )
    if not grid.metrics:
        raise ColumnError(
            f"there is no numeric metric to rank besides the KPI {metric_col!r}"
        )
    parameters = {
        "metric_col": metric_col,
        "date_col": date_col,
        "method": method_name,
        "history_weeks": history_weeks,
        "metrics": list(grid.metrics) if metrics is not None else None,
    }
    wanted = _wanted_days(grid, dates)
    offsets = np.concatenate([[0, 7], np.arange(1, 7 * (history_weeks + 1) + 1)])
    rows, handed = _split_rows(grid, wanted, history_weeks, offsets)
    moves = _daily_moves(grid, metric_col)
    parts = _RankParts()

    def single(day: pd.Timestamp) -> RankMetricsResult:
        return rank_metrics(
            data,
            metric_col=metric_col,
            date_col=date_col,
            date_target=day,
            metrics=metrics,
            method=method_name,
            history_weeks=history_weeks,
        )

    for start in range(0, len(rows), BLOCK_DATES):
        block_rows = rows[start : start + BLOCK_DATES]
        _rank_rows(grid, moves, block_rows, parameters, parts, single)
    for day in handed:
        parts.add_single(day, single)
    return parts.finish(grid, parameters)


class _RankParts:
    """Collects the blocks and the single-date results of a backfill."""

    def __init__(self) -> None:
        self.tables: list[pd.DataFrame] = []
        self.kpis: list[pd.DataFrame] = []
        self.skipped: list[pd.DataFrame] = []
        self.days: list[int] = []
        self.notes: list[tuple[str, ...]] = []
        self.failures: dict[pd.Timestamp, InputError] = {}
        self.blocks: list[tuple[_Columns, _Columns, _Columns]] = []

    def add_single(self, day: pd.Timestamp, compute: Any) -> None:
        """Add the single-date result of ``day``, or the exception it raises."""
        try:
            result = compute(day)
        except InputError as err:
            self.failures[day] = err
            return
        self.tables.append(result.table.assign(date_target=day))
        self.kpis.append(pd.DataFrame([{"date_target": day, **result.kpi}]))
        self.skipped.append(
            pd.DataFrame(
                {
                    "date_target": day,
                    "metric": list(result.skipped),
                    "reason": list(result.skipped.values()),
                }
            )
        )
        self.days.append(_day_number(day))
        self.notes.append(result.notes)

    def finish(self, grid: _Grid, parameters: dict[str, Any]) -> BackfillRankMetrics:
        """The backfill result: long tables over the blocks and the single dates."""
        tables, kpis, skipped = (
            zip(*self.blocks, strict=True) if self.blocks else [()] * 3
        )
        labels = {
            "metric": grid.metrics,
            "direction": _DIRECTIONS,
            "link_source": _SOURCES,
        }
        weeks = int(parameters["history_weeks"])
        return BackfillRankMetrics(
            table=_assembled(
                tables, labels, self.tables, ["date_target", *RANKED_COLUMNS]
            ),
            kpi=_assembled(
                kpis, {"metric": grid.names[:1]}, self.kpis, ["date_target"]
            ),
            skipped=_assembled(
                skipped,
                _skipped_labels(grid),
                self.skipped,
                ["date_target", "metric", "reason"],
            ),
            notes=DayMap(self.days, self.notes),
            windows=DayMap(self.days, make=lambda n: grid.window(n, weeks)),
            failures=dict(sorted(self.failures.items())),
            parameters=parameters,
        )


def _assembled(
    blocks: Sequence[_Columns],
    labels: Mapping[str, Sequence[str]],
    singles: list[pd.DataFrame],
    first: list[str],
) -> pd.DataFrame:
    """One long frame from the blocks (in date order) and the single-date frames."""
    if not blocks:
        return _concat(singles, first)
    if len(blocks) == 1:
        columns = blocks[0]
    else:
        columns = {n: np.concatenate([part[n] for part in blocks]) for n in blocks[0]}
    frame = _frame(columns, labels)
    # The blocks come in date order with their columns in order already.
    return _concat([frame, *singles], first) if singles else frame


def _frame(columns: _Columns, labels: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """A frame of the columns, the ``labels`` ones decoded from their codes.

    The arrays are fresh and not used elsewhere: the frame takes them as they
    are instead of copying them into blocks.
    """
    return pd.DataFrame(
        {
            name: _text(labels[name], values) if name in labels else values
            for name, values in columns.items()
        },
        copy=False,
    )


_STR_DTYPE = pd.Series(["text"]).dtype  # what pandas makes of Python strings


def _text(labels: Sequence[str], codes: np.ndarray) -> Any:
    """labels[codes] as the column pandas makes of those strings.

    With pandas' pyarrow-backed str dtype arrow expands the codes itself, several
    times faster than pandas converting a Python string per row.
    """
    if isinstance(_STR_DTYPE, pd.StringDtype) and _STR_DTYPE.storage == "pyarrow":
        dictionary = pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.int32()),
            pa.array(list(labels), type=pa.large_string()),
        )
        return pd.array(dictionary.cast(pa.large_string()), dtype=_STR_DTYPE)
    return np.array(list(labels), dtype=object)[codes]


def _concat(frames: list[pd.DataFrame], first: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=first)
    frame = pd.concat(frames, ignore_index=True)
    ordered = [*first, *[c for c in frame.columns if c not in first]]
    frame = frame.loc[:, ordered]
    frame["date_target"] = frame["date_target"].astype("datetime64[ns]")
    return frame.sort_values("date_target", kind="stable", ignore_index=True)


def _rank_rows(
    grid: _Grid,
    moves: _DailyMoves,
    rows: np.ndarray,
    parameters: dict[str, Any],
    parts: _RankParts,
    single: Callable[[pd.Timestamp], RankMetricsResult],
) -> None:
    """Explain one block of dates; dates with a degenerate KPI go single-date."""
    block = _rank_block(grid, moves, rows, parameters["history_weeks"])
    kpi = block.columns
    regular = (kpi["kpi_delta"] != 0) & (kpi["kpi_sd_hist"] > 0)
    regular &= kpi["kpi_n_hist"] >= 2
    if not regular.all():
        # The single-date function words the notes and warns for these dates.
        for row in rows[~regular]:
            parts.add_single(grid.day(int(row)), single)
        block, rows = block.subset(regular), rows[regular]
    if not len(rows):
        return
    numbers = grid.numbers(rows)
    days = numbers.astype("datetime64[D]").astype("datetime64[ns]")
    table, kpi_columns, skipped, ranked = _block_columns(
        grid, block, parameters["method"], days
    )
    parts.blocks.append((table, kpi_columns, skipped))
    parts.days.extend(numbers.tolist())
    parts.notes.extend(_rank_notes(grid, block, ranked))


@dataclass(frozen=True)
class BackfillAssessChange:
    """assess_change for many dates of one casino.

    Attributes
    ----------
    table : pandas.DataFrame
        ``date_target`` followed by the columns of ``AssessChangeResult.table``:
        per date the KPI first, then every other metric.
    notes : DayMap
        {date: tuple of str}.
    windows : DayMap
        {date: DateWindow} (made on demand).
    holidays : DayMap
        {date: (target is a holiday, base is a holiday)}.
    failures : dict
        {date: exception} as the single-date function raises it.
    parameters : dict
        The parameters as used.
    skipped : dict
        {column: reason} for the non-numeric columns left out.
    """

    table: pd.DataFrame
    notes: Mapping[pd.Timestamp, tuple[str, ...]]
    windows: Mapping[pd.Timestamp, DateWindow]
    holidays: Mapping[pd.Timestamp, tuple[bool, bool]]
    failures: dict[pd.Timestamp, InputError] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def result_for(self, date: object) -> AssessChangeResult:
        """The single-date result of ``date`` (raises its failure if it had one)."""
        day = _explained_day(date, self.failures, self.windows)
        frame = _date_rows(self.table, day)
        holiday_target, holiday_base = self.holidays[day]
        return AssessChangeResult(
            table=frame,
            kpi=json_ready(frame.iloc[0].to_dict()),
            parameters=dict(self.parameters),
            dates=self.windows[day],
            notes=self.notes[day],
            skipped=dict(self.skipped),
            holiday_target=holiday_target,
            holiday_base=holiday_base,
        )


_SCALE_KINDS = ("mad", "mean_abs_dev", "none")
_ASSESS_REASONS = (
    "",
    "every historical delta is equal (MAD and mean absolute deviation are 0)",
    f"fewer than {MIN_DELTAS} historical deltas",
    "no value at the target or base date",
)


def _assess_block(
    grid: _Grid, weekly: np.ndarray, rows: np.ndarray, history_weeks: int, limit: float
) -> _Columns:
    """The assess_change columns of some dates, (dates, columns) arrays with text
    as codes; ``weekly`` is the week-over-week delta of every grid day."""
    target, base = _lagged(grid.values, rows, (0, 7))
    delta = target - base
    # d_k = x(D - 7k) - x(B - 7k), k = 1 .. W-1: the grid's deltas, the same
    # subtraction as the single-date code.
    deltas = _lagged(weekly, rows, range(7, 7 * history_weeks, 7))
    count = _fold(np.add, (np.isfinite(d) for d in deltas), dtype=np.int64)
    median = _window_median(deltas, count)
    spread = [np.abs(d - median) for d in deltas]
    mad = _window_median(spread, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        finite_spread = (np.where(np.isfinite(s), s, 0.0) for s in spread)
        mean_abs = _fold(np.add, finite_spread) / count
        by_mad = MAD_CONSISTENCY * (delta - median) / mad
        by_mean = (delta - median) / (MEAN_ABS_DEV_CONSISTENCY * mean_abs)
        size = np.abs(delta)
        below = _fold(
            np.add,
            (np.abs(np.where(np.isfinite(d), d, np.inf)) <= size for d in deltas),
            dtype=np.int64,
        )
        percentile = 100.0 * below / count
        pct_change = np.where(base == 0, np.nan, delta / np.abs(base))

    kind = np.where(mad > 0, 0, np.where(mean_abs > 0, 1, 2))  # into _SCALE_KINDS
    z = np.where(mad > 0, by_mad, np.where(mean_abs > 0, by_mean, np.nan))
    reason = np.where(kind == 2, 1, 0)  # codes into _ASSESS_REASONS
    reason[count < MIN_DELTAS] = 2
    reason[np.isnan(delta)] = 3
    undefined = reason != 0
    z = np.where(undefined, np.nan, z)
    return {
        # Copies: the table must not share memory with the grid (views of it).
        "value_base": base.copy(),
        "value_target": target.copy(),
        "delta": delta,
        "pct_change": pct_change,
        "n_hist": count,
        "median_hist": median,
        "mad_hist": mad,
        "scale_kind": np.where(undefined, 2, kind),
        "robust_z": z,
        "percentile": np.where(np.isnan(delta) | (count == 0), np.nan, percentile),
        "significant": np.abs(np.nan_to_num(z, nan=0.0)) >= limit,
        "direction": _direction_codes(delta),
        "reason": reason,
    }


def _window_median(planes: list[Any], count: np.ndarray) -> np.ndarray:
    """nanmedian_columns across lag planes, given the finite ``count`` of each
    (date, column) window.

    Windows without a missing value go through a sorting network over whole
    planes (min and max of two planes per comparator), several times faster than
    sorting each short window. The others are sorted window by window, NaN last
    after the finite values (an infinity is made NaN first).
    """
    if not planes:
        return np.full(count.shape, np.nan)
    size = len(planes)
    if bool((count == size).all()):
        middle = _network_middle(planes)
        with np.errstate(invalid="ignore"):
            both: np.ndarray = (middle[(size - 1) // 2] + middle[size // 2]) / 2
        return both
    ordered = np.stack(planes, axis=2)
    if np.isinf(ordered).any():
        ordered[np.isinf(ordered)] = np.nan
    ordered.sort(axis=2)
    low = np.maximum((count - 1) // 2, 0)[:, :, None]
    high = np.maximum(count // 2, 0)[:, :, None]
    with np.errstate(invalid="ignore"):
        middle_values = (
            np.take_along_axis(ordered, low, axis=2)[:, :, 0]
            + np.take_along_axis(ordered, high, axis=2)[:, :, 0]
        ) / 2
    return np.where(count > 0, middle_values, np.nan)


def _network_middle(planes: list[Any]) -> dict[int, np.ndarray]:
    """The two middle order statistics, position -> plane, of NaN-free planes."""
    values = dict(enumerate(planes))
    for i, j in _median_network(len(planes)):
        values[i], values[j] = (
            np.minimum(values[i], values[j]),
            np.maximum(values[i], values[j]),
        )
    return values


@functools.cache
def _median_network(size: int) -> tuple[tuple[int, int], ...]:
    """Comparators of Batcher's odd-even merge sort of ``size`` inputs that lead
    to its two middle outputs.

    Built for the next power of two and cut to ``size`` (the inputs beyond count
    as +inf and never move), then cut to the comparators the middle outputs
    depend on: 35 of 42 for the 12 deltas of the default window.
    """
    width = 1 << (size - 1).bit_length()
    pairs = []
    p = 1
    while p < width:
        k = p
        while k >= 1:
            for j in range(k % p, width - k, 2 * k):
                for i in range(min(k, width - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    needed, kept = {(size - 1) // 2, size // 2}, []
    for i, j in reversed([(i, j) for i, j in pairs if j < size]):
        if i in needed or j in needed:
            kept.append((i, j))
            needed |= {i, j}
    return tuple(reversed(kept))


@dataclass
class _AssessParts:
    """Collects the blocks and the single-date results of an assess backfill."""

    blocks: list[_Columns] = field(default_factory=list)
    singles: list[pd.DataFrame] = field(default_factory=list)
    days: list[int] = field(default_factory=list)
    flags: list[tuple[bool, bool]] = field(default_factory=list)
    notes: list[tuple[str, ...]] = field(default_factory=list)
    failures: dict[pd.Timestamp, InputError] = field(default_factory=dict)

    def add_block(
        self,
        grid: _Grid,
        columns: _Columns,
        rows: np.ndarray,
        holidays: np.ndarray,
        history_weeks: int,
    ) -> None:
        """Add a block of :func:`_assess_block` columns, in table layout."""
        numbers = grid.numbers(rows)
        days = numbers.astype("datetime64[D]").astype("datetime64[ns]")
        dates, width = columns["delta"].shape
        flags = np.isin(numbers, holidays), np.isin(numbers - 7, holidays)
        for name, on_holiday in zip(_HOLIDAY_FIELDS, flags, strict=True):
            columns[name] = np.broadcast_to(on_holiday[:, None], (dates, width))
        self.blocks.append(
            {
                "date_target": np.repeat(days, width),
                "metric": np.tile(np.arange(width), dates),
                "is_kpi": np.tile(np.arange(width) == 0, dates),
                **{name: columns[name].ravel() for name in ASSESS_COLUMNS[2:]},
            }
        )
        self.days.extend(numbers.tolist())
        self.flags.extend(zip(flags[0].tolist(), flags[1].tolist(), strict=True))
        kpi_reason = columns["reason"][:, 0]
        self.notes.extend(
            _assess_notes(grid, numbers, history_weeks, kpi_reason, flags)
        )

    def add_single(
        self, day: pd.Timestamp, compute: Callable[[pd.Timestamp], AssessChangeResult]
    ) -> None:
        """Add the single-date result of ``day``, or the exception it raises."""
        try:
            result = compute(day)
        except InputError as err:
            self.failures[day] = err
            return
        self.singles.append(result.table.assign(date_target=day))
        self.days.append(_day_number(day))
        self.flags.append((result.holiday_target, result.holiday_base))
        self.notes.append(result.notes)

    def finish(self, grid: _Grid, parameters: dict[str, Any]) -> BackfillAssessChange:
        """The backfill result: one table over the blocks and the single dates."""
        labels = {
            "metric": grid.names,
            "scale_kind": _SCALE_KINDS,
            "direction": _DIRECTIONS,
            "reason": _ASSESS_REASONS,
        }
        first = ["date_target", *ASSESS_COLUMNS]
        weeks = int(parameters["history_weeks"])
        return BackfillAssessChange(
            table=_assembled(self.blocks, labels, self.singles, first),
            notes=DayMap(self.days, self.notes),
            windows=DayMap(self.days, make=lambda n: grid.window(n, weeks)),
            holidays=DayMap(self.days, self.flags),
            failures=dict(sorted(self.failures.items())),
            parameters=parameters,
            skipped=dict(grid.ignored),
        )


_HOLIDAY_FIELDS = ("target_is_holiday", "base_is_holiday")


def _assess_notes(
    grid: _Grid,
    numbers: np.ndarray,
    history_weeks: int,
    kpi_reason: np.ndarray,
    flags: tuple[np.ndarray, np.ndarray],
) -> list[tuple[str, ...]]:
    """The notes of each date; most dates have none, so only the others are
    worded."""
    notes: list[tuple[str, ...]] = [()] * len(numbers)
    metric_col = grid.names[0]
    for i in np.flatnonzero((kpi_reason != 0) | flags[0] | flags[1]).tolist():
        window = grid.window(int(numbers[i]), history_weeks)
        reason = _ASSESS_REASONS[int(kpi_reason[i])]
        holiday = bool(flags[0][i]), bool(flags[1][i])
        notes[i] = _notes(metric_col, window, reason, *holiday)
    return notes


def backfill_assess_change(
    data: pd.DataFrame,
    *,
    metric_col: str,
    date_col: str = "date",
    dates: Iterable[object] | None = None,
    metrics: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    history_weeks: int = 13,
    holidays: object = None,
) -> BackfillAssessChange:
    """Run :func:`analytics.assess_change` for every date of a casino at once.

    Parameters
    ----------
    data : pandas.DataFrame
        One casino's wide daily table.
    metric_col, date_col, metrics, threshold, history_weeks, holidays
        As for :func:`analytics.assess_change`; the base date is always D - 7.
    dates : iterable of date-like, optional
        The target dates; default every date of ``data``.

    Returns
    -------
    BackfillAssessChange
        One long table over the dates; ``result_for(date)`` gives the single-date
        result, equal to what :func:`analytics.assess_change` returns.

    Raises
    ------
    InputError
        The frame or a parameter is unusable for every date.

    Examples
    --------
    >>> days = pd.date_range("2024-01-01", periods=56)
    >>> frame = pd.DataFrame({"date": days, "coin_in": np.arange(56.0) % 5 + 10})
    >>> bulk = backfill_assess_change(frame, metric_col="coin_in", history_weeks=4)
    >>> bulk.table["date_target"].nunique()
    28
    """
    limit = _check_threshold(threshold)
    calendar = holiday_dates(holidays, date_col=date_col)
    grid = _validated_grid(
        data,
        metric_col=metric_col,
        date_col=date_col,
        metrics=metrics,
        history_weeks=history_weeks,
    )
    wanted = _wanted_days(grid, dates)
    lags = 7 * np.arange(1, history_weeks)
    offsets = np.concatenate([[0, 7], lags, lags + 7])
    rows, handed = _split_rows(grid, wanted, history_weeks, offsets)
    weekly = _weekly_deltas(grid)
    holiday_numbers = np.array(sorted({_day_number(d) for d in calendar}), dtype=int)
    parts = _AssessParts()
    for start in range(0, len(rows), BLOCK_DATES):
        block_rows = rows[start : start + BLOCK_DATES]
        columns = _assess_block(grid, weekly, block_rows, history_weeks, limit)
        parts.add_block(grid, columns, block_rows, holiday_numbers, history_weeks)

    def single(day: pd.Timestamp) -> AssessChangeResult:
        return assess_change(
            data,
            metric_col=metric_col,
            date_col=date_col,
            date_target=day,
            metrics=metrics,
            threshold=limit,
            history_weeks=history_weeks,
            holidays=holidays,
        )

    for day in handed:
        parts.add_single(day, single)
    parameters = {
        "metric_col": metric_col,
        "date_col": date_col,
        "threshold": limit,
        "history_weeks": history_weeks,
        "metrics": list(grid.metrics) if metrics is not None else None,
        "holidays": [d.date().isoformat() for d in calendar],
    }
    return parts.finish(grid, parameters)
