"""rank_metrics: which metrics moved with the KPI between a base date and a target date.

The formulas of the seed methods (``bestranks``, ``worstranks``, ``absranks``) are
those of METHOD.md section 1. The default method, ``linkranks``, is this project's
own; ``docs/method-metrics.md`` explains its design and ``docs/accuracy-metrics.md``
gives its measured accuracy against ``bestranks``.

The module also holds :class:`WideTable`, the validated view of a wide daily table
that :mod:`analytics._significance` uses too: it checks the input once and then
hands out float64 arrays of only the dates an explanation needs, so one explanation
of 100 metrics over two years of daily data stays in the low milliseconds.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

# pandas-stubs does not cover pandas.api.internals yet; the function is public.
from pandas.api.internals import (  # type: ignore[import-not-found]
    create_dataframe_from_blocks,
)

from analytics._frames import (
    DateWindow,
    _as_dates,
    _as_numeric,
    check_columns,
    resolve_window,
)
from analytics.errors import (
    ColumnError,
    DegenerateInputWarning,
    DuplicateKeyError,
    InputError,
    InsufficientHistoryError,
    ParameterError,
)

__all__ = [
    "DEFAULT_METHOD",
    "IDENTITIES",
    "LINK_T_FULL",
    "LINK_T_START",
    "METHODS",
    "SCALED_BY_KPI",
    "RankMetricsResult",
    "WideTable",
    "load_wide_table",
    "nanmedian_columns",
    "rank_metrics",
]

DEFAULT_METHOD = "linkranks"
METHODS: tuple[str, ...] = ("linkranks", "bestranks", "worstranks", "absranks")

# linkranks: a metric's link weight rises linearly from 0 at |t| = LINK_T_START to 1
# at |t| = LINK_T_FULL, t being the t-statistic of the Pearson correlation between
# its daily week-over-week deltas and the KPI's. Under no link t is about N(0, 1):
# 2 is the usual 5% two-sided line; |t| >= 4 happens by chance once in 16,000.
LINK_T_START = 2.0
LINK_T_FULL = 4.0
LINK_MIN_DELTAS = 4

# Exact identities of the slot floor (DOMAIN.md). A metric that is a part of the
# KPI in a verified identity is linked to it by construction, however little it
# varied in the past. An identity is used only when it holds on the compared dates
# within IDENTITY_TOLERANCE (relative), so a column that merely shares a name with
# a part is not trusted blindly.
IDENTITIES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "coin_in": (
        ("sum", ("coin_in_carded", "coin_in_uncarded")),
        ("product", ("games_played", "avg_bet")),
    ),
}
IDENTITY_TOLERANCE = 0.01

# Metrics that are the KPI times a ratio (DOMAIN.md): carded play is coin-in times
# the carded share, theo win is coin-in times the theoretical hold. All they can add
# to an explanation is the move of that ratio, so linkranks judges them by their
# change beyond proportional to the KPI, not by their raw change, which mostly
# repeats the KPI's.
SCALED_BY_KPI: dict[str, tuple[str, ...]] = {
    "coin_in": ("coin_in_carded", "coin_in_uncarded", "theo_win"),
}
MAD_TO_SD = 1.4826

CORR_MIN_DELTAS = 3
_TIE_DIGITS = 9

RANKED_COLUMNS = (
    "metric",
    "rank",
    "value_base",
    "value_target",
    "delta",
    "pct_change",
    "norm_base",
    "norm_target",
    "norm_delta",
    "score",
    "direction",
    "corr_hist",
    "link",
    "link_source",
    "move_z",
    "linked_score",
    "contribution",
    "mean_hist",
    "sd_hist",
    "n_hist",
)


@dataclass(frozen=True)
class WideTable:
    """A validated wide daily table: one row per date, KPI and candidate metrics.

    Attributes
    ----------
    frame : pandas.DataFrame
        The caller's frame, untouched (values are read lazily by :meth:`values_at`).
    days : numpy.ndarray
        The frame's dates as ``datetime64[D]``, row by row.
    metric_col : str
        The KPI column.
    metrics : tuple of str
        The candidate metric columns, in the frame's (or the caller's) order.
    ignored : tuple of (str, str)
        Columns left out of the candidates, with the reason (non-numeric).
    window : DateWindow
        D, B and the history window H.
    positions : tuple of int
        Column positions of the KPI and the metrics in ``frame``.
    block : numpy.ndarray or None
        Every row of the KPI and the metrics as float64 when the frame's columns
        are all plain NumPy numbers or dates (read in one copy); None otherwise.
    """

    frame: pd.DataFrame
    days: np.ndarray
    metric_col: str
    metrics: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]
    window: DateWindow
    positions: tuple[int, ...]
    block: np.ndarray | None = None

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The frame's dates normalised to midnight, row by row."""
        return pd.DatetimeIndex(self.days.astype("datetime64[ns]"))

    def rows_of(self, days: np.ndarray) -> np.ndarray:
        """Row positions of ``days`` (datetime64 values) in the frame, -1 if absent."""
        wanted = np.asarray(days, dtype="datetime64[D]").view("int64")
        numbers = self.days.view("int64")
        if numbers.size > 1 and bool((numbers[1:] > numbers[:-1]).all()):
            at = np.minimum(np.searchsorted(numbers, wanted), len(numbers) - 1)
            return np.where(numbers[at] == wanted, at, -1)
        order = np.argsort(numbers, kind="stable")
        at = np.clip(np.searchsorted(numbers[order], wanted), 0, len(order) - 1)
        return np.where(numbers[order][at] == wanted, order[at], -1)

    def values_at(self, days: np.ndarray) -> np.ndarray:
        """Return the KPI and the metrics at ``days`` as float64, NaN where absent.

        The result has shape ``(len(days), 1 + len(metrics))``; column 0 is the KPI.

        Raises
        ------
        ColumnError
            A value at one of ``days`` is infinite.
        """
        rows = self.rows_of(days)
        absent = rows < 0
        if self.block is not None:
            values: np.ndarray = self.block[np.maximum(rows, 0)]
        else:
            values = self._frame_rows(rows)
        if absent.any():
            values[absent] = np.nan
        if np.isinf(values).any():  # rare: then name the columns
            infinite = np.isinf(values).any(axis=0)
            names = [n for n, bad in zip(self.names, infinite, strict=True) if bad]
            raise ColumnError(
                f"column(s) {', '.join(map(repr, names))} hold infinite values on "
                "the compared dates; replace them with a number or NaN"
            )
        return values

    def _frame_rows(self, rows: np.ndarray) -> np.ndarray:
        found = rows[rows >= 0]
        first = int(found.min()) if found.size else 0
        last = int(found.max()) if found.size else 0
        # One rectangular block (slices are far cheaper than fancy indexing in
        # pandas), then the wanted rows in NumPy.
        columns: slice | list[int] = list(self.positions)
        if self.positions == tuple(range(self.positions[0], self.positions[-1] + 1)):
            columns = slice(self.positions[0], self.positions[-1] + 1)
        block = self.frame.iloc[first : last + 1, columns]
        block_values = block.to_numpy(dtype="float64", na_value=np.nan)
        picked: np.ndarray = block_values[np.maximum(rows - first, 0)]
        return picked

    @property
    def names(self) -> tuple[str, ...]:
        """The KPI followed by the candidate metrics: the columns of values_at."""
        return (self.metric_col, *self.metrics)


def _check_dates(frame: pd.DataFrame, date_col: str, dtype: Any) -> np.ndarray:
    """The date column as datetime64[D], row by row; DuplicateKeyError on repeats."""
    # A plain NumPy datetime column is read with ``values``, which hands out its
    # array as is (``to_numpy`` costs as much again); tz-aware and other
    # columns go the shared way below.
    plain = isinstance(dtype, np.dtype) and dtype.kind == "M"
    raw = frame[date_col].values if plain else None
    if (
        isinstance(raw, np.ndarray)
        and raw.dtype.kind == "M"
        and not np.isnat(raw).any()
    ):
        # Fast path for the common case; everything else goes the shared way.
        days = raw.astype("datetime64[D]")
    else:
        shared = _as_dates(frame[date_col], date_col=date_col)
        days = shared.to_numpy().astype("datetime64[D]")
    numbers = days.view("int64")
    if numbers.size > 1 and not bool((numbers[1:] > numbers[:-1]).all()):
        ordered = np.sort(numbers)
        repeats = ordered[1:][ordered[1:] == ordered[:-1]]
        if repeats.size:
            duplicated = np.isin(numbers, repeats)
            first = str(days[duplicated][0])
            raise DuplicateKeyError(
                f"{int(duplicated.sum())} rows share a date (first: {first!r}); "
                "aggregate the data to one row per date before explaining it"
            )
    return days


def _is_numeric(dtype: Any) -> bool:
    # Integer, unsigned and float kinds, NumPy or pandas nullable; not bool.
    return getattr(dtype, "kind", "O") in "iuf"


def _candidates(
    frame: pd.DataFrame,
    *,
    date_col: str,
    metric_col: str,
    metrics: Sequence[str] | None,
    dtypes: dict[str, Any],
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    if metrics is None:
        # A wide table has a hundred columns but a few dtypes: judge each dtype
        # once, then pick the columns by a lookup.
        numeric = {dtype: _is_numeric(dtype) for dtype in set(dtypes.values())}
        others = [(n, d) for n, d in dtypes.items() if n not in (date_col, metric_col)]
        picked = tuple(name for name, dtype in others if numeric[dtype])
        left_out = tuple(
            (name, f"not numeric (dtype {dtype})")
            for name, dtype in others
            if not numeric[dtype]
        )
        return picked, left_out

    if isinstance(metrics, str):
        raise ParameterError(f"metrics must be a list of column names, got {metrics!r}")
    asked = list(metrics)
    for bad in (date_col, metric_col):
        if bad in asked:
            raise ParameterError(
                f"metrics must not include {bad!r}: it is the date or the KPI column"
            )
    repeated = sorted({m for m in asked if asked.count(m) > 1})
    if repeated:
        raise ParameterError(f"metrics names {repeated!r} more than once")
    check_columns(frame, asked, role="metric")
    for name in asked:
        if not _is_numeric(dtypes[name]):
            _as_numeric(frame, name, role="metric")  # raises the shared message
    return tuple(asked), ()


def _plain_block(
    frame: pd.DataFrame, dtypes: list[Any], positions: list[int]
) -> np.ndarray | None:
    """The columns at ``positions`` as one float64 array, or None.

    Converting the whole frame in one ``to_numpy`` is several times cheaper than
    slicing it in pandas, but only safe when every column is a plain NumPy
    number or date (no strings, no extension types that could raise or warn).
    """
    plain = all(isinstance(d, np.dtype) and d.kind in "iufM" for d in set(dtypes))
    if not plain:
        return None
    everything = frame.to_numpy(dtype="float64")
    if positions == list(range(positions[0], positions[-1] + 1)):
        block: np.ndarray = everything[:, positions[0] : positions[-1] + 1]
        return block
    picked: np.ndarray = everything[:, positions]
    return picked


def _check_frame(data: object, *, date_col: str, metric_col: str) -> None:
    """Raise unless ``data`` is a non-empty frame with the date and KPI columns."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(data).__name__}")
    if data.empty:
        raise InputError("the data is empty: no rows to explain")
    if not data.columns.is_unique:
        repeated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        raise ColumnError(f"column name(s) {repeated!r} appear more than once")
    check_columns(data, [date_col], role="date")
    check_columns(data, [metric_col], role="KPI")
    if metric_col == date_col:
        raise ParameterError(f"metric_col={metric_col!r} is the date column")


def _numeric_columns(
    names: list[str], dtype_list: list[Any], *, date_col: str, metric_col: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], list[int]]:
    """What :func:`_candidates` picks with ``metrics=None``, with positions.

    Returns the candidates, the columns left out (with the reason) and the
    column positions of the KPI and the candidates. The same answer as
    _candidates in a few passes of C loops over the column list: a wide table
    has a hundred columns but a few dtypes.
    """
    numeric = {dtype: _is_numeric(dtype) for dtype in set(dtype_list)}
    flags = list(map(numeric.__getitem__, dtype_list))
    skip = (names.index(date_col), names.index(metric_col))
    everyone = range(len(names))
    picked = [i for i in itertools.compress(everyone, flags) if i not in skip]
    left_out = tuple(
        (names[i], f"not numeric (dtype {dtype_list[i]})")
        for i in itertools.compress(everyone, map(operator.not_, flags))
        if i not in skip
    )
    return tuple(names[i] for i in picked), left_out, [skip[1], *picked]


def load_wide_table(
    data: pd.DataFrame,
    *,
    metric_col: str,
    date_target: object,
    date_base: object = None,
    date_col: str = "date",
    metrics: Sequence[str] | None = None,
    history_weeks: int = 13,
) -> WideTable:
    """Validate a wide daily table once and resolve the dates of one explanation.

    Raises
    ------
    InputError
        Not a DataFrame, empty, missing or non-numeric columns, duplicate dates,
        D or B absent or in the wrong order, fewer than 4 dates in H, no candidate.
    """
    _check_frame(data, date_col=date_col, metric_col=metric_col)
    # Lists, not the Index: iterating pandas' string Index is slow in pandas 3.
    names = list(map(str, data.columns.tolist()))
    dtype_list = data.dtypes.tolist()
    dtypes = dict(zip(names, dtype_list, strict=True))
    if not _is_numeric(dtypes[metric_col]):
        _as_numeric(data, metric_col, role="KPI")  # raises the shared message
    if metrics is None and len(dtypes) == len(names):
        chosen, ignored, positions = _numeric_columns(
            names, dtype_list, date_col=date_col, metric_col=metric_col
        )
    else:
        chosen, ignored = _candidates(
            data,
            date_col=date_col,
            metric_col=metric_col,
            metrics=metrics,
            dtypes=dtypes,
        )
        where = {name: i for i, name in enumerate(names)}
        positions = [where[name] for name in (metric_col, *chosen)]
    days = _check_dates(data, date_col, dtypes[date_col])

    window = resolve_window(
        days,
        date_target=date_target,
        date_base=date_base,
        history_weeks=history_weeks,
    )
    return WideTable(
        frame=data,
        days=days,
        metric_col=metric_col,
        metrics=chosen,
        ignored=ignored,
        window=window,
        positions=tuple(positions),
        block=_plain_block(data, dtype_list, positions),
    )


def require_kpi_values(values: np.ndarray, window: DateWindow, metric_col: str) -> None:
    """Raise when the KPI (column 0) is NaN at D (row 0) or B (row 1)."""
    for row, (name, day) in enumerate(
        (("date_target", window.target), ("date_base", window.base))
    ):
        if np.isnan(values[row, 0]):
            raise ColumnError(
                f"the KPI {metric_col!r} has no value (NaN) at "
                f"{name}={day.date().isoformat()!r}; it cannot be explained there"
            )


def _check_method(method: object) -> str:
    name = method.strip().lower() if isinstance(method, str) else None
    if name not in METHODS:
        raise ParameterError(
            f"method={method!r} is not known; choose one of {', '.join(METHODS)}"
        )
    return name


@dataclass(frozen=True)
class RankMetricsResult:
    """The ranked metrics of one explanation.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per ranked metric, first rank first; columns
        :data:`RANKED_COLUMNS`.
    kpi : dict
        The KPI: metric, value_base, value_target, delta, pct_change, mean_hist,
        sd_hist, n_hist and norm_delta.
    parameters : dict
        The parameters as used (method in lower case).
    dates : DateWindow
        D, B and the history window H.
    notes : tuple of str
        Plain-language remarks: a KPI that did not move, identities used, ...
    skipped : dict
        {metric: reason} for every candidate that could not be ranked and every
        non-numeric column left out.
    """

    table: pd.DataFrame
    kpi: dict[str, Any]
    parameters: dict[str, Any]
    dates: DateWindow
    notes: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """The method the table is ordered by."""
        return str(self.parameters["method"])

    @property
    def kpi_moved(self) -> bool:
        """False when the KPI's norm_delta is 0, so that every score is 0."""
        return bool(self.kpi["norm_delta"] != 0)

    def top(self, n: int = 3) -> list[str]:
        """Return the names of the first ``n`` ranked metrics."""
        return [str(m) for m in self.table["metric"].head(n)]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN as None, dates as ISO strings)."""
        return {
            "module": "rank_metrics",
            "parameters": json_ready(self.parameters),
            "dates": self.dates.as_dict(),
            "kpi": json_ready(self.kpi),
            "rows": table_records(self.table),
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
        }


def json_ready(value: Any) -> Any:
    """Plain Python values for JSON: NumPy scalars unwrapped, NaN and inf as None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def table_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``table`` as JSON-ready dicts."""
    records: list[dict[str, Any]] = json_ready(table.to_dict(orient="records"))
    return records


def frame_from_arrays(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The frame ``pd.DataFrame(columns)`` builds, built as pandas' blocks directly.

    Parameters
    ----------
    columns : dict of str to numpy.ndarray
        Equal-length 1-D NumPy arrays. NumPy strings, and object arrays that hold
        only strings, become pandas' default string dtype; other object arrays
        (an empty one too) stay object, as the constructor infers.

    Returns
    -------
    pandas.DataFrame
        The same columns, dtypes and values as ``pd.DataFrame(columns)``.

    Notes
    -----
    The constructor checks and infers every column on its own and then
    consolidates them, which cost more than all the formulas of one
    explanation. Here the NumPy columns of one dtype are stacked into one
    block and each text column becomes a string array, as the constructor
    would lay them out.
    """
    arrays = list(columns.values())
    rows = len(arrays[0]) if arrays else 0
    text = [i for i, values in enumerate(arrays) if _is_text(values)]
    same_dtype: dict[np.dtype[Any], list[int]] = {}
    for i, values in enumerate(arrays):
        if i not in text:
            same_dtype.setdefault(values.dtype, []).append(i)
    blocks: list[tuple[Any, np.ndarray]] = [
        (_stacked([arrays[i] for i in where]), np.array(where))
        for where in same_dtype.values()
    ]
    # pandas' "str" made directly: looking the alias up costs more than a column.
    string = pd.StringDtype(na_value=np.nan)
    if text:
        columns_text = _text_columns([arrays[i] for i in text], string)
        blocks.extend(zip(columns_text, _places(text), strict=True))
    # A copy of the cached labels, so that renaming one frame's columns
    # cannot rename another's.
    labels = _labels(tuple(columns), string.storage).copy()
    frame: pd.DataFrame = create_dataframe_from_blocks(
        blocks, index=pd.RangeIndex(rows), columns=labels
    )
    return frame


def _text_columns(arrays: list[np.ndarray], text: pd.StringDtype) -> list[Any]:
    """Equal-length text arrays as pandas string arrays of dtype ``text``.

    With pyarrow storage (pandas' default) the values go into Arrow in one
    call and each column is a slice (a view) of it: pd.array costs as much
    again per column, most of it in a cast to the type the values already
    have. None, NaN and pd.NA become missing, as in pandas.
    """
    if text.storage != "pyarrow":
        return [pd.array(values, dtype=text) for values in arrays]
    rows = len(arrays[0])
    strings = pa.array(np.concatenate(arrays), type=pa.large_string(), from_pandas=True)
    # The constructor's dtype parameter is documented; pandas-stubs lack it.
    return [
        pd.arrays.ArrowStringArray(  # type: ignore[call-arg]
            strings.slice(k * rows, rows), dtype=text
        )
        for k in range(len(arrays))
    ]


def _places(positions: list[int]) -> list[np.ndarray]:
    """Block placements of one column each."""
    return [np.array([i]) for i in positions]


def _stacked(arrays: list[np.ndarray]) -> np.ndarray:
    """Equal-length 1-D arrays of one dtype as the rows of a 2-D array."""
    if arrays[0].dtype.kind == "O":  # np.array would look into the objects
        return np.vstack(arrays)
    # np.array copies the rows in one C loop, np.vstack at twice the cost.
    return np.array(arrays)


@functools.lru_cache(maxsize=16)
def _labels(names: tuple[str, ...], storage: str) -> pd.Index:
    """The column labels as the constructor makes them (a string Index, whose
    construction costs as much as a column of values) with the string
    ``storage`` pandas is set to."""
    return pd.Index(list(names))


def _is_text(values: np.ndarray) -> bool:
    """Whether pandas' constructor would give ``values`` its string dtype."""
    if values.dtype.kind != "O":
        return values.dtype.kind == "U"
    return bool(pd.api.types.infer_dtype(values, skipna=True) == "string")


def nanmedian_columns(values: np.ndarray) -> np.ndarray:
    """Column medians over finite values, NaN for a column without any (no warning)."""
    finite = np.isfinite(values)
    size = values.shape[0]
    if size == 0:
        return np.full(values.shape[1], np.nan)
    if bool(finite.all()):
        # In a transposed copy, where each column is contiguous.
        return _median_rows_inplace(values.T.copy())
    count = finite.sum(axis=0)
    ordered = np.sort(np.where(finite, values, np.inf), axis=0)
    low = np.maximum((count - 1) // 2, 0)[None, :]
    high = np.maximum(count // 2, 0)[None, :]
    with np.errstate(invalid="ignore"):
        middle = (
            np.take_along_axis(ordered, low, axis=0)[0]
            + np.take_along_axis(ordered, high, axis=0)[0]
        ) / 2
    return np.where(count > 0, middle, np.nan)


def _median_rows_inplace(values: np.ndarray) -> np.ndarray:
    """Median of each row of ``values``: all finite, at least one per row.

    The two middle order statistics by partition, the same elements a full sort
    would pick. The rows are partitioned in place: the caller must own
    ``values`` and not need their order.
    """
    size = values.shape[1]
    low, high = (size - 1) // 2, size // 2
    values.partition(sorted({low, high}), axis=1)
    both: np.ndarray = (values[:, low] + values[:, high]) / 2
    return both


def _mad_z_rows(today: np.ndarray, past: np.ndarray) -> np.ndarray:
    """:func:`_mad_z` of log changes ``past`` laid out one column per row.

    ``past`` (``past.T`` in _mad_z's layout) is partitioned in place: a median
    and a MAD need the values, not their order, so the common all-finite case
    costs no copy but the deviations. Anything else goes the NaN-aware way.
    """
    if not past.shape[1] or not bool(np.isfinite(past).all()):
        return _mad_z(today, past.T)
    median = _median_rows_inplace(past)
    # Log changes are bounded, so the deviations are finite too.
    deviation = np.abs(past - median[:, None])
    scale = MAD_TO_SD * _median_rows_inplace(deviation)
    usable = scale > 0 if past.shape[1] >= LINK_MIN_DELTAS else False
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(usable, (today - median) / scale, np.nan)


def _mad_z(today: np.ndarray, past: np.ndarray) -> np.ndarray:
    """(today - median) / (1.4826 MAD) of ``past``, column-wise; NaN when the MAD
    is 0 or fewer than LINK_MIN_DELTAS past values are finite."""
    median = nanmedian_columns(past)
    scale = MAD_TO_SD * nanmedian_columns(np.abs(past - median))
    usable = (scale > 0) & (np.isfinite(past).sum(axis=0) >= LINK_MIN_DELTAS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(usable, (today - median) / scale, np.nan)


def _move_z(
    table: WideTable, target: np.ndarray, base: np.ndarray, span: np.ndarray
) -> np.ndarray:
    """How unusual each metric's move from B to D is, for linkranks.

    The week-over-week log change ln(x_D / x_B) in robust standard deviations of
    the daily week-over-week log changes over the last W weeks (7W of them rather
    than the 13 levels behind norm_delta, and MAD-based so that a holiday in the
    window does not inflate it). Metrics in :data:`SCALED_BY_KPI` use their change
    beyond proportional to the KPI instead, x_D - (x_B / K_B) K_D. NaN where
    neither can be computed (a value <= 0, a constant series); the caller then
    falls back to norm_delta.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        # One series per row, so that the medians partition contiguous rows.
        series = np.ascontiguousarray(span.T)
        past = series[:, 7:] / series[:, :-7]
        np.log(past, out=past)  # in place: spares a temporary of the window's size
        if not series.min() > 0:  # else every log change is defined (NaN fails)
            positive = (series[:, 7:] > 0) & (series[:, :-7] > 0)
            past = np.where(positive, past, np.nan)
        today = np.where((target > 0) & (base > 0), np.log(target / base), np.nan)
        moves = _mad_z_rows(today, past)

        ratios = SCALED_BY_KPI.get(table.metric_col, ())
        scaled = sorted(table.names.index(n) for n in ratios if n in table.metrics)
        if scaled:
            kpi_now, kpi_then = span[7:, :1], span[:-7, :1]
            past = span[7:, scaled] - span[:-7, scaled] / kpi_then * kpi_now
            today = target[scaled] - base[scaled] / base[0] * target[0]
            moves[scaled] = _mad_z(today, past)
    return moves


def _history_stats(history: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean, sample sd (ddof=1) and count over H, column by column, NaN-aware.

    A column whose finite values are all equal gets an sd of exactly 0, so that
    rounding in the mean cannot turn a constant into a tiny positive sd.
    """
    finite = np.isfinite(history)
    complete = bool(finite.all())
    count = _finite_count(finite, complete)
    total = _where_finite(history, finite, complete, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        squares = _where_finite(history - mean, finite, complete, 0.0) ** 2
        sd = np.sqrt(squares.sum(axis=0) / (count - 1))
    high = _where_finite(history, finite, complete, -np.inf).max(axis=0)
    low = _where_finite(history, finite, complete, np.inf).min(axis=0)
    sd = np.where(high == low, 0.0, sd)
    if not complete or history.shape[0] < 2:  # else every count is 2 or more
        sd = np.where(count < 2, np.nan, sd)
    return mean, sd, count


def _finite_count(finite: np.ndarray, complete: bool) -> np.ndarray:
    """Finite values per column; ``complete`` says that all of them are."""
    if complete:
        return np.full(finite.shape[1], finite.shape[0], dtype=np.intp)
    counted: np.ndarray = finite.sum(axis=0)
    return counted


def _where_finite(
    values: np.ndarray, finite: np.ndarray, complete: bool, fill: float
) -> np.ndarray:
    """``values`` with ``fill`` where not finite: the values themselves when
    ``complete`` (all finite), which spares a copy of the common case."""
    if complete:
        return values
    filled: np.ndarray = np.where(finite, values, fill)
    return filled


def pearson_columns(
    kpi: np.ndarray, others: np.ndarray, *, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson r of each column of ``others`` with ``kpi`` over their finite pairs.

    Returns r (NaN with fewer than ``min_count`` pairs or a constant side) and the
    number of pairs, column by column.
    """
    if bool(np.isfinite(kpi).all()) and bool(np.isfinite(others).all()):
        return _pearson_complete(kpi, others, min_count=min_count)
    valid = np.isfinite(others) & np.isfinite(kpi)[:, None]
    count = valid.sum(axis=0)
    x = np.where(valid, others, 0.0)
    y = np.where(valid, kpi[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(valid, x - x.sum(axis=0) / count, 0.0)
        dy = np.where(valid, y - y.sum(axis=0) / count, 0.0)
        sxx = (dx * dx).sum(axis=0)
        syy = (dy * dy).sum(axis=0)
        r = (dx * dy).sum(axis=0) / np.sqrt(sxx * syy)
    r = np.where((count < min_count) | (sxx <= 0) | (syy <= 0), np.nan, r)
    return np.clip(r, -1.0, 1.0), count


def _pearson_complete(
    kpi: np.ndarray, others: np.ndarray, *, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pearson_columns` when every value is finite: fewer passes, same floats.

    With nothing to mask, the masked copies of the general case are the inputs
    themselves. The KPI side is the same in every column, so it is worked out on
    a copy at most two columns wide: NumPy sums the columns of a 2-D array row
    by row whatever its width beyond one, so every float stays as in the
    general case, which works on the full-width copy.
    """
    rows, width = others.shape
    count = np.full(width, rows, dtype=np.intp)
    y = np.repeat(kpi[:, None], min(width, 2), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = others - others.sum(axis=0) / count
        dy = y - y.sum(axis=0) / rows
        sxx = (dx * dx).sum(axis=0)
        syy = (dy * dy).sum(axis=0)[:1]
        r = (dx * dy[:, :1]).sum(axis=0) / np.sqrt(sxx * syy)
    # The pair count and the KPI's spread are the same for every column.
    if rows < min_count or not (width and syy[0] > 0):
        r = np.full(width, np.nan)
    else:
        r = np.where(sxx > 0, r, np.nan)
    return np.minimum(np.maximum(r, -1.0), 1.0), count


def _link_from_history(r: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The link weight in [0, 1] from the t-statistic of r (0 when r is NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(r) * np.sqrt(count - 2.0) / np.sqrt(1.0 - r * r)
    weight = (t - LINK_T_START) / (LINK_T_FULL - LINK_T_START)
    # Clipped to [0, 1] with NaN as 0 (fmax skips NaN): two ufuncs, where
    # nan_to_num and clip cost several times more on a hundred values.
    weight = np.minimum(np.fmax(weight, 0.0), 1.0)
    return np.where(count < LINK_MIN_DELTAS, 0.0, weight)


def _correlations(
    span: np.ndarray, history_rows: list[int], identities: list[_Identity]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """corr_hist, link and link_source from the daily week-over-week deltas.

    corr_hist correlates the deltas of the history dates, the link all of them
    (``span`` holds every day from D - 7W - 7 to D - 1, KPI in column 0).
    """
    daily = span[7:] - span[:-7]
    # One finiteness test serves both correlations; all-finite deltas (the
    # common case) skip the NaN masks, with the same floats.
    complete = bool(np.isfinite(daily).all())
    pearson = _pearson_complete if complete else pearson_columns
    kpi, others = daily[:, 0], daily[:, 1:]
    same_weekday = [row - 7 for row in history_rows[:-1]]
    corr, _ = pearson(
        kpi[same_weekday], others[same_weekday], min_count=CORR_MIN_DELTAS
    )
    r, pairs = pearson(kpi, others, min_count=LINK_MIN_DELTAS)
    link, source = _links(r, pairs, identities)
    return corr, link, source


def _links(
    r: np.ndarray, pairs: np.ndarray, identities: list[_Identity]
) -> tuple[np.ndarray, np.ndarray]:
    """link and link_source of each metric: 1 for identity parts, else from the
    correlation r of the daily week-over-week deltas over ``pairs`` days."""
    link = _link_from_history(r, pairs)
    source = np.where(link > 0, "history", "none").astype(object)
    for identity in identities:
        parts = [c - 1 for c in identity.columns]
        link[parts] = 1.0
        source[parts] = "identity"
    return link, source


@dataclass(frozen=True)
class _Identity:
    kind: str
    parts: tuple[str, ...]
    columns: tuple[int, ...]


def _verified_identities(
    table: WideTable, values: np.ndarray, history: np.ndarray
) -> tuple[list[_Identity], list[str]]:
    """The KPI's identities whose parts are candidates and that hold on D, B and H.

    ``values`` starts with the rows of D and B, ``history`` holds those of H
    (KPI in column 0).
    """
    used: list[_Identity] = []
    notes: list[str] = []
    names = table.names
    checked: np.ndarray | None = None
    for kind, parts in IDENTITIES.get(table.metric_col, ()):
        if not all(p in names for p in parts):
            continue
        if checked is None:  # only when a KPI has its parts among the columns
            checked = np.vstack([values[:2], history])
        columns = tuple(names.index(p) for p in parts)
        block = checked[:, columns]
        rows = np.isfinite(block).all(axis=1) & np.isfinite(checked[:, 0])
        combined = block.sum(axis=1) if kind == "sum" else block.prod(axis=1)
        kpi = checked[rows, 0]
        error = np.abs(kpi - combined[rows]) / np.maximum(np.abs(kpi), 1e-12)
        sign = " + " if kind == "sum" else " x "
        formula = f"{table.metric_col} = {sign.join(parts)}"
        if rows[:2].all() and (error <= IDENTITY_TOLERANCE).all():
            used.append(_Identity(kind=kind, parts=parts, columns=columns))
            notes.append(f"identity {formula} holds on the compared dates: used")
        else:
            notes.append(f"identity {formula} does not hold on the compared dates")
    return used, notes


def _contributions(
    identities: list[_Identity], target: np.ndarray, base: np.ndarray
) -> np.ndarray:
    """Each identity part's share of the KPI's delta (NaN outside identities).

    A sum splits exactly into the parts' deltas. A product is split by the parts'
    log changes, ln(p_D / p_B) / sum of them, times the KPI's delta; NaN when a
    value is not positive or the log changes sum to 0.
    """
    share = np.full(target.shape, np.nan)
    kpi_delta = target[0] - base[0]
    for identity in identities:
        cols = list(identity.columns)
        if identity.kind == "sum":
            share[cols] = target[cols] - base[cols]
            continue
        if (target[cols] <= 0).any() or (base[cols] <= 0).any():
            continue
        logs = np.log(target[cols] / base[cols])
        if logs.sum() != 0:
            share[cols] = kpi_delta * logs / logs.sum()
    return share


def _ties_key(values: np.ndarray) -> np.ndarray:
    """Round to _TIE_DIGITS relative to the largest magnitude: float noise ties."""
    magnitude = np.abs(values)
    top = float(magnitude.max()) if values.size else 0.0
    if not math.isfinite(top):  # NaN or inf among the values: skip them
        finite = magnitude[np.isfinite(values)]
        top = float(finite.max()) if finite.size else 0.0
    scale = top if top > 0 else 1.0
    rounded: np.ndarray = (values / scale).round(_TIE_DIGITS)
    return rounded


def _order(method: str, frame: dict[str, np.ndarray]) -> np.ndarray:
    """Row order: the method's key, then abs(norm_delta) descending, then the name.

    The names come as their places in sorted order (``name_rank``).
    """
    keys = [frame["name_rank"], -_ties_key(np.abs(frame["norm_delta"]))]
    if method == "bestranks":
        keys.append(-_ties_key(frame["score"]))
    elif method == "worstranks":
        keys.append(_ties_key(frame["score"]))
    elif method == "linkranks":
        keys.append(-_ties_key(frame["linked_score"]))
    return np.lexsort(keys)


@functools.lru_cache(maxsize=32)
def _name_ranks(names: tuple[str, ...]) -> np.ndarray:
    """Each name's place in sorted order, the last key of the rank order.

    Cached: a wide table's metric names repeat from call to call, and sorting
    a hundred strings costs more than the rest of the order.
    """
    ranks = np.empty(len(names), dtype=np.intp)
    ranks[np.argsort(np.array(names, dtype=str), kind="stable")] = np.arange(len(names))
    ranks.flags.writeable = False
    return ranks


def _skip_reasons(
    names: Sequence[str],
    target: np.ndarray,
    base: np.ndarray,
    sd: np.ndarray,
) -> tuple[dict[str, str], np.ndarray]:
    """{metric: why} for the metrics that cannot be ranked, and which can."""
    reasons: dict[str, str] = {}
    flagged = np.isnan(target) | np.isnan(base) | ~(sd > 0)
    for i in np.flatnonzero(flagged):
        name = names[int(i)]
        missing = [
            label
            for label, value in (("target", target[i]), ("base", base[i]))
            if np.isnan(value)
        ]
        if missing:
            reasons[name] = f"no value at the {' and '.join(missing)} date"
        elif np.isnan(sd[i]):
            reasons[name] = "fewer than 2 values in the history window"
        elif sd[i] == 0:
            reasons[name] = "constant over the history window (sd 0)"
    return reasons, ~flagged


def _span_days(window: DateWindow, history_weeks: int) -> np.ndarray:
    """D, B, then every day from D - 7W - 7 to D - 1 (the link's daily deltas)."""
    target = window.target.to_datetime64().astype("datetime64[D]")
    base = window.base.to_datetime64().astype("datetime64[D]")
    span = np.arange(target - 7 * (history_weeks + 1), target, dtype="datetime64[D]")
    return np.concatenate([[target, base], span])


def _direction(delta: np.ndarray) -> np.ndarray:
    return np.where(delta > 0, "up", np.where(delta < 0, "down", "flat"))


def _kpi_scale(
    kpi_delta: float, kpi_sd: float, metric_col: str, notes: list[str]
) -> float:
    """norm_delta of the KPI, with the documented fallbacks for degenerate input."""
    if kpi_delta == 0:
        message = (
            f"the KPI {metric_col!r} did not move (delta 0, norm_delta 0): every "
            "score is 0 and the order only reflects abs(norm_delta)"
        )
        notes.append(message)
        warnings.warn(message, DegenerateInputWarning, stacklevel=4)
        return 0.0
    if kpi_sd == 0:
        message = (
            f"the KPI {metric_col!r} was constant over the history window, so its "
            "norm_delta is infinite: scores use its sign (+1 or -1) instead"
        )
        notes.append(message)
        warnings.warn(message, DegenerateInputWarning, stacklevel=4)
        return float(np.sign(kpi_delta))
    return kpi_delta / kpi_sd


def rank_metrics(
    data: pd.DataFrame,
    *,
    metric_col: str,
    date_target: object,
    date_base: object = None,
    date_col: str = "date",
    metrics: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    history_weeks: int = 13,
) -> RankMetricsResult:
    """Rank the metrics by how they moved with the KPI between B and D.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide daily table: one row per date, one numeric column per metric.
    metric_col : str
        The KPI column, e.g. ``"coin_in"`` (any unit; results are unit-free).
    date_target : date-like
        D, the day being explained.
    date_base : date-like, optional
        B, the comparison day; default D - 7 days.
    date_col : str
        The date column.
    metrics : sequence of str, optional
        Candidate metrics; default every numeric column except the date and KPI
        (non-numeric columns are then listed in ``skipped``, not an error).
    method : str
        One of :data:`METHODS`, case-insensitive. Default ``"linkranks"``.
    history_weeks : int
        W: H holds the same-weekday dates D-7 ... D-7W present in the data.

    Returns
    -------
    RankMetricsResult

    Raises
    ------
    InputError
        Bad columns, dates, history or parameters (subclasses name which).

    Examples
    --------
    >>> import pandas as pd
    >>> days = pd.date_range("2024-01-01", periods=6, freq="7D")
    >>> frame = pd.DataFrame({"date": days, "coin_in": [10, 12, 11, 13, 12, 20],
    ...                       "games": [5, 6, 5, 7, 6, 10]})
    >>> rank_metrics(frame, metric_col="coin_in", date_target="2024-02-05",
    ...              method="bestranks").top(1)
    ['games']
    """
    method_name = _check_method(method)
    table = load_wide_table(
        data,
        metric_col=metric_col,
        date_target=date_target,
        date_base=date_base,
        date_col=date_col,
        metrics=metrics,
        history_weeks=history_weeks,
    )
    if not table.metrics:
        raise ColumnError(
            f"there is no numeric metric to rank besides the KPI {metric_col!r}"
        )
    window = table.window
    values = table.values_at(_span_days(window, history_weeks))
    require_kpi_values(values, window, metric_col)
    parameters = {
        "metric_col": metric_col,
        "date_col": date_col,
        "method": method_name,
        "history_weeks": history_weeks,
        "metrics": list(table.metrics) if metrics is not None else None,
    }
    return _rank(table, values, parameters)


def _rank(
    table: WideTable, values: np.ndarray, parameters: dict[str, Any]
) -> RankMetricsResult:
    window = table.window
    method, history_weeks = parameters["method"], parameters["history_weeks"]
    target, base, span = values[0], values[1], values[2:]
    # Row of day t in ``span`` is (t - span start) in days; H dates sit 7 apart.
    history_rows = [7 * (history_weeks + 1 - k) for k in range(1, history_weeks + 1)]
    history = span[history_rows]
    mean, sd, count = _history_stats(history)
    if count[0] < 2:
        raise InsufficientHistoryError(
            f"the KPI {table.metric_col!r} has {int(count[0])} value(s) in the "
            "history window; at least 2 are needed for its standard deviation"
        )

    notes: list[str] = []
    delta = target - base
    scale = np.where(sd > 0, sd, np.nan)  # sd 0 or NaN: skipped, never infinite
    with np.errstate(invalid="ignore", divide="ignore"):
        norm_base = (base - mean) / scale
        norm_target = (target - mean) / scale
        norm_delta = delta / scale
        pct_change = np.where(base == 0, np.nan, delta / np.abs(base))
    kpi_norm = _kpi_scale(float(delta[0]), float(sd[0]), table.metric_col, notes)
    score = norm_delta * kpi_norm

    identities, identity_notes = _verified_identities(table, values, history)
    notes.extend(identity_notes)
    corr, link, source = _correlations(span, history_rows, identities)
    contribution = _contributions(identities, target, base)
    move = _move_z(table, target, base, span)
    move = np.where(np.isfinite(move), move, norm_delta)[1:]

    kpi = {
        "metric": table.metric_col,
        "value_base": float(base[0]),
        "value_target": float(target[0]),
        "delta": float(delta[0]),
        "pct_change": float(pct_change[0]),
        "mean_hist": float(mean[0]),
        "sd_hist": float(sd[0]),
        "n_hist": float(count[0]),
        "norm_delta": float(kpi_norm),
    }
    columns = {
        "metric": np.array(table.metrics, dtype=object),
        "value_base": base[1:],
        "value_target": target[1:],
        "delta": delta[1:],
        "pct_change": pct_change[1:],
        "norm_base": norm_base[1:],
        "norm_target": norm_target[1:],
        "norm_delta": norm_delta[1:],
        "score": score[1:],
        "direction": _direction(delta[1:]),
        "corr_hist": corr,
        "link": link,
        "link_source": source,
        "move_z": move,
        "linked_score": link * move * np.sign(delta[0]),
        "contribution": contribution[1:],
        "mean_hist": mean[1:],
        "sd_hist": sd[1:],
        "n_hist": count[1:],
    }
    reasons, keep = _skip_reasons(table.metrics, target[1:], base[1:], sd[1:])
    # The kept rows in rank order, picked from every column in one step.
    kept = np.flatnonzero(keep)
    keys = {key: columns[key] for key in ("norm_delta", "score", "linked_score")}
    keys["name_rank"] = _name_ranks(table.metrics)
    if len(kept) == len(keep):  # all ranked: the full columns are the keys
        rows = _order(method, keys)
    else:
        rows = kept[_order(method, {key: key_of[kept] for key, key_of in keys.items()})]
    columns["rank"] = np.arange(1, len(rows) + 1)
    if not keep.any():
        notes.append("no metric could be ranked: see skipped for the reasons")
    ranked = {
        name: columns[name] if name == "rank" else columns[name][rows]
        for name in RANKED_COLUMNS
    }
    return RankMetricsResult(
        table=frame_from_arrays(ranked),
        kpi=kpi,
        parameters=parameters,
        dates=window,
        notes=tuple(notes),
        skipped={**dict(table.ignored), **reasons},
    )
