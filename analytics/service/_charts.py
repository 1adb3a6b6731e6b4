"""PNG charts of an explanation, drawn from its JSON form with matplotlib (Agg).

Charts are drawn from ``result.to_dict()`` rather than from the result objects,
so a stored explanation can be drawn the same way as a fresh one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot

from matplotlib.figure import Figure

__all__ = ["MAX_BARS", "render_png"]

MAX_BARS = 25
_UP, _DOWN, _NEUTRAL = "#2e7d32", "#c62828", "#9e9e9e"
_HIGHLIGHT = "#1565c0"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _title(payload: Mapping[str, Any], what: str) -> str:
    dates = payload.get("dates") or {}
    kpi = (payload.get("kpi") or {}).get("metric") or payload.get("parameters", {}).get(
        "metric_col", "KPI"
    )
    return (
        f"{what}: {kpi}, {dates.get('date_target', '?')} "
        f"vs {dates.get('date_base', '?')}"
    )


def _figure(bars: int) -> tuple[Figure, Any]:
    figure = Figure(figsize=(8.0, 1.6 + 0.32 * max(bars, 1)), layout="constrained")
    return figure, figure.add_subplot()


def _empty(axes: Any, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def _rows(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = payload.get("rows") or []
    return [row for row in rows if isinstance(row, Mapping)][:MAX_BARS]


# The column each method ranks by, so the bars show the order's reason.
_RANKED_BY = {
    "linkranks": "linked_score",
    "bestranks": "score",
    "worstranks": "score",
    "absranks": "norm_delta",
}


def _method(payload: Mapping[str, Any]) -> str:
    method = payload.get("method") or (payload.get("parameters") or {}).get("method")
    return str(method or "").lower()


def _metric_bars(payload: Mapping[str, Any]) -> Figure:
    column = _RANKED_BY.get(_method(payload), "score")
    if not any(column in row for row in _rows(payload)):
        column = "score"
    rows = [r for r in _rows(payload) if _number(r.get(column)) is not None]
    figure, axes = _figure(len(rows))
    axes.set_title(_title(payload, "Metrics ranked"))
    if not rows:
        _empty(axes, "no metric could be ranked")
        return figure
    labels = [str(r.get("metric")) for r in rows][::-1]
    values = [_number(r.get(column)) or 0.0 for r in rows][::-1]
    colours = [_UP if v > 0 else _DOWN if v < 0 else _NEUTRAL for v in values]
    axes.barh(labels, values, color=colours)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel(f"{column} ({_method(payload) or 'method'} ranks by it)")
    return figure


def _waterfall_steps(
    payload: Mapping[str, Any],
) -> tuple[list[tuple[str, float]], str]:
    """The steps of the waterfall and the unit they are in.

    Metrics with a ``contribution`` (parts of an identity of the KPI, whose
    contributions split its delta exactly) give steps in KPI units, closed by
    the remainder of the KPI's delta. Without contributions the steps are the
    standardized changes (norm_delta) in rank order.
    """
    rows = _rows(payload)
    parts = [
        (str(r.get("metric")), value)
        for r in rows
        if (value := _number(r.get("contribution"))) is not None
    ]
    kpi = payload.get("kpi") or {}
    delta = _number(kpi.get("delta"))
    if parts and delta is not None:
        rest = delta - sum(value for _, value in parts)
        if abs(rest) > 1e-9 * max(abs(delta), 1.0):
            parts.append(("rest of the change", rest))
        return parts, "contribution to the KPI's change (KPI units)"
    steps = [
        (str(r.get("metric")), value)
        for r in rows
        if (value := _number(r.get("norm_delta"))) is not None
    ]
    return steps, "cumulative norm_delta (changes in history standard deviations)"


def _metric_waterfall(payload: Mapping[str, Any]) -> Figure:
    steps, unit = _waterfall_steps(payload)
    figure, axes = _figure(len(steps))
    axes.set_title(_title(payload, "Metric changes in rank order"))
    if not steps:
        _empty(axes, "no metric could be ranked")
        return figure
    # Each bar starts where the previous one ended: the chart reads as a
    # running sum down the ranking.
    start = 0.0
    for position, (_, step) in enumerate(steps):
        colour = _UP if step > 0 else _DOWN if step < 0 else _NEUTRAL
        axes.barh(position, step, left=start, color=colour)
        start += step
    axes.set_yticks(range(len(steps)), [name for name, _ in steps])
    axes.invert_yaxis()
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel(unit)
    return figure


def _significance_bars(payload: Mapping[str, Any]) -> Figure:
    rows = _rows(payload)
    scored = [r for r in rows if _number(r.get("robust_z")) is not None]
    figure, axes = _figure(len(scored))
    axes.set_title(_title(payload, "How unusual is the change"))
    if not scored:
        _empty(axes, "robust z undefined for every metric")
        return figure
    labels = [str(r.get("metric")) for r in scored][::-1]
    values = [_number(r.get("robust_z")) or 0.0 for r in scored][::-1]
    colours = [_HIGHLIGHT if r.get("significant") else _NEUTRAL for r in scored][::-1]
    axes.barh(labels, values, color=colours)
    threshold = _number((payload.get("parameters") or {}).get("threshold"))
    if threshold is not None:
        for line in (threshold, -threshold):
            axes.axvline(line, color=_DOWN, linestyle="--", linewidth=1.0)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("robust z of the change (dashed: significance threshold)")
    return figure


def _segment_bars(payload: Mapping[str, Any]) -> Figure:
    rows = [r for r in _rows(payload) if _number(r.get("share_of_change")) is not None]
    figure, axes = _figure(len(rows))
    axes.set_title(_title(payload, "Where the change happened"))
    if not rows:
        _empty(axes, "no segment carries the change")
        return figure
    labels = [str(r.get("segment")) for r in rows][::-1]
    shares = [100.0 * (_number(r.get("share_of_change")) or 0.0) for r in rows][::-1]
    colours = [_HIGHLIGHT if r.get("is_root_cause") else _NEUTRAL for r in rows][::-1]
    axes.barh(labels, shares, color=colours)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("share of the change, % (blue: root-cause set)")
    return figure


def _draw(payload: Mapping[str, Any], chart: str) -> Figure:
    module = payload.get("module")
    if module == "rank_metrics":
        return (
            _metric_waterfall(payload)
            if chart == "waterfall"
            else _metric_bars(payload)
        )
    if module == "assess_change":
        return _significance_bars(payload)
    if module == "rank_segments":
        return _segment_bars(payload)
    raise ValueError(f"no chart for module {module!r}")


def render_png(payload: Mapping[str, Any], *, chart: str = "bars") -> bytes:
    """Draw an explanation as a PNG image.

    Parameters
    ----------
    payload : mapping
        ``result.to_dict()`` of a rank_metrics, assess_change or rank_segments
        result (``module`` says which).
    chart : {"bars", "waterfall"}
        For rank_metrics only: horizontal bars of the score, or a waterfall of
        the metrics' contributions to the KPI's change (identity parts, closed
        by the remainder) or, without contributions, of the standardized changes
        in rank order.

    Returns
    -------
    bytes
        The PNG file, at most :data:`MAX_BARS` bars.

    Examples
    --------
    >>> png = render_png({"module": "rank_segments", "rows": []})
    >>> png[:4] == b"\\x89PNG"
    True
    """
    figure = _draw(payload, chart)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
