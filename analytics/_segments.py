"""rank_segments: where on the floor the KPI's change happened.

For one target day D and base day B (default D - 7) the long table (one row per
date and segment) is reduced to its leaves, the combinations of all dimension
values; a leaf missing on one day counts as 0 there. Two outputs follow
(METHOD.md section 3):

* the **breakdown**: per dimension and member, base and target values, delta,
  share of the total change and the member's surprise, the Jensen-Shannon term
  between its base share and its target share in **bits** (log base 2, so the
  terms of one dimension sum to at most 1);
* the **root-cause set**: the smallest set of segments at any depth up to
  ``max_depth`` that explains the change, found by
  :func:`analytics._segments_search.localize_root_causes`.

Ratio KPIs (hold = actual_win / coin_in, average bet = coin_in / games_played)
are given as ``numerator`` and ``denominator`` columns. Their change is split
exactly into segment contributions,

    contribution_s = [(N_A,s - R_F D_A,s) - (N_F,s - R_F D_F,s)] / D_A,total

with R_F the total base ratio and N, D the numerator and denominator at base (F)
and target (A). Over any partition of the floor the contributions sum exactly to
R_A - R_F: a segment contributes when its own ratio departs from the floor's
base ratio on the target day more (or less) than it did on the base day, which
covers both a change of its ratio and a shift of volume between segments of
different ratios. The localization, by contrast, looks only at where the ratio
changed: a leaf's expected numerator is its own base ratio times its target
denominator, so a change of volume alone is expected, not anomalous.

The bulk backfill calls this once per casino and date on floors of a few dozen
leaves, where pandas' per-call overhead would cost ten times the arithmetic.
So a plain table (datetime64 dates, NumPy numbers) is validated and reduced to
its leaves in NumPy; anything else, and every error, goes through
:func:`analytics._frames.prepare_daily_frame`. Sums are taken in the order
pandas' groupby took them, so every figure is what it was to the last bit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics._frames import DateWindow, prepare_daily_frame, resolve_window
from analytics._segments_search import (
    MIN_SHARE,
    SegmentRows,
    check_finite,
    check_min_share,
    find_segments,
    localize_root_causes,
)
from analytics.errors import ColumnError, DegenerateInputWarning, ParameterError

__all__ = [
    "RankSegmentsResult",
    "localize_root_causes",
    "rank_segments",
    "ratio_leaf_values",
    "surprise_terms",
]

BREAKDOWN_COLUMNS = [
    "dimension",
    "member",
    "value_base",
    "value_target",
    "delta",
    "share_of_change",
    "surprise",
]
TABLE_COLUMNS = [
    "segment",
    "depth",
    "value_base",
    "value_target",
    "delta",
    "share_of_change",
    "score",
    "rank",
    "is_root_cause",
]


@dataclass(frozen=True)
class RankSegmentsResult:
    """Where the KPI changed between the base and the target day.

    Attributes
    ----------
    table : pandas.DataFrame
        Ranked segments: ``segment`` (``"zone=Z2&denomination=1.00"``), ``depth``,
        ``value_base``, ``value_target``, ``delta``, ``share_of_change``,
        ``score``, ``rank``, ``is_root_cause``; root causes first. Ratio KPIs add
        ``contribution`` (the segment's exact additive part of the ratio change)
        and give the segment's own ratio as values.
    breakdown : pandas.DataFrame
        One row per dimension and member: ``dimension``, ``member``,
        ``value_base``, ``value_target``, ``delta``, ``share_of_change``,
        ``surprise`` (bits); ratio KPIs add ``contribution``.
    kpi : dict
        The KPI at floor level: metric, value_base, value_target, delta,
        pct_change (and numerator, denominator for a ratio).
    parameters : dict
        The parameters as used.
    dates : DateWindow
        The target and base dates.
    notes : tuple of str
        Plain-English remarks (e.g. "the KPI did not move").
    noise_scale : float
        Estimated relative noise of a leaf of median size, used by the
        localization.
    skipped : dict
        Always empty here; kept for the shared result shape.
    """

    table: pd.DataFrame
    breakdown: pd.DataFrame
    kpi: dict[str, Any]
    parameters: dict[str, Any]
    dates: DateWindow
    notes: tuple[str, ...]
    noise_scale: float
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def root_causes(self) -> tuple[str, ...]:
        """The segments of the root-cause set, most important first."""
        return tuple(self.table.loc[self.table["is_root_cause"], "segment"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN as None, dates as ISO strings)."""
        return {
            "module": "rank_segments",
            "parameters": _json_ready(self.parameters),
            "dates": self.dates.as_dict(),
            "kpi": _json_ready(self.kpi),
            "rows": _records(self.table),
            "breakdown": _records(self.breakdown),
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
        }


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_json_ready(row) for row in frame.to_dict(orient="records")]


def surprise_terms(base: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Jensen-Shannon terms (bits) between base and target shares, per member.

    Parameters
    ----------
    base, target : numpy.ndarray
        Non-negative member values on the base and the target day.

    Returns
    -------
    numpy.ndarray
        ``0.5 * (p log2(2p / (p + q)) + q log2(2q / (p + q)))`` per member, with
        ``p = base / base.sum()`` and ``q = target / target.sum()`` and
        ``0 log 0 = 0``; all NaN when a value is negative or a total is 0.

    Examples
    --------
    >>> surprise_terms(np.array([50.0, 50.0]), np.array([100.0, 0.0])).round(4)
    array([0.0613, 0.25  ])
    """
    base = np.asarray(base, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if (base < 0).any() or (target < 0).any() or base.sum() <= 0 or target.sum() <= 0:
        return np.full(base.shape, np.nan)
    p, q = base / base.sum(), target / target.sum()
    middle = 0.5 * (p + q)
    terms: np.ndarray = 0.5 * (_plogp(p, middle) + _plogp(q, middle))
    return terms


def _plogp(share: np.ndarray, middle: np.ndarray) -> np.ndarray:
    safe_share = np.where(share > 0, share, 1.0)
    safe_middle = np.where(middle > 0, middle, 1.0)
    # A difference of logs: the ratio of two tiny shares can overflow.
    return np.where(
        share > 0, share * (np.log2(safe_share) - np.log2(safe_middle)), 0.0
    )


def ratio_leaf_values(
    numerator_base: np.ndarray,
    denominator_base: np.ndarray,
    numerator_target: np.ndarray,
    denominator_target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a ratio KPI's leaves into observed and expected numerators.

    A leaf is expected to keep its own base ratio on the target day, so the
    expected numerator is ``(N_F / D_F) * D_A``; a leaf without base
    denominator is expected at the floor's base ratio. Localizing ``real``
    against ``predict`` then finds where the ratio moved, not where volume did.

    Returns
    -------
    tuple of numpy.ndarray
        ``(real, predict)``: the target numerator and the expected one.

    Examples
    --------
    >>> real, predict = ratio_leaf_values(
    ...     np.array([10.0, 30.0]), np.array([10.0, 10.0]),
    ...     np.array([40.0, 60.0]), np.array([20.0, 20.0]))
    >>> predict.tolist()
    [20.0, 60.0]
    """
    floor_ratio = float(numerator_base.sum() / denominator_base.sum())
    safe = np.where(denominator_base > 0, denominator_base, 1.0)
    leaf_ratio = np.where(denominator_base > 0, numerator_base / safe, floor_ratio)
    return numerator_target.astype(np.float64), leaf_ratio * denominator_target


def _check_parameters(
    dimensions: Sequence[str],
    *,
    metric_col: str | None,
    date_col: str,
    max_depth: int | None,
    numerator: str | None,
    denominator: str | None,
) -> list[str]:
    if isinstance(dimensions, str) or not isinstance(dimensions, Sequence):
        raise ParameterError(
            f"dimensions must be a list of column names, got {dimensions!r}"
        )
    dims = list(dimensions)
    if not dims:
        raise ParameterError("dimensions must name at least one column, got []")
    if len(set(dims)) != len(dims):
        raise ParameterError(f"dimensions must not repeat a column, got {dims!r}")
    if (numerator is None) != (denominator is None):
        raise ParameterError(
            "a ratio KPI needs both numerator and denominator, got "
            f"numerator={numerator!r}, denominator={denominator!r}"
        )
    if numerator is None and metric_col is None:
        raise ParameterError(
            "give metric_col (an additive KPI) or numerator and denominator "
            "(a ratio KPI); got neither"
        )
    measures = [numerator, denominator] if numerator is not None else [metric_col]
    clash = [d for d in dims if d == date_col or d in measures]
    if clash:
        raise ParameterError(
            f"dimension(s) {clash!r} are also the date or a measure column"
        )
    if isinstance(max_depth, bool) or not isinstance(max_depth, int | np.integer):
        raise ParameterError(f"max_depth must be a whole number, got {max_depth!r}")
    if not 1 <= max_depth <= len(dims):
        raise ParameterError(
            f"max_depth must be in 1..{len(dims)} (the number of dimensions), "
            f"got {max_depth!r}"
        )
    return [str(m) for m in measures]


# Dates pandas can hold in nanoseconds, as the clean frame keeps them.
_FIRST_DAY = np.datetime64("1678-01-01")
_LAST_DAY = np.datetime64("2262-01-01")
# Largest measures x leaves summed per member by the Python loop; beyond it
# pandas' compiled kernel is cheaper than the loop.
_LOOP_LIMIT = 4096


@dataclass(frozen=True)
class _Rows:
    """The validated long table as arrays, one entry per row.

    ``dates`` are midnights (datetime64[ns]); ``codes[i, j]`` is row ``i``'s
    member of dimension ``j`` as an index into ``names[j]``, the dimension's
    member names (text, ``"(missing)"`` for a missing value) in sorted order;
    ``measures[k]`` holds measure ``k`` as float64.
    """

    dates: np.ndarray
    codes: np.ndarray
    names: list[list[str]]
    measures: np.ndarray


@dataclass(frozen=True)
class _Leaves:
    """The leaves of the two days, sorted by segment.

    ``codes`` and ``labels`` as in :func:`find_segments` (members present on
    the two days only); ``base[k]`` and ``target[k]`` the measure ``k`` on B
    and D, 0 where the leaf is absent.
    """

    codes: np.ndarray
    labels: list[np.ndarray]
    base: np.ndarray
    target: np.ndarray


def _table_rows(
    frame: pd.DataFrame, *, date_col: str, dims: list[str], measures: list[str]
) -> _Rows:
    """Validate the long table as :func:`prepare_daily_frame` does; return arrays."""
    rows = _plain_rows(frame, date_col=date_col, dims=dims, measures=measures)
    if rows is not None:
        return rows
    # Unusual input and every error take the shared validation: its checks,
    # conversions and messages are the reference the plain path agrees with.
    clean = prepare_daily_frame(
        frame, date_col=date_col, numeric_cols=measures, key_cols=dims, role="measure"
    )
    values = np.array([clean[m].to_numpy(dtype=np.float64) for m in measures])
    return _rows_of(clean[date_col].to_numpy(), [clean[d] for d in dims], values)


def _plain_rows(
    frame: object, *, date_col: str, dims: list[str], measures: list[str]
) -> _Rows | None:
    """The table as arrays if it is plain and valid, else None.

    Plain is what the pipeline passes: naive datetime64 dates, NumPy numeric
    measures. Validated in NumPy it costs a fraction of prepare_daily_frame.
    """
    if (
        not isinstance(frame, pd.DataFrame)
        or frame.empty
        or not frame.columns.is_unique
        or any(c not in frame.columns for c in [date_col, *dims, *measures])
    ):
        return None
    dates = _plain_dates(frame[date_col])
    values = _plain_measures(frame, measures)
    if dates is None or values is None:
        return None
    rows = _rows_of(dates, [frame[d] for d in dims], values)
    return None if _has_duplicates(rows) else rows


def _plain_dates(column: pd.Series) -> np.ndarray | None:
    """Naive datetime64 dates as midnights in datetime64[ns], or None."""
    if not isinstance(column.dtype, np.dtype) or column.dtype.kind != "M":
        return None
    # A cast to days floors, as Series.dt.normalize does.
    days = column.to_numpy().astype("datetime64[D]")
    if np.isnat(days).any() or days.min() < _FIRST_DAY or days.max() > _LAST_DAY:
        return None
    midnights: np.ndarray = days.astype("datetime64[ns]")
    return midnights


def _plain_measures(frame: pd.DataFrame, measures: list[str]) -> np.ndarray | None:
    """The measures as float64 rows, or None unless NumPy numbers, all finite or NaN."""
    values = np.empty((len(measures), len(frame)))
    for position, name in enumerate(measures):
        column = frame[name]
        if not isinstance(column.dtype, np.dtype) or column.dtype.kind not in "iuf":
            return None
        values[position] = column.to_numpy()
        if np.isinf(values[position]).any():
            return None
    return values


def _rows_of(
    dates: np.ndarray, dim_columns: list[pd.Series], measures: np.ndarray
) -> _Rows:
    codes = np.empty((len(dates), len(dim_columns)), dtype=np.intp)
    names = []
    for position, column in enumerate(dim_columns):
        codes[:, position], members = _members(column)
        names.append(members)
    return _Rows(dates=dates, codes=codes, names=names, measures=measures)


def _members(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's member as an index into the sorted member names.

    The names are the clean frame's: the values as text, a missing value
    ``"(missing)"`` (one member with a literal ``"(missing)"``).
    """
    if not _is_text(column):
        column = column.astype("string")
    # Factorized as Python strings: a fifth of the cost on Arrow text.
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    names = [str(name) for name in uniques]
    if (codes < 0).any():
        if "(missing)" not in names:
            names.append("(missing)")
        codes = np.where(codes < 0, names.index("(missing)"), codes)
    # Sorted as Python sorts text, as the clean frame's sort and groupby did.
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype=np.intp)
    rank[order] = np.arange(len(names))
    return rank[codes], [names[i] for i in order]


def _is_text(column: pd.Series) -> bool:
    """Whether the values are text already (so astype("string") keeps them)."""
    if isinstance(column.dtype, pd.StringDtype):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column) == "string"


def _row_keys(codes: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """One integer per row of ``codes``, ordered as the rows are lexically."""
    if math.prod(sizes) < 2**62:
        keys: np.ndarray = np.ravel_multi_index(tuple(codes.T), tuple(sizes))
        return keys
    return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)


def _has_duplicates(rows: _Rows) -> bool:
    """Whether two rows share a date and segment."""
    days, day_codes = np.unique(rows.dates, return_inverse=True)
    sizes = [len(days), *(len(n) for n in rows.names)]
    keys = _row_keys(np.column_stack([day_codes.reshape(-1), rows.codes]), sizes)
    return bool(np.unique(keys).size < keys.size)


def _leaf_arrays(rows: _Rows, window: DateWindow, measures: list[str]) -> _Leaves:
    """The leaves of B and D; a leaf missing on one day counts as 0 there."""
    sides = []
    for day in (window.base, window.target):
        side = np.flatnonzero(rows.dates == day.to_datetime64())
        _check_filled(rows.measures[:, side], measures, day)
        sides.append(side)
    picked = np.concatenate(sides)
    keys = _row_keys(rows.codes[picked], [len(n) for n in rows.names])
    _, first, leaf = np.unique(keys, return_index=True, return_inverse=True)
    values = []
    spots = np.split(leaf.reshape(-1), [sides[0].size])
    for side, where in zip(sides, spots, strict=True):
        filled = np.zeros((len(measures), first.size))
        filled[:, where] = rows.measures[:, side]
        values.append(filled)
    codes, labels = _compact(rows.codes[picked[first]], rows.names)
    return _Leaves(codes=codes, labels=labels, base=values[0], target=values[1])


def _check_filled(values: np.ndarray, measures: list[str], day: pd.Timestamp) -> None:
    empty = np.isnan(values).sum(axis=1)
    if empty.any():
        position = int(np.flatnonzero(empty)[0])
        raise ColumnError(
            f"measure column {measures[position]!r} has {int(empty[position])} "
            f"empty value(s) on {day.date().isoformat()}; fill them (e.g. with 0) "
            "first"
        )


def _compact(
    codes: np.ndarray, names: list[list[str]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Renumber each dimension's members among those the leaves hold."""
    compact = np.empty_like(codes)
    labels = []
    for position, members in enumerate(names):
        present, inverse = np.unique(codes[:, position], return_inverse=True)
        compact[:, position] = inverse.reshape(-1)
        labels.append(np.asarray(members, dtype=object)[present])
    return compact, labels


def _member_sums(codes: np.ndarray, n_members: int, values: np.ndarray) -> np.ndarray:
    """Per-member sums of each row of ``values``: shape (rows, members).

    Summed as pandas' groupby did before, so the figures stay the same to the
    last bit: by ``np.add.reduceat`` when the leaves come grouped by member
    (always for the first dimension, the leaves being sorted), else by Kahan's
    compensated sum in leaf order.
    """
    if (codes[1:] >= codes[:-1]).all():
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        return np.array([np.add.reduceat(row, starts) for row in values])
    if values.size <= _LOOP_LIMIT:
        return _kahan_sums(codes, n_members, values)
    grouped = pd.DataFrame(values.T).groupby(codes, sort=True).sum()
    sums: np.ndarray = grouped.to_numpy().T
    return sums


def _kahan_sums(codes: np.ndarray, n_members: int, values: np.ndarray) -> np.ndarray:
    """Kahan sums per member, in leaf order: pandas' group_sum in Python floats."""
    members = codes.tolist()
    sums = []
    for row in values.tolist():
        total = [0.0] * n_members
        carry = [0.0] * n_members
        for member, value in zip(members, row, strict=True):
            step = value - carry[member]
            new = total[member] + step
            lost = (new - total[member]) - step
            # An infinite sum makes the carry NaN; pandas drops it.
            carry[member] = lost if lost == lost else 0.0
            total[member] = new
        sums.append(total)
    return np.array(sums, dtype=np.float64).reshape(len(sums), n_members)


def rank_segments(
    frame: pd.DataFrame,
    metric_col: str | None = None,
    *,
    date_col: str = "day",
    dimensions: Sequence[str],
    date_target: object,
    date_base: object = None,
    max_depth: int | None = None,
    numerator: str | None = None,
    denominator: str | None = None,
    min_share: float = MIN_SHARE,
) -> RankSegmentsResult:
    """Break down the KPI's change by segment and find its root causes.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long table: one row per date and segment, with ``date_col``, the
        ``dimensions`` columns and additive measures (e.g. coin_in in dollars).
    metric_col : str, optional
        The additive KPI. For a ratio KPI it is only a label (default
        ``"numerator/denominator"``).
    date_col : str
        The date column.
    dimensions : sequence of str
        Dimension columns, in the order used in segment strings.
    date_target : str, date, datetime or Timestamp
        D, the day explained.
    date_base : str, date, datetime or Timestamp, optional
        B, the day compared with; default D - 7 days.
    max_depth : int, optional
        Deepest root-cause segment (number of fixed dimensions),
        1 to ``len(dimensions)``; default 3, or the number of dimensions if
        fewer.
    numerator, denominator : str, optional
        Additive columns of a ratio KPI (hold: actual_win / coin_in). Both or
        neither; denominators must not be negative.
    min_share : float
        Smallest share of the change a root cause must carry, in [0, 1)
        (default 0.01): a segment whose own change is below ``min_share``
        times the larger of the total change and the root causes' summed
        changes is not reported as a root cause, however significant.

    Returns
    -------
    RankSegmentsResult
        ``breakdown`` (per dimension and member) and ``table`` (ranked
        segments, root-cause set marked ``is_root_cause``).

    Raises
    ------
    InputError
        Empty frame, missing or non-numeric columns, duplicate date and
        segment, D or B absent or B after D, bad ``max_depth``, a numerator
        without denominator, negative denominators.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "day": ["2019-07-10"] * 4 + ["2019-07-17"] * 4,
    ...     "zone": ["Z1", "Z1", "Z2", "Z2"] * 2,
    ...     "denom": ["0.01", "1.00"] * 4,
    ...     "coin_in": [100.0, 200.0, 300.0, 400.0, 100.0, 200.0, 150.0, 200.0],
    ... })
    >>> result = rank_segments(frame, "coin_in", dimensions=["zone", "denom"],
    ...                        date_target="2019-07-17")
    >>> float(result.breakdown.loc[1, "share_of_change"])  # zone Z2
    1.0
    >>> result.root_causes
    ('zone=Z2',)
    """
    if max_depth is None and isinstance(dimensions, Sequence):
        max_depth = min(3, max(len(dimensions), 1))
    measures = _check_parameters(
        dimensions,
        metric_col=metric_col,
        date_col=date_col,
        max_depth=max_depth,
        numerator=numerator,
        denominator=denominator,
    )
    min_share = check_min_share(min_share)
    dims = [str(d) for d in dimensions]
    rows = _table_rows(frame, date_col=date_col, dims=dims, measures=measures)
    window = resolve_window(
        rows.dates,
        date_target=date_target,
        date_base=date_base,
        history_weeks=1,
        min_history=0,
    )
    leaves = _leaf_arrays(rows, window, measures)
    parameters = {
        "metric_col": metric_col,
        "date_col": date_col,
        "dimensions": dims,
        "date_target": window.target.date().isoformat(),
        "date_base": window.base.date().isoformat(),
        "max_depth": int(max_depth),
        "min_share": min_share,
        "numerator": numerator,
        "denominator": denominator,
    }
    if numerator is not None and denominator is not None:
        label = metric_col if metric_col is not None else f"{numerator}/{denominator}"
        return _rank_ratio(
            leaves, dims, window, parameters, label, numerator, denominator
        )
    return _rank_additive(leaves, dims, window, parameters, str(metric_col))


def _localize(
    leaves: _Leaves,
    dims: list[str],
    real: np.ndarray,
    predict: np.ndarray,
    parameters: dict[str, Any],
) -> SegmentRows:
    # What localize_root_causes would check of this leaf table; the rest
    # (distinct leaves, options) holds by construction.
    check_finite("real", real)
    check_finite("predict", predict)
    return find_segments(
        leaves.codes,
        leaves.labels,
        dims,
        real,
        predict,
        max_depth=int(parameters["max_depth"]),
        min_share=float(parameters["min_share"]),
    )


def _segment_sums(values: np.ndarray, found: SegmentRows) -> np.ndarray:
    """Each segment's sum of the leaf ``values``, float64 (object when none)."""
    sums = [float(values[mask].sum()) for mask in found.masks]
    # An empty table keeps the object columns pandas gave it before.
    return np.array(sums, dtype=np.float64 if sums else object)


def _segment_column(values: tuple[Any, ...], dtype: type) -> np.ndarray:
    return np.array(values, dtype=dtype if values else object)


def _share(delta: np.ndarray | float, total_delta: float) -> Any:
    if total_delta == 0:
        return np.full(np.shape(delta), np.nan) if np.ndim(delta) else math.nan
    return np.asarray(delta) / total_delta if np.ndim(delta) else delta / total_delta


def _pct(base: float, delta: float) -> float:
    return delta / abs(base) if base != 0 else math.nan


def _did_not_move_note(total_delta: float, notes: list[str], metric: str) -> None:
    if total_delta == 0:
        message = (
            f"the KPI {metric!r} did not move between the two days: shares of the "
            "change are undefined (NaN)"
        )
        notes.append(message)
        warnings.warn(message, DegenerateInputWarning, stacklevel=4)


def _rank_additive(
    leaves: _Leaves,
    dims: list[str],
    window: DateWindow,
    parameters: dict[str, Any],
    metric: str,
) -> RankSegmentsResult:
    base, target = leaves.base[0], leaves.target[0]
    total_base, total_target = float(base.sum()), float(target.sum())
    total_delta = total_target - total_base
    notes: list[str] = []
    _did_not_move_note(total_delta, notes, metric)

    breakdown = _additive_breakdown(leaves, dims, total_delta, notes)
    found = _localize(leaves, dims, target, base, parameters)
    value_base = _segment_sums(base, found)
    value_target = _segment_sums(target, found)
    delta = value_target - value_base
    columns = {
        "value_base": value_base,
        "value_target": value_target,
        "delta": delta,
        "share_of_change": _share(delta, total_delta),
    }
    table = _segment_table(found, columns, notes)
    kpi = {
        "metric": metric,
        "value_base": total_base,
        "value_target": total_target,
        "delta": total_delta,
        "pct_change": _pct(total_base, total_delta),
    }
    return RankSegmentsResult(
        table=table,
        breakdown=breakdown,
        kpi=kpi,
        parameters=parameters,
        dates=window,
        notes=tuple(notes),
        noise_scale=found.noise_scale,
    )


def _segment_table(
    found: SegmentRows, columns: dict[str, np.ndarray], notes: list[str]
) -> pd.DataFrame:
    """The ranked segments, from the search's rows and the values ``columns``."""
    table = {
        "segment": _segment_column(found.segments, object),
        "depth": _segment_column(found.depths, np.int64),
        **{name: columns[name] for name in TABLE_COLUMNS[2:6]},
        "score": _segment_column(found.scores, np.float64),
        "rank": np.arange(1, len(found.segments) + 1),
        "is_root_cause": _segment_column(found.is_root_cause, bool),
    }
    if "contribution" in columns:
        table["contribution"] = columns["contribution"]
    if not any(found.is_root_cause):
        notes.append(
            "no segment stands out from the noise: the change is spread over the floor"
        )
    return pd.DataFrame(table)


def _additive_breakdown(
    leaves: _Leaves, dims: list[str], total_delta: float, notes: list[str]
) -> pd.DataFrame:
    values = np.vstack([leaves.base, leaves.target])
    parts: dict[str, list[np.ndarray]] = {c: [] for c in BREAKDOWN_COLUMNS[2:]}
    for position in range(len(dims)):
        base, target = _dimension_sums(leaves, position, values)
        parts["value_base"].append(base)
        parts["value_target"].append(target)
        parts["surprise"].append(surprise_terms(base, target))
    columns = {name: np.concatenate(part) for name, part in parts.items() if part}
    columns["delta"] = columns["value_target"] - columns["value_base"]
    columns["share_of_change"] = _share(columns["delta"], total_delta)
    if np.isnan(columns["surprise"]).any():
        notes.append(
            "surprise is undefined (NaN) where values are negative or a day's "
            "total is 0: shares of a total need non-negative parts"
        )
    return _breakdown_frame(leaves, dims, columns, BREAKDOWN_COLUMNS)


def _dimension_sums(leaves: _Leaves, position: int, values: np.ndarray) -> np.ndarray:
    """The rows of ``values`` summed per member of dimension ``position``."""
    codes = leaves.codes[:, position]
    return _member_sums(codes, len(leaves.labels[position]), values)


def _breakdown_frame(
    leaves: _Leaves,
    dims: list[str],
    columns: dict[str, np.ndarray],
    names: list[str],
) -> pd.DataFrame:
    counts = [len(labels) for labels in leaves.labels]
    frame = {
        "dimension": np.repeat(np.array(dims, dtype=object), counts),
        "member": np.concatenate(leaves.labels),
    }
    return pd.DataFrame({**frame, **{name: columns[name] for name in names[2:]}})


def _ratio_contribution(
    sums: np.ndarray, floor_ratio: float, target_den: float
) -> np.ndarray:
    """Contributions from rows of numerator and denominator sums (B, then D)."""
    num_base, den_base, num_target, den_target = sums
    target_gap = num_target - floor_ratio * den_target
    base_gap = num_base - floor_ratio * den_base
    return np.asarray((target_gap - base_gap) / target_den, dtype=np.float64)


def _ratio_of(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    safe = np.where(den != 0, den, 1.0)
    return np.where(den != 0, num / safe, np.nan)


def _rank_ratio(
    leaves: _Leaves,
    dims: list[str],
    window: DateWindow,
    parameters: dict[str, Any],
    label: str,
    num: str,
    den: str,
) -> RankSegmentsResult:
    _check_denominators(leaves, den)
    # Rows: numerator and denominator on B, then on D.
    totals = np.vstack([leaves.base, leaves.target])
    sums = [float(row.sum()) for row in totals]
    floor_base = float(sums[0] / sums[1])
    floor_target = float(sums[2] / sums[3])
    total_delta = floor_target - floor_base
    target_den = sums[3]
    notes: list[str] = []
    _did_not_move_note(total_delta, notes, label)

    breakdown = _ratio_breakdown(leaves, dims, floor_base, target_den, total_delta)
    real, predict = ratio_leaf_values(*totals)
    found = _localize(leaves, dims, real, predict, parameters)
    columns = _ratio_columns(found, totals, floor_base, target_den)
    columns["share_of_change"] = _share(columns["contribution"], total_delta)
    table = _segment_table(found, columns, notes)
    kpi = {
        "metric": label,
        "numerator": num,
        "denominator": den,
        "value_base": floor_base,
        "value_target": floor_target,
        "delta": total_delta,
        "pct_change": _pct(floor_base, total_delta),
    }
    return RankSegmentsResult(
        table=table,
        breakdown=breakdown,
        kpi=kpi,
        parameters=parameters,
        dates=window,
        notes=tuple(notes),
        noise_scale=found.noise_scale,
    )


def _check_denominators(leaves: _Leaves, den: str) -> None:
    values = np.column_stack([leaves.base[1], leaves.target[1]])
    negative = values[values < 0]
    if negative.size:
        raise ColumnError(
            f"denominator column {den!r} has {negative.size} negative value(s) on "
            f"the two days compared (first {float(negative[0])!r}); a ratio KPI "
            "needs non-negative denominators"
        )
    if (values.sum(axis=0) == 0).any():
        raise ColumnError(
            f"denominator column {den!r} sums to 0 on one of the two days: "
            "the ratio is undefined"
        )


def _ratio_breakdown(
    leaves: _Leaves,
    dims: list[str],
    floor_base: float,
    target_den: float,
    total_delta: float,
) -> pd.DataFrame:
    values = np.vstack([leaves.base, leaves.target])
    parts: dict[str, list[np.ndarray]] = {
        c: [] for c in ("value_base", "value_target", "surprise", "contribution")
    }
    for position in range(len(dims)):
        sums = _dimension_sums(leaves, position, values)
        parts["value_base"].append(_ratio_of(sums[0], sums[1]))
        parts["value_target"].append(_ratio_of(sums[2], sums[3]))
        # Adtributor's rule for derived measures: add the surprise of the parts.
        parts["surprise"].append(
            surprise_terms(sums[0], sums[2]) + surprise_terms(sums[1], sums[3])
        )
        parts["contribution"].append(_ratio_contribution(sums, floor_base, target_den))
    columns = {name: np.concatenate(part) for name, part in parts.items()}
    columns["delta"] = columns["value_target"] - columns["value_base"]
    columns["share_of_change"] = _share(columns["contribution"], total_delta)
    return _breakdown_frame(leaves, dims, columns, [*BREAKDOWN_COLUMNS, "contribution"])


def _ratio_columns(
    found: SegmentRows, totals: np.ndarray, floor_base: float, target_den: float
) -> dict[str, np.ndarray]:
    sums = np.array(
        [[row[mask].sum() for mask in found.masks] for row in totals],
        dtype=np.float64,
    ).reshape(len(totals), len(found.masks))
    value_base = _ratio_of(sums[0], sums[1])
    value_target = _ratio_of(sums[2], sums[3])
    return {
        "value_base": value_base,
        "value_target": value_target,
        "delta": value_target - value_base,
        "contribution": _ratio_contribution(sums, floor_base, target_den),
    }
