"""One explanation: run the core modules for a casino, a day and a KPI.

This is the thin layer between the I/O-free core (:mod:`analytics`) and the
reporting tables: it calls ``rank_metrics``, ``assess_change`` and
``rank_segments`` on frames already read from the source, and turns the rows of
their ``.table`` (and ``.breakdown``) into rows of the reporting tables plus one
plain-English sentence for the daily summary. It reads and writes nothing itself.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import analytics
from analytics._backfill import (
    BackfillAssessChange,
    BackfillRankMetrics,
    backfill_assess_change,
    backfill_rank_metrics,
)
from analytics.errors import InputError, ParameterError
from analytics.pipeline.config import PipelineConfig

__all__ = [
    "Explanation",
    "code_version",
    "explain_casino_dates",
    "explain_casino_day",
    "run_parameters",
    "summary_sentence",
]

_METRIC_FIELDS = (
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
)
_SIGNIFICANCE_FIELDS = (
    "metric",
    "value_base",
    "value_target",
    "delta",
    "pct_change",
    "robust_z",
    "scale_method",
    "percentile",
    "significant",
    "direction",
    "target_is_holiday",
    "base_is_holiday",
    "reason",
)
_BREAKDOWN_FIELDS = (
    "dimension",
    "member",
    "value_base",
    "value_target",
    "delta",
    "share_of_change",
    "surprise",
)
_SEGMENT_FIELDS = (
    "segment",
    "depth",
    "value_base",
    "value_target",
    "delta",
    "share_of_change",
    "score",
    "rank",
    "is_root_cause",
)


def code_version() -> str:
    """The version string stored with every run."""
    return f"casino-explain {analytics.__version__}"


@dataclass(frozen=True)
class Explanation:
    """The rows one (casino, date, KPI) answer writes, keyed by table name.

    ``rows`` maps each answer table (``metric_rankings``, ``change_significance``,
    ``segment_breakdown``, ``root_cause_segments``, ``daily_summary``) to its rows,
    without the key columns, which :meth:`keyed_rows` adds.
    """

    casino_id: str
    date_target: dt.date
    date_base: dt.date
    kpi: str
    rows: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)

    def keyed_rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        """Rows of ``table`` with the key columns and ``run_id`` filled in."""
        key = {
            "casino_id": self.casino_id,
            "date_target": self.date_target,
            "kpi": self.kpi,
            "date_base": self.date_base,
            "run_id": run_id,
        }
        return [{**key, **row} for row in self.rows.get(table, [])]

    def row_counts(self) -> dict[str, int]:
        """Rows per table, as recorded in the runs table."""
        return {table: len(rows) for table, rows in self.rows.items()}


def run_parameters(config: PipelineConfig, *, kpi: str) -> dict[str, Any]:
    """The parameters of one explanation, stored as JSON in the runs table."""
    explain = config.explain
    return {
        "kpi": kpi,
        "modules": list(explain.modules),
        "history_weeks": explain.history_weeks,
        "method": explain.method,
        "threshold": explain.threshold,
        "max_depth": explain.max_depth,
        "dimensions": list(config.source.dimension_columns),
        "metrics": list(config.source.metric_columns) or None,
        "rows_per_explanation": explain.rows_per_explanation,
        "holidays": list(explain.holidays),
    }


def _clean(value: Any) -> Any:
    # Database drivers want plain Python scalars and None for a missing number.
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return None if math.isnan(value) else value
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _pick(record: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    # Records hold plain values already (_records and _column_records clean them).
    return dict(zip(names, map(record.get, names), strict=True))


def _records(result: Any, attribute: str = "table") -> list[dict[str, Any]]:
    # Rows come from the result's DataFrame (the fixed API), not from to_dict(),
    # whose nesting is richer than the reporting tables need.
    frame = getattr(result, attribute, None)
    if frame is None:
        return []
    return [
        {str(k): _clean(v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _skipped(result: Any) -> dict[str, str]:
    # The API promises {metric: reason}; a frame or a list of records is accepted.
    raw = getattr(result, "skipped", None)
    if raw is None:
        return {}
    if isinstance(raw, pd.DataFrame):
        raw = raw.to_dict(orient="records")
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(item["metric"]): str(item.get("reason")) for item in raw}


def _method(result: Any) -> str:
    as_dict = result.to_dict()
    parameters = as_dict.get("parameters") or {}
    return str(parameters.get("method") or as_dict.get("method"))


def _by_rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: math.inf if r.get("rank") is None else r["rank"])


@dataclass
class _DayAnswers:
    """What the modules said about one date, as plain records.

    Both paths fill it: the daily path from single-date results, the bulk path
    from slices of the all-dates tables; the reporting rows are built from it
    alone, so the two paths cannot drift apart.
    """

    ranked: list[dict[str, Any]] | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    method: str = ""
    kpi_change: dict[str, Any] = field(default_factory=dict)
    significance: list[dict[str, Any]] | None = None
    holidays: tuple[object, object] = (None, None)
    segments: Any = None


def _answers_of(results: Mapping[str, Any]) -> _DayAnswers:
    answers = _DayAnswers(segments=results.get("rank_segments"))
    for result in results.values():
        change = result.to_dict().get("kpi")
        if change and not answers.kpi_change:
            answers.kpi_change = {str(k): _clean(v) for k, v in change.items()}
    if "rank_metrics" in results:
        ranked = results["rank_metrics"]
        answers.ranked = _by_rank(_records(ranked))
        answers.skipped = _skipped(ranked)
        answers.method = _method(ranked)
    if "assess_change" in results:
        as_dict = results["assess_change"].to_dict()
        answers.significance = _records(results["assess_change"])
        answers.holidays = (as_dict.get("holiday_target"), as_dict.get("holiday_base"))
    return answers


def _metric_rows(answers: _DayAnswers, keep: int) -> list[dict[str, Any]]:
    method = answers.method
    ranked = answers.ranked or []
    rows = [{**_pick(r, _METRIC_FIELDS), "method": method} for r in ranked[:keep]]
    # Skipped metrics are kept (unranked, with the reason): never dropped silently.
    for metric, reason in sorted(answers.skipped.items()):
        rows.append({"metric": metric, "method": method, "skipped_reason": reason})
    return rows


def _significance_rows(answers: _DayAnswers, kpi: str) -> list[dict[str, Any]]:
    # Holiday flags are per answer; take them from the rows if the result puts
    # them there, else from the result's dictionary.
    flags = {
        "target_is_holiday": _clean(answers.holidays[0]),
        "base_is_holiday": _clean(answers.holidays[1]),
    }
    rows = []
    for record in answers.significance or []:
        row = _pick(record, _SIGNIFICANCE_FIELDS)
        row["scale_method"] = row["scale_method"] or record.get("scale_kind")
        row["reason"] = row["reason"] or None
        for name, value in flags.items():
            if row[name] is None and isinstance(value, bool):
                row[name] = value
        rows.append({**row, "is_kpi": record.get("metric") == kpi})
    return rows


def _segment_rows(records: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    ranked = _by_rank(records)
    kept = [r for i, r in enumerate(ranked) if i < keep or r.get("is_root_cause")]
    return [_pick(r, _SEGMENT_FIELDS) for r in kept]


def _results(
    daily: pd.DataFrame,
    segments: pd.DataFrame | None,
    *,
    date_target: dt.date,
    kpi: str,
    config: PipelineConfig,
) -> dict[str, Any]:
    s, e = config.source, config.explain
    common: dict[str, Any] = {
        "metric_col": kpi,
        "date_col": s.date_column,
        "date_target": date_target,
    }
    results: dict[str, Any] = {}
    if "rank_metrics" in e.modules:
        options: dict[str, Any] = {"history_weeks": e.history_weeks}
        if e.method is not None:
            options["method"] = e.method
        if s.metric_columns:
            options["metrics"] = [m for m in s.metric_columns if m != kpi]
        results["rank_metrics"] = analytics.rank_metrics(daily, **common, **options)
    if "assess_change" in e.modules:
        results["assess_change"] = analytics.assess_change(
            daily,
            **common,
            history_weeks=e.history_weeks,
            threshold=e.threshold,
            holidays=list(e.holidays) or None,
        )
    if "rank_segments" in e.modules and segments is not None:
        _check_segment_kpi(segments, kpi)
        results["rank_segments"] = analytics.rank_segments(
            segments,
            **common,
            dimensions=list(s.dimension_columns),
            max_depth=e.max_depth,
        )
    return results


def _check_segment_kpi(segments: pd.DataFrame, kpi: str) -> None:
    if kpi not in segments.columns:
        raise ParameterError(
            f"KPI {kpi!r} is not a measure of the segment table; add it to "
            "source.segment_measures or drop rank_segments from explain.modules"
        )


def explain_casino_day(
    daily: pd.DataFrame,
    segments: pd.DataFrame | None,
    *,
    casino_id: object,
    date_target: dt.date,
    kpi: str,
    config: PipelineConfig,
) -> Explanation:
    """Explain one casino's KPI on one day and return the rows to write.

    Parameters
    ----------
    daily : pandas.DataFrame
        The casino's wide daily rows (date column and metrics), at least
        ``7 * history_weeks`` days back from ``date_target``.
    segments : pandas.DataFrame or None
        The casino's long segment rows for the same window; None skips
        ``rank_segments``.
    casino_id : object
        Stored as text in the reporting tables.
    date_target : datetime.date
        The gaming day explained.
    kpi : str
        The KPI column, e.g. ``"coin_in"``.
    config : PipelineConfig
        Modules and options.

    Returns
    -------
    Explanation

    Raises
    ------
    analytics.InputError
        The casino's data cannot be explained on that day (missing day, too little
        history, duplicated rows, ...); the caller records it for this casino only.
    """
    results = _results(daily, segments, date_target=date_target, kpi=kpi, config=config)
    return _explanation(
        _answers_of(results),
        casino_id=casino_id,
        date_target=date_target,
        kpi=kpi,
        keep=config.explain.rows_per_explanation,
    )


def _explanation(
    answers: _DayAnswers,
    *,
    casino_id: object,
    date_target: dt.date,
    kpi: str,
    keep: int,
) -> Explanation:
    rows: dict[str, list[dict[str, Any]]] = {}
    if answers.ranked is not None:
        rows["metric_rankings"] = _metric_rows(answers, keep)
    if answers.significance is not None:
        rows["change_significance"] = _significance_rows(answers, kpi)
    segment_records: list[dict[str, Any]] = []
    if answers.segments is not None:
        segment_records = _records(answers.segments)
        rows["segment_breakdown"] = [
            _pick(r, _BREAKDOWN_FIELDS) for r in _records(answers.segments, "breakdown")
        ]
        rows["root_cause_segments"] = _segment_rows(segment_records, keep)
    # The base day is never configured: always the same weekday a week earlier.
    date_base = date_target - dt.timedelta(days=7)
    rows["daily_summary"] = [
        _summary_row(
            answers,
            segment_records,
            kpi=kpi,
            date_target=date_target,
            date_base=date_base,
        )
    ]
    return Explanation(
        casino_id=str(casino_id),
        date_target=date_target,
        date_base=date_base,
        kpi=kpi,
        rows=rows,
    )


def _kpi_change(answers: _DayAnswers, kpi: str) -> dict[str, Any]:
    for row in answers.significance or []:
        if row.get("metric") == kpi:
            return row
    return answers.kpi_change


def _summary_row(
    answers: _DayAnswers,
    segment_records: list[dict[str, Any]],
    *,
    kpi: str,
    date_target: dt.date,
    date_base: dt.date,
) -> dict[str, Any]:
    change = _kpi_change(answers, kpi)
    ranked = answers.ranked or []
    top = [r for r in ranked if r.get("rank") is not None][:3]
    roots = [r for r in _by_rank(segment_records) if r.get("is_root_cause")]
    root = roots[0] if roots else None
    names = [str(r["metric"]) for r in top] + [None] * (3 - len(top))
    return {
        **_pick(change, ("value_base", "value_target", "delta", "pct_change")),
        "robust_z": change.get("robust_z"),
        "significant": change.get("significant"),
        "top_metric_1": names[0],
        "top_metric_2": names[1],
        "top_metric_3": names[2],
        "top_root_segment": root["segment"] if root else None,
        "top_root_share": root.get("share_of_change") if root else None,
        "explanation": summary_sentence(
            kpi=kpi,
            date_target=date_target,
            date_base=date_base,
            change=change,
            top_metrics=top,
            root=root,
        ),
        "created_at": dt.datetime.now(dt.UTC),
    }


def _percent(value: object) -> str | None:
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    return f"{abs(value) * 100:.1f}%"


def _against(date_target: dt.date, date_base: dt.date) -> str:
    weekday = date_base.strftime("%A")
    if (date_target - date_base).days == 7:
        return f"against the previous {weekday} ({date_base.isoformat()})"
    return f"against {weekday} {date_base.isoformat()}"


def _headline(kpi: str, change: Mapping[str, Any], against: str) -> str:
    delta = change.get("delta")
    if not isinstance(delta, int | float) or math.isnan(delta):
        return f"{kpi} could not be compared {against}"
    if delta == 0:
        return f"{kpi} did not change {against}"
    verb = "rose" if delta > 0 else "fell"
    amount = _percent(change.get("pct_change"))
    head = f"{kpi} {verb} {amount} {against}" if amount else f"{kpi} {verb} {against}"
    significant = change.get("significant")
    if significant is True:
        kind = "jump" if delta > 0 else "drop"
        return f"{head}, an unusual {kind}"
    if significant is False:
        return f"{head}, within its usual range"
    return head


def _metric_phrase(row: Mapping[str, Any]) -> str:
    delta = row.get("delta")
    amount = _percent(row.get("pct_change"))
    if not isinstance(delta, int | float) or not amount or delta == 0:
        return str(row["metric"])
    verb = "up" if delta > 0 else "down"
    return f"{row['metric']} ({verb} {amount})"


def summary_sentence(
    *,
    kpi: str,
    date_target: dt.date,
    date_base: dt.date,
    change: Mapping[str, Any],
    top_metrics: Sequence[Mapping[str, Any]] = (),
    root: Mapping[str, Any] | None = None,
) -> str:
    """Say in one plain-English sentence what moved and where.

    Examples
    --------
    >>> summary_sentence(
    ...     kpi="coin_in", date_target=dt.date(2019, 7, 19),
    ...     date_base=dt.date(2019, 7, 12),
    ...     change={"delta": -5.0e5, "pct_change": -0.123, "significant": True},
    ...     top_metrics=[{"metric": "avg_bet", "delta": -0.2, "pct_change": -0.18}],
    ...     root={"segment": "zone=Z2", "share_of_change": 0.62})
    'coin_in fell 12.3% against the previous Friday (2019-07-12), an unusual drop; \
most moved with it: avg_bet (down 18.0%); largest root cause: zone=Z2 \
(62% of the change).'
    """
    parts = [_headline(kpi, change, _against(date_target, date_base))]
    if top_metrics:
        moved = ", ".join(_metric_phrase(r) for r in top_metrics)
        parts.append(f"most moved with it: {moved}")
    if root is not None:
        parts.append(_root_phrase(root))
    return "; ".join(parts) + "."


# A root segment holding less of the change than this does not explain it: the
# move is spread over the floor, and the sentence says so.
_STANDS_OUT_SHARE = 0.2


def _root_phrase(root: Mapping[str, Any]) -> str:
    segment, share = root["segment"], root.get("share_of_change")
    if not isinstance(share, int | float) or math.isnan(share):
        return f"largest root cause: {segment}"
    if share < 0:
        return f"largest root cause: {segment} (against the overall move)"
    if share < _STANDS_OUT_SHARE:
        return (
            "no single part of the floor stands out (the largest root cause, "
            f"{segment}, holds {share * 100:.0f}% of the change)"
        )
    return f"largest root cause: {segment} ({share * 100:.0f}% of the change)"


def explain_casino_dates(
    daily: pd.DataFrame,
    segments: pd.DataFrame | None,
    *,
    casino_id: object,
    dates: Sequence[dt.date],
    kpi: str,
    config: PipelineConfig,
) -> Iterator[tuple[dt.date, Explanation | BaseException]]:
    """Explain many days of one casino from one extract (the bulk path).

    ``rank_metrics`` and ``assess_change`` run once for all ``dates`` (the
    all-dates pass of :mod:`analytics._backfill`); ``rank_segments`` compares two
    days only and runs per date. The rows are the same as
    :func:`explain_casino_day` gives date by date. A failing date yields its
    exception instead of an explanation, so one bad day does not stop the range.
    """
    try:
        bulk = _BulkAnswers.compute(daily, dates=dates, kpi=kpi, config=config)
    except InputError:
        # The extract as a whole is unusable for the all-dates pass (a duplicated
        # day, say): date by date, each date fails with its own message.
        bulk = None
    keep = config.explain.rows_per_explanation
    for day in dates:
        try:
            if bulk is None or not bulk.covers(day):
                answer = explain_casino_day(
                    _day_window(daily, day, config),
                    segments,
                    casino_id=casino_id,
                    date_target=day,
                    kpi=kpi,
                    config=config,
                )
            else:
                answers = bulk.answers_for(day)
                answers.segments = _segments_result(segments, day, kpi, config)
                answer = _explanation(
                    answers,
                    casino_id=casino_id,
                    date_target=day,
                    kpi=kpi,
                    keep=keep,
                )
        except Exception as err:
            yield day, err
        else:
            yield day, answer


def _day_window(frame: pd.DataFrame, day: dt.date, config: PipelineConfig) -> Any:
    """The rows the daily path would read for ``day``.

    A bad row elsewhere in the range (a duplicated later day) then fails only the
    dates whose window holds it. Rows whose date does not parse are kept: the
    core refuses them by name.
    """
    column = config.source.date_column
    if column not in frame.columns:
        return frame
    try:
        dates = pd.to_datetime(frame[column], errors="coerce", format="mixed")
    except (ValueError, TypeError):
        return frame  # mixed time zones: the core names the problem
    if dates.dt.tz is not None:
        return frame
    first = pd.Timestamp(day - dt.timedelta(days=config.explain.window_days))
    keep = dates.isna() | ((dates >= first) & (dates <= pd.Timestamp(day)))
    return frame.loc[keep]


def _segments_result(
    segments: pd.DataFrame | None, day: dt.date, kpi: str, config: PipelineConfig
) -> Any:
    s, e = config.source, config.explain
    if "rank_segments" not in e.modules or segments is None:
        return None
    _check_segment_kpi(segments, kpi)
    return analytics.rank_segments(
        segments,
        metric_col=kpi,
        date_col=s.date_column,
        date_target=day,
        dimensions=list(s.dimension_columns),
        max_depth=e.max_depth,
    )


def _column_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")`` with plain Python values, column by column.

    Converting each column once with ``tolist`` is far cheaper than cleaning
    every cell of hundreds of thousands of rows one by one.
    """
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype.kind == "f":
            columns[str(name)] = [None if v != v else v for v in values.tolist()]
        elif values.dtype.kind in "biu":
            columns[str(name)] = values.tolist()
        else:
            # Text columns: Python str as they are, anything else cleaned.
            columns[str(name)] = [
                v if type(v) is str else _clean(v) for v in values.tolist()
            ]
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    return [dict(zip(names, row, strict=True)) for row in rows]


@dataclass(frozen=True)
class _DateSlices:
    """Rows of an all-dates table, as records, found by target date."""

    records: list[dict[str, Any]]
    days: np.ndarray  # datetime64[D], sorted, one per record

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _DateSlices:
        days = frame["date_target"].to_numpy().astype("datetime64[D]")
        return cls(_column_records(frame.drop(columns="date_target")), days)

    def rows(self, day: dt.date) -> list[dict[str, Any]]:
        key = np.datetime64(day, "D")
        start = int(np.searchsorted(self.days, key, side="left"))
        stop = int(np.searchsorted(self.days, key, side="right"))
        return self.records[start:stop]


@dataclass(frozen=True)
class _RankedDates:
    result: BackfillRankMetrics
    ranked: _DateSlices
    skipped: _DateSlices
    kpi: _DateSlices


@dataclass(frozen=True)
class _AssessedDates:
    result: BackfillAssessChange
    rows: _DateSlices


@dataclass(frozen=True)
class _BulkAnswers:
    """The all-dates results of one casino and KPI, sliced date by date."""

    ranked: _RankedDates | None
    assessed: _AssessedDates | None

    @classmethod
    def compute(
        cls,
        daily: pd.DataFrame,
        *,
        dates: Sequence[dt.date],
        kpi: str,
        config: PipelineConfig,
    ) -> _BulkAnswers:
        s, e = config.source, config.explain
        common: dict[str, Any] = {
            "metric_col": kpi,
            "date_col": s.date_column,
            "dates": list(dates),
            "history_weeks": e.history_weeks,
        }
        ranked = assessed = None
        if "rank_metrics" in e.modules:
            options: dict[str, Any] = {}
            if e.method is not None:
                options["method"] = e.method
            if s.metric_columns:
                options["metrics"] = [m for m in s.metric_columns if m != kpi]
            result = backfill_rank_metrics(daily, **common, **options)
            # Records only for the rows the reporting table keeps and the top
            # three of the summary, not for every ranked metric of every date.
            table = result.table
            kept = table[table["rank"] <= max(e.rows_per_explanation, 3)]
            ranked = _RankedDates(
                result,
                ranked=_DateSlices.of(kept),
                skipped=_DateSlices.of(result.skipped),
                kpi=_DateSlices.of(result.kpi),
            )
        if "assess_change" in e.modules:
            change = backfill_assess_change(
                daily,
                **common,
                threshold=e.threshold,
                holidays=list(e.holidays) or None,
            )
            assessed = _AssessedDates(change, _DateSlices.of(change.table))
        return cls(ranked, assessed)

    def covers(self, day: dt.date) -> bool:
        """Whether every all-dates result has an answer or a failure for ``day``."""
        results = [part.result for part in (self.ranked, self.assessed) if part]
        stamp = pd.Timestamp(day)
        return all(stamp in r.windows or stamp in r.failures for r in results)

    def answers_for(self, day: dt.date) -> _DayAnswers:
        """The answers of ``day``; raises the date's error as the daily path does."""
        stamp = pd.Timestamp(day)
        for part in (self.ranked, self.assessed):
            if part is not None and stamp in part.result.failures:
                raise part.result.failures[stamp]
        answers = _DayAnswers()
        if self.ranked is not None:
            answers.ranked = self.ranked.ranked.rows(day)
            answers.skipped = {
                str(r["metric"]): str(r["reason"])
                for r in self.ranked.skipped.rows(day)
            }
            answers.method = str(self.ranked.result.parameters["method"])
            answers.kpi_change = self.ranked.kpi.rows(day)[0]
        if self.assessed is not None:
            answers.significance = self.assessed.rows.rows(day)
            answers.holidays = self.assessed.result.holidays[stamp]
        return answers
