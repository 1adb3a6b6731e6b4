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
    Localization,
    check_min_share,
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


def _leaf_table(
    clean: pd.DataFrame,
    window: DateWindow,
    *,
    date_col: str,
    dimensions: list[str],
    measures: list[str],
) -> pd.DataFrame:
    """One row per leaf with ``<measure>_base`` and ``<measure>_target``."""
    sides = []
    for suffix, day in (("_base", window.base), ("_target", window.target)):
        rows = clean.loc[clean[date_col] == day, [*dimensions, *measures]]
        empty = rows[measures].isna().sum()
        if empty.any():
            column = str(empty[empty > 0].index[0])
            raise ColumnError(
                f"measure column {column!r} has {int(empty[column])} empty value(s) "
                f"on {day.date().isoformat()}; fill them (e.g. with 0) first"
            )
        sides.append(rows.set_index(dimensions).add_suffix(suffix))
    leaves = sides[0].join(sides[1], how="outer").fillna(0.0)
    return leaves.reset_index()


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
    clean = prepare_daily_frame(
        frame, date_col=date_col, numeric_cols=measures, key_cols=dims, role="measure"
    )
    window = resolve_window(
        clean[date_col],
        date_target=date_target,
        date_base=date_base,
        history_weeks=1,
        min_history=0,
    )
    leaves = _leaf_table(
        clean, window, date_col=date_col, dimensions=dims, measures=measures
    )
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
    leaves: pd.DataFrame,
    dims: list[str],
    real: np.ndarray,
    predict: np.ndarray,
    parameters: dict[str, Any],
) -> Localization:
    aligned = leaves[dims].assign(real=real, predict=predict)
    return localize_root_causes(
        aligned,
        dims,
        max_depth=int(parameters["max_depth"]),
        min_share=float(parameters["min_share"]),
    )


def _segment_masks(leaves: pd.DataFrame, keys: pd.Series) -> list[np.ndarray]:
    masks = []
    for key in keys:
        mask = np.ones(len(leaves), dtype=bool)
        for dimension, member in key:
            mask &= (leaves[dimension] == member).to_numpy()
        masks.append(mask)
    return masks


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
    leaves: pd.DataFrame,
    dims: list[str],
    window: DateWindow,
    parameters: dict[str, Any],
    metric: str,
) -> RankSegmentsResult:
    base = leaves[f"{metric}_base"].to_numpy(dtype=np.float64)
    target = leaves[f"{metric}_target"].to_numpy(dtype=np.float64)
    total_base, total_target = float(base.sum()), float(target.sum())
    total_delta = total_target - total_base
    notes: list[str] = []
    _did_not_move_note(total_delta, notes, metric)

    breakdown = _additive_breakdown(leaves, dims, metric, total_delta, notes)
    found = _localize(leaves, dims, target, base, parameters)
    table = found.candidates.rename(
        columns={"predict": "value_base", "real": "value_target"}
    )
    table["delta"] = table["value_target"] - table["value_base"]
    table["share_of_change"] = _share(table["delta"].to_numpy(), total_delta)
    table = _finish_table(table, notes)
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


def _finish_table(table: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    if not table["is_root_cause"].any():
        notes.append(
            "no segment stands out from the noise: the change is spread over the floor"
        )
    extra = [c for c in ("contribution",) if c in table.columns]
    return table[[*TABLE_COLUMNS, *extra]]


def _additive_breakdown(
    leaves: pd.DataFrame,
    dims: list[str],
    metric: str,
    total_delta: float,
    notes: list[str],
) -> pd.DataFrame:
    parts = []
    negative = False
    for dimension in dims:
        grouped = leaves.groupby(dimension, sort=True)[
            [f"{metric}_base", f"{metric}_target"]
        ].sum()
        base = grouped.iloc[:, 0].to_numpy()
        target = grouped.iloc[:, 1].to_numpy()
        surprise = surprise_terms(base, target)
        negative |= bool(np.isnan(surprise).any())
        parts.append(
            pd.DataFrame(
                {
                    "dimension": dimension,
                    "member": grouped.index.astype(str),
                    "value_base": base,
                    "value_target": target,
                    "delta": target - base,
                    "share_of_change": _share(target - base, total_delta),
                    "surprise": surprise,
                }
            )
        )
    if negative:
        notes.append(
            "surprise is undefined (NaN) where values are negative or a day's "
            "total is 0: shares of a total need non-negative parts"
        )
    return pd.concat(parts, ignore_index=True)[BREAKDOWN_COLUMNS]


def _ratio_contribution(
    sums: pd.DataFrame, num: str, den: str, floor_ratio: float, target_den: float
) -> np.ndarray:
    target_gap = sums[f"{num}_target"] - floor_ratio * sums[f"{den}_target"]
    base_gap = sums[f"{num}_base"] - floor_ratio * sums[f"{den}_base"]
    return np.asarray((target_gap - base_gap) / target_den, dtype=np.float64)


def _ratio_of(numerator: pd.Series, denominator: pd.Series) -> np.ndarray:
    num = numerator.to_numpy(dtype=np.float64)
    den = denominator.to_numpy(dtype=np.float64)
    safe = np.where(den != 0, den, 1.0)
    return np.where(den != 0, num / safe, np.nan)


def _rank_ratio(
    leaves: pd.DataFrame,
    dims: list[str],
    window: DateWindow,
    parameters: dict[str, Any],
    label: str,
    num: str,
    den: str,
) -> RankSegmentsResult:
    _check_denominators(leaves, den)
    totals = leaves[[f"{num}_base", f"{den}_base", f"{num}_target", f"{den}_target"]]
    sums = totals.sum()
    floor_base = float(sums[f"{num}_base"] / sums[f"{den}_base"])
    floor_target = float(sums[f"{num}_target"] / sums[f"{den}_target"])
    total_delta = floor_target - floor_base
    target_den = float(sums[f"{den}_target"])
    notes: list[str] = []
    _did_not_move_note(total_delta, notes, label)

    breakdown = _ratio_breakdown(leaves, dims, num, den, floor_base, target_den)
    breakdown["share_of_change"] = _share(
        breakdown["contribution"].to_numpy(), total_delta
    )
    real, predict = ratio_leaf_values(
        *(leaves[c].to_numpy(dtype=np.float64) for c in totals.columns)
    )
    found = _localize(leaves, dims, real, predict, parameters)
    table = _ratio_table(found, leaves, totals, num, den, floor_base, target_den)
    table["share_of_change"] = _share(table["contribution"].to_numpy(), total_delta)
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
        table=_finish_table(table, notes),
        breakdown=breakdown,
        kpi=kpi,
        parameters=parameters,
        dates=window,
        notes=tuple(notes),
        noise_scale=found.noise_scale,
    )


def _check_denominators(leaves: pd.DataFrame, den: str) -> None:
    values = leaves[[f"{den}_base", f"{den}_target"]].to_numpy(dtype=np.float64)
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
    leaves: pd.DataFrame,
    dims: list[str],
    num: str,
    den: str,
    floor_base: float,
    target_den: float,
) -> pd.DataFrame:
    columns = [f"{num}_base", f"{den}_base", f"{num}_target", f"{den}_target"]
    parts = []
    for dimension in dims:
        sums = leaves.groupby(dimension, sort=True)[columns].sum()
        value_base = _ratio_of(sums[f"{num}_base"], sums[f"{den}_base"])
        value_target = _ratio_of(sums[f"{num}_target"], sums[f"{den}_target"])
        # Adtributor's rule for derived measures: add the surprise of the parts.
        surprise = surprise_terms(
            sums[f"{num}_base"].to_numpy(), sums[f"{num}_target"].to_numpy()
        ) + surprise_terms(
            sums[f"{den}_base"].to_numpy(), sums[f"{den}_target"].to_numpy()
        )
        parts.append(
            pd.DataFrame(
                {
                    "dimension": dimension,
                    "member": sums.index.astype(str),
                    "value_base": value_base,
                    "value_target": value_target,
                    "delta": value_target - value_base,
                    "share_of_change": np.nan,
                    "surprise": surprise,
                    "contribution": _ratio_contribution(
                        sums, num, den, floor_base, target_den
                    ),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[[*BREAKDOWN_COLUMNS, "contribution"]]


def _ratio_table(
    found: Localization,
    leaves: pd.DataFrame,
    totals: pd.DataFrame,
    num: str,
    den: str,
    floor_base: float,
    target_den: float,
) -> pd.DataFrame:
    masks = _segment_masks(leaves, found.candidates["key"])
    sums = pd.DataFrame(
        [totals.loc[mask].sum() for mask in masks], columns=totals.columns
    )
    table = found.candidates[["segment", "depth", "score", "is_root_cause"]].copy()
    table["value_base"] = _ratio_of(sums[f"{num}_base"], sums[f"{den}_base"])
    table["value_target"] = _ratio_of(sums[f"{num}_target"], sums[f"{den}_target"])
    table["delta"] = table["value_target"] - table["value_base"]
    table["contribution"] = _ratio_contribution(sums, num, den, floor_base, target_den)
    return table
