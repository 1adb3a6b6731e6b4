"""Orchestration without Airflow: list casinos, explain a chunk, backfill a range.

The Airflow operators and DAGs are thin wrappers around these functions, which
take engines and a configuration and return small, JSON-ready outcomes (what the
DAG passes between tasks as XCom). One casino's bad data never stops the chunk:
its runs are recorded as failed with the reason and the loop moves on.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from analytics.errors import InsufficientHistoryError, ParameterError
from analytics.pipeline.compute import (
    explain_casino_dates,
    explain_casino_day,
    run_parameters,
)
from analytics.pipeline.config import PipelineConfig
from analytics.pipeline.schema import runs
from analytics.pipeline.source import SourceReader
from analytics.pipeline.writer import ReportWriter

__all__ = [
    "ChunkOutcome",
    "backfill_chunk",
    "chunk_casinos",
    "explain_chunk",
    "list_casinos",
    "target_date_for",
]

log = logging.getLogger(__name__)

_FAILURES_KEPT = 20
_WEEK = dt.timedelta(days=7)


@dataclass
class ChunkOutcome:
    """What one chunk did; small enough to travel as XCom."""

    casinos: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    rows_written: int = 0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)

    def record_failure(self, key: str, err: BaseException) -> None:
        """Count a failure and keep its reason (the first few only: XCom is small)."""
        self.failed += 1
        if len(self.failures) < _FAILURES_KEPT:
            self.failures[key] = f"{type(err).__name__}: {err}"[:300]


def target_date_for(
    data_interval_end: dt.datetime, *, timezone: str = "UTC"
) -> dt.date:
    """The gaming day a run explains: the day before its data interval ends.

    The rule is the same for a scheduled run, a manual run with a logical date and
    a backfill: convert the end of the run's data interval to the pipeline's
    timezone and take the calendar day before. The daily schedule fires after the
    gaming day closes (06:00 by default), so the 06:00 run on 18 July explains
    17 July.

    Examples
    --------
    >>> target_date_for(dt.datetime(2019, 7, 18, 6, tzinfo=dt.UTC))
    datetime.date(2019, 7, 17)
    """
    import zoneinfo

    stamp = data_interval_end
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    local = stamp.astimezone(zoneinfo.ZoneInfo(timezone))
    return local.date() - dt.timedelta(days=1)


def chunk_casinos(casinos: Sequence[Any], *, chunk_size: int) -> list[list[Any]]:
    """Split casino ids into chunks of at most ``chunk_size`` (one mapped task each).

    Examples
    --------
    >>> chunk_casinos(["A", "B", "C"], chunk_size=2)
    [['A', 'B'], ['C']]
    """
    if chunk_size < 1:
        raise ParameterError(f"chunk_size must be at least 1, got {chunk_size!r}")
    return [
        list(casinos[i : i + chunk_size]) for i in range(0, len(casinos), chunk_size)
    ]


def _reader(engine: Engine, config: PipelineConfig) -> SourceReader:
    needs = "rank_segments" in config.explain.modules
    return SourceReader(engine, config.source, need_segments=needs)


def list_casinos(
    source: Engine, config: PipelineConfig, *, date_target: dt.date
) -> list[Any]:
    """The casinos to explain on ``date_target``: configured, or all with data."""
    configured = config.explain.casinos
    if not isinstance(configured, str):
        return list(configured)
    reader = _reader(source, config)
    return reader.list_casinos(date_from=date_target, date_to=date_target)


def _window_frames(
    reader: SourceReader,
    casinos: Sequence[Any],
    config: PipelineConfig,
    date_from: dt.date,
    date_to: dt.date,
    *,
    segments_from: dt.date,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame] | None]:
    s = config.source
    daily = reader.read_daily(casinos, date_from=date_from, date_to=date_to)
    by_casino = _by_casino(daily, s.casino_column, casinos)
    if not reader.has_segments:
        return by_casino, None
    # rank_segments compares D with B = D - 7 only: no history needed.
    segments = reader.read_segments(casinos, date_from=segments_from, date_to=date_to)
    return by_casino, _by_casino(segments, s.casino_column, casinos)


def _by_casino(
    frame: pd.DataFrame, casino_column: str, casinos: Sequence[Any]
) -> dict[str, pd.DataFrame]:
    # A column holding text in one casino's rows arrives as objects for all of
    # them: each casino's own rows are numeric again unless they hold the text.
    # A casino without rows gets an empty frame with the columns, so the core
    # reports missing data rather than missing columns.
    empty = frame.iloc[0:0].drop(columns=casino_column)
    found = {
        str(c): g.drop(columns=casino_column).infer_objects()
        for c, g in frame.groupby(casino_column)
    }
    return {str(c): found.get(str(c), empty) for c in casinos} | found


class _Progress:
    """Logs casinos and casino-dates done out of the total, rate and time left."""

    def __init__(self, total: int, label: str, *, dates_per_casino: int = 1) -> None:
        self.total, self.label, self.started = total, label, time.monotonic()
        self.dates_per_casino = dates_per_casino

    def report(self, done: int, outcome: ChunkOutcome) -> None:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - done) / rate if rate > 0 else float("nan")
        log.info(
            "%s: %d/%d casinos, %d/%d casino-dates done (%d failed, %d skipped), "
            "%d rows written, %.1f casino-dates/s, about %.0f s remaining",
            self.label,
            done,
            self.total,
            done * self.dates_per_casino,
            self.total * self.dates_per_casino,
            outcome.failed,
            outcome.skipped,
            outcome.rows_written,
            rate * self.dates_per_casino,
            remaining,
        )


def explain_chunk(
    casinos: Sequence[Any],
    *,
    date_target: dt.date,
    config: PipelineConfig,
    source: Engine,
    reporting: Engine,
    airflow_run_id: str | None = None,
) -> ChunkOutcome:
    """Explain ``date_target`` for every casino of a chunk and write the answers.

    Parameters
    ----------
    casinos : sequence
        Casino ids as the source holds them.
    date_target : datetime.date
        The gaming day explained.
    config : PipelineConfig
    source, reporting : sqlalchemy.engine.Engine
        Source and (migrated) reporting databases; may be the same.
    airflow_run_id : str, optional
        Stored in the runs table for tracing.

    Returns
    -------
    ChunkOutcome
        Counts, rows written and the first failure reasons.
    """
    started = time.monotonic()
    outcome = ChunkOutcome(casinos=len(casinos))
    writer = ReportWriter(reporting)
    reader = _reader(source, config)
    date_from = date_target - dt.timedelta(days=config.explain.window_days)
    daily, segments = _window_frames(
        reader,
        casinos,
        config,
        date_from,
        date_target,
        segments_from=date_target - _WEEK,
    )
    progress = _Progress(len(casinos), f"explain {date_target.isoformat()}")
    for done, casino in enumerate(casinos, start=1):
        key = str(casino)
        if not _storable(casino, config, outcome):
            progress.report(done, outcome)
            continue
        casino_segments = (
            None if segments is None else segments.get(key, pd.DataFrame())
        )
        for kpi in config.explain.kpis:
            _explain_one(
                writer,
                outcome,
                casino,
                kpi,
                daily.get(key, pd.DataFrame()),
                casino_segments,
                date_target,
                config,
                airflow_run_id,
            )
        progress.report(done, outcome)
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def _storable(casino: Any, config: PipelineConfig, outcome: ChunkOutcome) -> bool:
    """Whether the reporting tables can hold ``casino``'s id; if not, count it failed.

    An id longer than the key column would make the runs insert itself fail and
    take the rest of the chunk with it, so it is refused up front, for this
    casino only (there is no runs row to record it in: the log and the XCom say
    it).
    """
    limit = getattr(runs.c.casino_id.type, "length", None)
    if limit is None or len(str(casino)) <= limit:
        return True
    err = ParameterError(
        f"casino id {str(casino)[:80]!r}... has {len(str(casino))} characters; the "
        f"reporting tables hold at most {limit}"
    )
    log.error("casino %r refused: %s", str(casino)[:80], err)
    for kpi in config.explain.kpis:
        outcome.record_failure(f"{str(casino)[:80]}/{kpi}", err)
    return False


def _explain_one(
    writer: ReportWriter,
    outcome: ChunkOutcome,
    casino: Any,
    kpi: str,
    daily: pd.DataFrame,
    segments: pd.DataFrame | None,
    date_target: dt.date,
    config: PipelineConfig,
    airflow_run_id: str | None,
) -> None:
    run_id = writer.start_run(
        casino_id=str(casino),
        date_target=date_target,
        kpi=kpi,
        parameters=run_parameters(config, kpi=kpi),
        airflow_run_id=airflow_run_id,
    )
    try:
        explanation = explain_casino_day(
            daily,
            segments,
            casino_id=casino,
            date_target=date_target,
            kpi=kpi,
            config=config,
        )
    except InsufficientHistoryError as err:
        log.warning("casino %s, %s, %s skipped: %s", casino, date_target, kpi, err)
        writer.finish_run(run_id, status="skipped", message=str(err))
        outcome.skipped += 1
        return
    except Exception as err:
        # Bad data in one casino must not stop the others: record and move on.
        log.error("casino %s, %s, %s failed: %s", casino, date_target, kpi, err)
        writer.finish_run(
            run_id, status="failed", message=f"{type(err).__name__}: {err}"
        )
        outcome.record_failure(f"{casino}/{kpi}", err)
        return
    try:
        outcome.rows_written += writer.write_answer(explanation, run_id=run_id)
    except Exception as err:
        # The write rolled back (e.g. the connection dropped): close the run as
        # failed so it does not stay 'running', then let the task fail and retry.
        log.error("casino %s, %s, %s: write failed: %s", casino, date_target, kpi, err)
        _close_failed_run(writer, run_id, err)
        raise
    outcome.succeeded += 1


def _close_failed_run(writer: ReportWriter, run_id: str, err: BaseException) -> None:
    try:
        writer.finish_run(
            run_id, status="failed", message=f"{type(err).__name__}: {err}"
        )
    except Exception:
        # The database is gone altogether; the original error is what matters.
        log.exception("could not record run %s as failed", run_id)


def backfill_chunk(
    casinos: Sequence[Any],
    *,
    date_from: dt.date,
    date_to: dt.date,
    config: PipelineConfig,
    source: Engine,
    reporting: Engine,
    airflow_run_id: str | None = None,
) -> ChunkOutcome:
    """Bulk path: explain every day of ``[date_from, date_to]`` for each casino.

    Per casino, the source is read once for the whole range plus its history
    window, every date is computed, and the answers are loaded in one transaction
    per casino and KPI (COPY on PostgreSQL). Memory stays bounded by one casino.

    Returns
    -------
    ChunkOutcome
        ``succeeded``/``failed``/``skipped`` count (casino, date, KPI) answers.
    """
    if date_to < date_from:
        raise ParameterError(
            f"date_to={date_to.isoformat()!r} is before "
            f"date_from={date_from.isoformat()!r}"
        )
    started = time.monotonic()
    outcome = ChunkOutcome(casinos=len(casinos))
    writer = ReportWriter(reporting)
    reader = _reader(source, config)
    history_from = date_from - dt.timedelta(days=config.explain.window_days)
    dates = [
        date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)
    ]
    progress = _Progress(
        len(casinos),
        f"backfill {date_from}..{date_to}",
        dates_per_casino=len(dates),
    )
    for done, casino in enumerate(casinos, start=1):
        if not _storable(casino, config, outcome):
            progress.report(done, outcome)
            continue
        daily, segments = _window_frames(
            reader,
            [casino],
            config,
            history_from,
            date_to,
            segments_from=date_from - _WEEK,
        )
        key = str(casino)
        casino_segments = (
            None if segments is None else segments.get(key, pd.DataFrame())
        )
        for kpi in config.explain.kpis:
            results = list(
                explain_casino_dates(
                    daily.get(key, pd.DataFrame()),
                    casino_segments,
                    casino_id=casino,
                    dates=dates,
                    kpi=kpi,
                    config=config,
                )
            )
            written, _ = writer.write_range(
                key,
                kpi,
                results,
                parameters=run_parameters(config, kpi=kpi),
                airflow_run_id=airflow_run_id,
            )
            _count_range(outcome, key, kpi, results, written)
        progress.report(done, outcome)
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def _count_range(
    outcome: ChunkOutcome,
    casino: str,
    kpi: str,
    results: Sequence[tuple[dt.date, Any]],
    written: int,
) -> None:
    outcome.rows_written += written
    for day, result in results:
        if isinstance(result, InsufficientHistoryError):
            outcome.skipped += 1
        elif isinstance(result, BaseException):
            outcome.record_failure(f"{casino}/{day.isoformat()}/{kpi}", result)
        else:
            outcome.succeeded += 1
