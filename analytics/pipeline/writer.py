"""Writing answers to the reporting database: idempotent and atomic per key.

An answer is everything computed for one (casino, target date, KPI). Writing it
runs in one transaction that deletes the previous answer from every answer table
and inserts the new one, then marks the run succeeded; readers see either the old
answer or the new one, never a mix. On PostgreSQL the transaction first takes an
advisory lock on (casino, KPI), so two runs of the same key (a retry racing a
manual rerun, a backfill overlapping the daily run) queue instead of interleaving;
the primary keys would reject a duplicate anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from analytics.errors import CasinoExplainError, InsufficientHistoryError
from analytics.pipeline.compute import Explanation, code_version
from analytics.pipeline.migrate import HEAD, current_revision
from analytics.pipeline.schema import ANSWER_TABLES, runs, schema_options

__all__ = ["ReportWriter", "SchemaNotMigratedError", "lock_key"]

log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 4000


class SchemaNotMigratedError(CasinoExplainError):
    """The reporting database is not at the revision this code writes."""


def lock_key(casino_id: str, kpi: str) -> int:
    """A stable signed 64-bit advisory-lock key for (casino, KPI).

    Examples
    --------
    >>> lock_key("C01", "coin_in") == lock_key("C01", "coin_in")
    True
    """
    digest = hashlib.blake2b(f"{casino_id}\x1f{kpi}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ReportWriter:
    """Records runs and replaces answers in the reporting database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The reporting database, migrated to the current revision.
    check_revision : bool
        Refuse to start when the schema is not at the revision the code expects.

    Raises
    ------
    SchemaNotMigratedError
        The database was not migrated (``python -m analytics.pipeline.migrate
        upgrade``); the pipeline never creates tables itself.
    """

    def __init__(self, engine: Engine, *, check_revision: bool = True) -> None:
        self.engine = engine.execution_options(**schema_options(engine))
        if check_revision:
            found = current_revision(engine.url)
            if found != HEAD:
                raise SchemaNotMigratedError(
                    f"reporting database is at revision {found!r}, expected {HEAD!r}; "
                    "run `python -m analytics.pipeline.migrate upgrade` first"
                )

    def _lock(self, conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
        if conn.dialect.name != "postgresql":
            return  # SQLite serialises writers with its database lock.
        # Sorted, so two transactions locking several keys cannot deadlock.
        for key in sorted({lock_key(c, k) for c, k in keys}):
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def start_run(
        self,
        *,
        casino_id: str,
        date_target: dt.date,
        kpi: str,
        parameters: Mapping[str, Any],
        airflow_run_id: str | None = None,
    ) -> str:
        """Insert a 'running' row in the runs table and return its run id."""
        run_id = str(uuid.uuid4())
        row = {
            "run_id": run_id,
            "casino_id": str(casino_id),
            "date_target": date_target,
            "kpi": kpi,
            "status": "running",
            "parameters": dict(parameters),
            "code_version": code_version(),
            "airflow_run_id": airflow_run_id,
            "started_at": _now(),
        }
        with self.engine.begin() as conn:
            if airflow_run_id is not None:
                self._close_abandoned_tries(conn, row)
            conn.execute(runs.insert(), [row])
        return run_id

    @staticmethod
    def _close_abandoned_tries(conn: Connection, row: Mapping[str, Any]) -> None:
        # A try of the same Airflow run still 'running' for this key lost its
        # worker before it could close itself; the new try supersedes it.
        same_try_key = sa.and_(
            runs.c.casino_id == row["casino_id"],
            runs.c.date_target == row["date_target"],
            runs.c.kpi == row["kpi"],
            runs.c.airflow_run_id == row["airflow_run_id"],
            runs.c.status == "running",
        )
        conn.execute(
            runs.update()
            .where(same_try_key)
            .values(
                status="failed",
                error_message="abandoned: a later try of the same Airflow run "
                "started before this one finished (its worker was lost)",
                finished_at=row["started_at"],
            )
        )

    def finish_run(self, run_id: str, *, status: str, message: str | None) -> None:
        """Close a run without an answer ('failed' or 'skipped', with the reason)."""
        values = {
            "status": status,
            "error_message": (message or "")[:_MESSAGE_LIMIT] or None,
            "finished_at": _now(),
        }
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(values))

    def write_answer(self, explanation: Explanation, *, run_id: str) -> int:
        """Replace the answer of one key and mark ``run_id`` succeeded.

        Returns
        -------
        int
            Rows inserted into the answer tables.
        """
        with self.engine.begin() as conn:
            self._lock(conn, [(explanation.casino_id, explanation.kpi)])
            self._delete(
                conn, explanation.casino_id, explanation.kpi, [explanation.date_target]
            )
            written = self._insert(conn, [(explanation, run_id)])
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(
                    status="succeeded",
                    rows_written=explanation.row_counts(),
                    finished_at=_now(),
                )
            )
        return written

    def write_range(
        self,
        casino_id: str,
        kpi: str,
        outcomes: Sequence[tuple[dt.date, Explanation | BaseException]],
        *,
        parameters: Mapping[str, Any],
        airflow_run_id: str | None = None,
    ) -> tuple[int, int]:
        """Bulk path: replace the answers of many dates of one casino and KPI.

        One transaction deletes the answers of every date in ``outcomes`` that
        succeeded, inserts all new rows (COPY on PostgreSQL, multi-row INSERTs
        elsewhere) and records one run per date, failed dates with their error.

        Returns
        -------
        tuple of int
            (rows inserted into answer tables, dates that failed).
        """
        started = _now()
        pairs: list[tuple[Explanation, str]] = []
        run_rows: list[dict[str, Any]] = []
        for day, outcome in outcomes:
            run_id = str(uuid.uuid4())
            run_rows.append(
                _run_row(
                    run_id,
                    casino_id,
                    day,
                    kpi,
                    outcome,
                    parameters,
                    airflow_run_id,
                    started,
                )
            )
            if isinstance(outcome, Explanation):
                pairs.append((outcome, run_id))
        with self.engine.begin() as conn:
            self._lock(conn, [(casino_id, kpi)])
            self._delete(conn, casino_id, kpi, [e.date_target for e, _ in pairs])
            written = self._insert(conn, pairs)
            if run_rows and conn.dialect.name == "postgresql":
                _copy_rows(conn, runs, run_rows)
            elif run_rows:
                conn.execute(runs.insert(), run_rows)
        return written, len(outcomes) - len(pairs)

    @staticmethod
    def _delete(
        conn: Connection, casino_id: str, kpi: str, dates: Sequence[dt.date]
    ) -> None:
        if not dates:
            return
        for table in ANSWER_TABLES:
            conn.execute(
                table.delete()
                .where(table.c.casino_id == casino_id)
                .where(table.c.kpi == kpi)
                .where(table.c.date_target.in_(list(dates)))
            )

    @staticmethod
    def _insert(conn: Connection, pairs: Sequence[tuple[Explanation, str]]) -> int:
        written = 0
        for table in ANSWER_TABLES:
            rows = [r for e, run_id in pairs for r in e.keyed_rows(table.name, run_id)]
            if not rows:
                continue
            if conn.dialect.name == "postgresql" and len(pairs) > 1:
                # Many dates at once (the bulk path): COPY in the same transaction,
                # several times faster than batched INSERTs.
                _copy_rows(conn, table, rows)
            else:
                # SQLAlchemy batches the parameter sets into multi-row
                # INSERT ... VALUES statements ("insertmanyvalues").
                names = _column_names(rows, table)
                conn.execute(
                    table.insert(), [{n: row.get(n) for n in names} for row in rows]
                )
            written += len(rows)
        return written


def _column_names(rows: list[dict[str, Any]], table: sa.Table) -> list[str]:
    """Every key the rows use, in table order; refuses keys the table lacks.

    A batch needs the same keys in every row; a row without one gets NULL.
    """
    used = {name for row in rows for name in row}
    unknown = used - set(table.c.keys())
    if unknown:
        raise CasinoExplainError(
            f"rows for {table.name!r} carry unknown column(s) {sorted(unknown)!r}"
        )
    return [column.key for column in table.columns if column.key in used]


def _copy_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into ``table`` on the connection's open transaction."""
    from psycopg import sql
    from psycopg.types.json import Json

    names = _column_names(rows, table)
    json_columns = [n for n in names if isinstance(table.c[n].type, sa.JSON)]
    options = conn.get_execution_options().get("schema_translate_map", {})
    schema = options.get(table.schema, table.schema)
    # Table and column names come from the schema definitions, never from
    # configuration, and are quoted as identifiers all the same.
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*([schema] if schema else []), table.name),
        sql.SQL(", ").join(sql.Identifier(n) for n in names),
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(statement) as copy:
        for row in rows:
            values = list(map(row.get, names))
            for position in (names.index(n) for n in json_columns):
                if values[position] is not None:
                    values[position] = Json(values[position])
            copy.write_row(values)


def _run_row(
    run_id: str,
    casino_id: str,
    day: dt.date,
    kpi: str,
    outcome: Explanation | BaseException,
    parameters: Mapping[str, Any],
    airflow_run_id: str | None,
    started: dt.datetime,
) -> dict[str, Any]:
    if isinstance(outcome, Explanation):
        status, message, counts = "succeeded", None, outcome.row_counts()
    else:
        skipped = isinstance(outcome, InsufficientHistoryError)
        status = "skipped" if skipped else "failed"
        message = f"{type(outcome).__name__}: {outcome}"[:_MESSAGE_LIMIT]
        counts = None
    return {
        "run_id": run_id,
        "casino_id": str(casino_id),
        "date_target": day,
        "kpi": kpi,
        "status": status,
        "parameters": json.loads(json.dumps(dict(parameters), default=str)),
        "code_version": code_version(),
        "rows_written": counts,
        "error_message": message,
        "airflow_run_id": airflow_run_id,
        "started_at": started,
        "finished_at": _now(),
    }
