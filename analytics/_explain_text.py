"""One plain-English sentence from the three analytics results.

The sentence is built from the ``to_dict()`` outputs only, so it works the same on
results computed in this process and on results read back from JSON (the pipeline's
tables, the HTTP service's answers). Missing fields are skipped, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

__all__ = ["describe_change", "explain_in_words", "kpi_name", "result_dates"]

_WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def describe_change(metric: str, pct_change: Any, delta: Any = None) -> str:
    """Say how a metric moved: ``"coin_in fell 12.3%"``.

    Parameters
    ----------
    metric : str
        The metric's name, used as written.
    pct_change : float or None
        Relative change as a fraction (-0.123 for a 12.3% fall); None or NaN when
        the base value was 0.
    delta : float or None
        Absolute change, used for the direction when ``pct_change`` is missing.

    Returns
    -------
    str

    Examples
    --------
    >>> describe_change("coin_in", -0.1234)
    'coin_in fell 12.3%'
    >>> describe_change("jackpots", None, 250000.0)
    'jackpots rose from zero'
    """
    pct = _number(pct_change)
    if pct is None:
        change = _number(delta)
        if change is None or change == 0:
            return f"{metric} did not change"
        return f"{metric} {'rose' if change > 0 else 'fell'} from zero"
    if round(abs(pct), 3) == 0:
        return f"{metric} was flat"
    verb = "rose" if pct > 0 else "fell"
    return f"{metric} {verb} {abs(pct):.{1 if abs(pct) < 10 else 0}%}"


def _comparison(dates: Mapping[str, Any]) -> str:
    try:
        target = date.fromisoformat(str(dates["date_target"]))
        base = date.fromisoformat(str(dates["date_base"]))
    except (KeyError, ValueError):
        return ""
    if (target - base).days == 7:
        return f" against last {_WEEKDAYS[base.weekday()]}"
    return f" against {base.isoformat()}"


def _rows(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = result.get("rows")
    return list(rows) if isinstance(rows, list) else []


def result_dates(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the ``dates`` block of a result dict (date_target, date_base, ...)."""
    dates = result.get("dates")
    return dates if isinstance(dates, Mapping) else {}


def kpi_name(result: Mapping[str, Any]) -> str | None:
    """Return the KPI's column name recorded in a result dict, if any."""
    kpi = result.get("kpi")
    if isinstance(kpi, Mapping) and kpi.get("metric"):
        return str(kpi["metric"])
    parameters = result.get("parameters")
    name = parameters.get("metric_col") if isinstance(parameters, Mapping) else None
    return None if name is None else str(name)


def _kpi_row(rows: Sequence[Mapping[str, Any]], metric: str) -> Mapping[str, Any]:
    return next((row for row in rows if row.get("metric") == metric), {})


def _verdict(significance: Mapping[str, Any], metric: str) -> str:
    row = _kpi_row(_rows(significance), metric)
    z = _number(row.get("robust_z"))
    if z is None:
        reason = row.get("reason")
        return f", with no history scale to judge it ({reason})" if reason else ""
    if row.get("significant"):
        kind = "rise" if z > 0 else "drop"
        return f", an unusual {kind} (robust z {z:+.1f})"
    return f", within the usual range (robust z {z:+.1f})"


def _drivers(metrics: Mapping[str, Any], limit: int) -> str:
    rows = [
        row
        for row in _rows(metrics)
        if (_number(row.get("score")) or 0.0) > 0 and row.get("direction") != "flat"
    ]
    rows.sort(key=lambda row: row.get("rank") or math.inf)
    parts = [
        describe_change(str(row["metric"]), row.get("pct_change"), row.get("delta"))
        for row in rows[:limit]
        if "metric" in row
    ]
    return f"; it moved with: {', '.join(parts)}" if parts else ""


def _share_words(share: float | None) -> str:
    if share is None:
        return ""
    if share < 0:
        # The segment moved against the total: a percentage of it would read oddly.
        return " (against the overall move)"
    return f" ({share:.0%} of the change)"


def _where(segments: Mapping[str, Any], limit: int) -> str:
    roots = [row for row in _rows(segments) if row.get("is_root_cause")]
    roots.sort(key=lambda row: row.get("rank") or math.inf)
    parts = []
    for row in roots[:limit]:
        share = _number(row.get("share_of_change"))
        where = str(row.get("segment", "?")).replace("&", " & ")
        parts.append(where + _share_words(share))
    if not parts:
        return "; no single part of the floor stands out"
    return f"; on the floor it sits in {' and '.join(parts)}"


def explain_in_words(
    metrics: Mapping[str, Any],
    significance: Mapping[str, Any],
    segments: Mapping[str, Any] | None = None,
    *,
    drivers: int = 2,
    places: int = 2,
) -> str:
    """Summarise the three results in one sentence.

    Parameters
    ----------
    metrics : mapping
        ``rank_metrics(...).to_dict()``.
    significance : mapping
        ``assess_change(...).to_dict()`` for the same KPI and dates.
    segments : mapping, optional
        ``rank_segments(...).to_dict()``; without it the sentence says nothing of
        the floor.
    drivers : int
        How many co-moving metrics to name (those with a positive score).
    places : int
        How many root-cause segments to name.

    Returns
    -------
    str
        For example "coin_in fell 12.3% against last Friday, an unusual drop
        (robust z -4.1); it moved with: visits fell 20.5%, games_played fell 18.0%;
        on the floor it sits in player_tier=gold (61% of the change)."

    Examples
    --------
    >>> kpi = {"metric": "coin_in", "pct_change": 0.05, "delta": 2.0e5}
    >>> dates = {"date_target": "2024-06-14", "date_base": "2024-06-07"}
    >>> explain_in_words({"kpi": kpi, "dates": dates, "rows": []}, {"rows": []})
    'coin_in rose 5.0% against last Friday.'
    """
    metric = kpi_name(metrics) or kpi_name(significance) or "the KPI"
    kpi = metrics.get("kpi") or _kpi_row(_rows(significance), metric)
    sentence = describe_change(metric, kpi.get("pct_change"), kpi.get("delta"))
    sentence += _comparison(result_dates(metrics)) + _verdict(significance, metric)
    sentence += _drivers(metrics, drivers)
    if segments is not None:
        sentence += _where(segments, places)
    return sentence + "."
