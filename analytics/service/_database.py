"""The service's database side: a casino's window from the source database, and
the explanations the pipeline stored in the reporting database.

Both use the pipeline's own pieces (:class:`analytics.pipeline.source.SourceReader`
and the tables of :mod:`analytics.pipeline.schema`), so identifiers are checked
against the catalog and values are bound parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analytics._frames import parse_date
from analytics.pipeline.config import load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.schema import (
    change_significance,
    daily_summary,
    metric_rankings,
    root_cause_segments,
    schema_options,
    segment_breakdown,
)
from analytics.pipeline.source import SourceReader
from analytics.service._errors import ServiceError
from analytics.service._models import ExplainRequest
from analytics.service._settings import ServiceSettings

logger = logging.getLogger("analytics.service")

__all__ = ["load_casino", "read_stored"]

# Margin of same-weekday weeks read beyond history_weeks: the metric ranking
# also uses the daily week-over-week deltas just before the history window.
_EXTRA_WEEKS = 2
_DEFAULT_HISTORY_WEEKS = 13


def _needs(setting: str | None, variable: str, parameter: str) -> str:
    if not setting:
        raise ServiceError(
            404,
            "not_configured",
            f"{parameter} needs a database: the service has no {variable}",
            parameter,
        )
    return setting


def _unavailable(which: str, err: sa.exc.OperationalError) -> ServiceError:
    # A database that cannot be reached is the service's problem, not the
    # client's: 503, so clients retry. The driver's message names the host and
    # port, never the password; it goes to the log, not to the client.
    logger.warning("the %s database cannot be reached: %s", which, err.orig)
    return ServiceError(
        503,
        f"{which}_unavailable",
        f"the {which} database cannot be reached; try again later",
    )


def load_casino(
    casino_id: str, params: ExplainRequest, settings: ServiceSettings
) -> tuple[pd.DataFrame, str]:
    """Read the window one explanation of ``casino_id`` needs from the source.

    Parameters
    ----------
    casino_id : str
        The casino, as the source table holds it.
    params : ExplainRequest
        The request (target and base dates, history weeks; segments or daily).
    settings : ServiceSettings
        ``source_url`` names the source database; the table and column names come
        from the pipeline's configuration (``config/pipeline.yaml``).

    Returns
    -------
    (pandas.DataFrame, str)
        The casino's rows without the casino column, and the date column's name.
    """
    url = _needs(settings.source_url, "CASINO_EXPLAIN_SOURCE_URL", "casino_id")
    target = parse_date(params.date_target, name="date_target").date()
    weeks = getattr(params, "history_weeks", None) or _DEFAULT_HISTORY_WEEKS
    earliest = target - dt.timedelta(weeks=weeks + _EXTRA_WEEKS)
    base = getattr(params, "date_base", None)
    if base:
        earliest = min(earliest, parse_date(base, name="date_base").date())
    source = load_config().source
    segments = hasattr(params, "dimensions")
    engine = engine_from_url(url)
    try:
        reader = SourceReader(engine, source, need_segments=segments)
        read = reader.read_segments if segments else reader.read_daily
        frame = read([casino_id], date_from=earliest, date_to=target)
    except sa.exc.OperationalError as err:
        raise _unavailable("source", err) from err
    finally:
        engine.dispose()
    if frame.empty:
        raise ServiceError(
            404,
            "unknown_casino",
            f"casino_id={casino_id!r} has no rows between {earliest} and {target}",
            "casino_id",
        )
    return frame.drop(columns=[source.casino_column]), source.date_column


_STORED = {
    "rank_metrics": metric_rankings,
    "assess_change": change_significance,
    "segment_breakdown": segment_breakdown,
    "root_cause_segments": root_cause_segments,
}


def _select(table: sa.Table, casino_id: str, day: dt.date, kpi: str | None) -> Any:
    query = sa.select(table).where(
        table.c.casino_id == sa.bindparam("casino_id", casino_id),
        table.c.date_target == sa.bindparam("day", day, type_=sa.Date),
    )
    if kpi is not None:
        query = query.where(table.c.kpi == sa.bindparam("kpi", kpi))
    return query.order_by(*table.primary_key.columns)


def _plain(row: Any) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
        for key, value in row._mapping.items()
    }


def read_stored(
    settings: ServiceSettings, casino_id: str, date_target: str, *, kpi: str | None
) -> dict[str, Any]:
    """Return what the pipeline stored for one casino and gaming day.

    Parameters
    ----------
    settings : ServiceSettings
        ``reporting_url`` names the reporting database.
    casino_id : str
        The casino.
    date_target : str
        The gaming day explained (ISO date).
    kpi : str or None
        Only this KPI; all stored KPIs when None.

    Returns
    -------
    dict
        ``{"casino_id", "date_target", "explanations": [...]}``, one entry per
        KPI with its summary and the rows of each answer table.
    """
    url = _needs(settings.reporting_url, "CASINO_EXPLAIN_REPORTING_URL", "casino_id")
    day = parse_date(date_target, name="date").date()
    engine = engine_from_url(url)
    try:
        bound = engine.execution_options(**schema_options(engine))
        with bound.connect() as conn:
            summaries = conn.execute(_select(daily_summary, casino_id, day, kpi))
            found: dict[str, dict[str, Any]] = {
                row.kpi: {"summary": _plain(row)} for row in summaries
            }
            for name, table in _STORED.items():
                for row in conn.execute(_select(table, casino_id, day, kpi)):
                    entry = found.setdefault(row.kpi, {"summary": None})
                    entry.setdefault(name, []).append(_plain(row))
    except sa.exc.OperationalError as err:
        raise _unavailable("reporting", err) from err
    except sa.exc.SQLAlchemyError as err:
        raise ServiceError(
            404,
            "not_configured",
            "the reporting database cannot be read (are its migrations applied?)",
        ) from err
    finally:
        engine.dispose()
    if not found:
        raise ServiceError(
            404,
            "no_explanation",
            f"nothing stored for casino_id={casino_id!r} on {day.isoformat()}"
            + (f" and kpi={kpi!r}" if kpi else ""),
            "casino_id",
        )
    explanations = [
        {"kpi": name, **{key: entry.get(key, []) for key in ("summary", *_STORED)}}
        for name, entry in sorted(found.items())
    ]
    return {
        "casino_id": casino_id,
        "date_target": day.isoformat(),
        "explanations": explanations,
    }
