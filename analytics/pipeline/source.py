"""Reading the daily and segment tables from the source database.

The source contract:

* a **wide daily table**: one row per casino and day, one numeric column per
  metric (``casino_id, day, coin_in, games_played, ...``);
* a **long segment table**: one row per casino, day and segment, one column per
  dimension (``zone, denomination, game_type``) and additive measures.

Table and column names come from the configuration. They are checked against the
database catalog (SQLAlchemy reflection) before any query is built, and the
queries are SQLAlchemy constructs over the reflected tables, so an identifier is
always quoted by the dialect and never pasted into SQL text. Values (dates,
casino ids) are bound parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.errors import ColumnError
from analytics.pipeline.config import SourceSettings

__all__ = ["SourceReader", "SourceSchemaError"]

log = logging.getLogger(__name__)


class SourceSchemaError(ColumnError):
    """A configured source table or column does not exist in the database."""


@dataclass(frozen=True)
class _Tables:
    daily: sa.Table
    segments: sa.Table | None
    metric_columns: tuple[str, ...]
    segment_measures: tuple[str, ...]


def _is_numeric(column: sa.Column[object]) -> bool:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return False
    return python_type in (int, float) or python_type.__name__ == "Decimal"


class SourceReader:
    """Validated, parameterised access to the source tables.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The source database.
    settings : SourceSettings
        Table and column names.
    need_segments : bool
        Whether the segment table must exist (only when ``rank_segments`` runs).

    Raises
    ------
    SourceSchemaError
        A configured table or column is not in the database catalog.

    Examples
    --------
    >>> engine = sa.create_engine("sqlite://")
    >>> with engine.begin() as conn:
    ...     _ = conn.exec_driver_sql(
    ...         "CREATE TABLE casino_daily (casino_id TEXT, day DATE, coin_in FLOAT)")
    >>> SourceReader(engine, SourceSettings(), need_segments=False).metric_columns
    ('coin_in',)
    """

    def __init__(
        self, engine: Engine, settings: SourceSettings, *, need_segments: bool = True
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._tables = self._reflect(need_segments=need_segments)

    @property
    def metric_columns(self) -> tuple[str, ...]:
        """The numeric columns of the daily table used as metrics."""
        return self._tables.metric_columns

    @property
    def segment_measures(self) -> tuple[str, ...]:
        """The additive measures of the segment table."""
        return self._tables.segment_measures

    @property
    def has_segments(self) -> bool:
        """Whether the segment table was found and validated."""
        return self._tables.segments is not None

    def _reflect(self, *, need_segments: bool) -> _Tables:
        s = self.settings
        inspector = sa.inspect(self.engine)
        keys = (s.casino_column, s.date_column)
        daily = self._table(inspector, s.daily_table, "daily_table")
        self._require(daily, keys, "daily_table")
        metrics = self._measures(daily, s.metric_columns, (*keys,), "metric_columns")
        segments = None
        measures: tuple[str, ...] = ()
        if need_segments:
            segments = self._table(inspector, s.segment_table, "segment_table")
            self._require(segments, (*keys, *s.dimension_columns), "segment_table")
            exclude = (*keys, *s.dimension_columns)
            measures = self._measures(
                segments, s.segment_measures, exclude, "segment_measures"
            )
        return _Tables(daily, segments, metrics, measures)

    def _table(self, inspector: sa.Inspector, name: str, setting: str) -> sa.Table:
        schema = self.settings.schema
        if schema is not None and schema not in inspector.get_schema_names():
            raise SourceSchemaError(f"source.schema={schema!r} is not in the database")
        present = inspector.get_table_names(schema=schema)
        present += inspector.get_view_names(schema=schema)
        if name not in present:
            raise SourceSchemaError(
                f"source.{setting}={name!r} is not a table in the source database; "
                f"tables present: {', '.join(sorted(present)) or '(none)'}"
            )
        return sa.Table(name, sa.MetaData(), schema=schema, autoload_with=self.engine)

    @staticmethod
    def _require(table: sa.Table, columns: Sequence[str], setting: str) -> None:
        missing = [c for c in columns if c not in table.c]
        if missing:
            raise SourceSchemaError(
                f"column(s) {', '.join(map(repr, missing))} not in source table "
                f"{table.name!r} ({setting}); columns: {', '.join(table.c.keys())}"
            )

    def _measures(
        self,
        table: sa.Table,
        configured: Sequence[str],
        exclude: Sequence[str],
        setting: str,
    ) -> tuple[str, ...]:
        if configured:
            self._require(table, configured, setting)
            return tuple(configured)
        return tuple(
            c.name for c in table.columns if c.name not in exclude and _is_numeric(c)
        )

    def list_casinos(self, *, date_from: dt.date, date_to: dt.date) -> list[str | int]:
        """Return the casinos with at least one daily row in ``[date_from, date_to]``.

        Parameters
        ----------
        date_from, date_to : datetime.date
            Inclusive bounds (gaming days).

        Returns
        -------
        list
            Casino ids as the database holds them (text or integer), sorted.
        """
        table, s = self._tables.daily, self.settings
        casino, day = table.c[s.casino_column], table.c[s.date_column]
        query = (
            sa.select(casino)
            .where(*self._date_range(day, date_from, date_to))
            .distinct()
            .order_by(casino)
        )
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    @staticmethod
    def _date_range(
        day: sa.ColumnElement[object], date_from: dt.date, date_to: dt.date
    ) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
        # A half-open upper bound also matches dates stored as timestamps or as
        # 'YYYY-MM-DD HH:MM:SS' text (SQLite), where "<= date_to" would miss them.
        upper = date_to + dt.timedelta(days=1)
        return day >= sa.bindparam("date_from", date_from, type_=sa.Date), day < (
            sa.bindparam("date_upper", upper, type_=sa.Date)
        )

    def read_daily(
        self,
        casinos: Sequence[str | int],
        *,
        date_from: dt.date,
        date_to: dt.date,
    ) -> pd.DataFrame:
        """Read the wide daily rows of ``casinos`` between two dates (inclusive).

        Returns
        -------
        pandas.DataFrame
            Columns: casino column, date column (datetime64), then the metrics.
        """
        s = self.settings
        columns = [s.casino_column, s.date_column, *self.metric_columns]
        return self._read(self._tables.daily, columns, casinos, date_from, date_to)

    def read_segments(
        self,
        casinos: Sequence[str | int],
        *,
        date_from: dt.date,
        date_to: dt.date,
    ) -> pd.DataFrame:
        """Read the segment rows of ``casinos`` between two dates (inclusive).

        The measures are summed over the configured dimensions, so a table with
        finer grain (e.g. a ``player_tier`` column not configured) still yields
        one row per casino, day and segment. Only additive measures belong here.
        """
        table = self._tables.segments
        if table is None:
            raise SourceSchemaError("the segment table was not configured for reading")
        s = self.settings
        keys = [table.c[name] for name in (s.casino_column, s.date_column)]
        dims = [table.c[name] for name in s.dimension_columns]
        sums = [self._sum(table.c[m]).label(m) for m in self.segment_measures]
        query = (
            sa.select(keys[0], _raw(keys[1]), *dims, *sums)
            .where(keys[0].in_(list(casinos)))
            .where(*self._date_range(keys[1], date_from, date_to))
            .group_by(*keys, *dims)
            .order_by(*keys, *dims)
        )
        columns = [
            s.casino_column,
            s.date_column,
            *s.dimension_columns,
            *self.segment_measures,
        ]
        return self._frame(query, columns, table.name)

    def _sum(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        if self.engine.dialect.name != "sqlite":
            return sa.func.sum(column)
        # SQLite keeps text in a numeric column and its SUM() counts it as 0, a
        # silently wrong total. A group holding text returns the text instead
        # (MAX: text sorts after numbers), so the core refuses that casino's
        # column as non-numeric, naming it.
        is_text = sa.func.typeof(column).in_(["text", "blob"])
        holds_text = sa.func.sum(sa.case((is_text, 1), else_=0)) > 0
        return sa.case((holds_text, sa.func.max(column)), else_=sa.func.sum(column))

    def _read(
        self,
        table: sa.Table,
        columns: Sequence[str],
        casinos: Sequence[str | int],
        date_from: dt.date,
        date_to: dt.date,
    ) -> pd.DataFrame:
        s = self.settings
        key, day, *metrics = (table.c[name] for name in columns)
        query = (
            sa.select(key, _raw(day), *metrics)
            .where(table.c[s.casino_column].in_(list(casinos)))
            .where(*self._date_range(table.c[s.date_column], date_from, date_to))
            .order_by(table.c[s.casino_column], table.c[s.date_column])
        )
        return self._frame(query, columns, table.name)

    def _frame(
        self, query: sa.Select[Any], columns: Sequence[str], name: str
    ) -> pd.DataFrame:
        s = self.settings
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).fetchall(), columns=list(columns))
        log.debug("read %s rows from %s", len(frame), name)
        try:
            frame[s.date_column] = pd.to_datetime(frame[s.date_column], format="mixed")
        except (ValueError, TypeError) as err:
            # One casino's odd dates (mixed UTC offsets, text that is not a date)
            # must not fail the others: the core parses each casino's dates and
            # refuses only that casino's, naming the problem.
            log.warning("dates of %s left as read: %s", name, err)
        for column in columns[2:]:
            if column not in s.dimension_columns:
                frame[column] = _numbers(frame[column])
        return frame


def _raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` as the driver returns it, without the type's result processor.

    SQLite's DATE processor raises on 'YYYY-MM-DD HH:MM:SS' text in a DATE column
    and would fail the whole read; pandas parses such values instead.
    """
    return sa.type_coerce(column, sa.String).label(column.key)


def _numbers(values: pd.Series) -> pd.Series:
    """Floats from NUMERIC (Decimal) values; a column holding text stays as read.

    Text must reach the core, which refuses it in the KPI and skips such a metric,
    rather than turn into NaN, a missing reading that is silently left out.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    text = numeric.isna() & values.notna()
    if not text.any():
        return numeric
    return values.astype(object).where(text, numeric.astype(object))
