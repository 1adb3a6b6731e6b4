"""Faults in the pipeline, on a real PostgreSQL server.

A dropped reporting connection in the middle of a write, an unreachable source,
two runs of one key at once, a rerun by newer code and an interrupted backfill.
Each test works on its own target dates of one private database, so the tests do
not see each other's answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.pipeline import writer as writer_module
from analytics.pipeline.config import PipelineConfig, load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.runner import backfill_chunk, explain_chunk
from analytics.pipeline.writer import lock_key

pytestmark = pytest.mark.postgres

ANSWER_TABLES = (
    "metric_rankings",
    "change_significance",
    "segment_breakdown",
    "root_cause_segments",
    "daily_summary",
)
TARGET = dt.date(2024, 7, 19)
CASINOS = ["C01", "C02", "C03"]
SECRET = "n0t-the-real-pw"  # a password that must never show up anywhere


@pytest.fixture(scope="module")
def engine(loaded_url: str) -> Iterator[Engine]:
    engine = engine_from_url(loaded_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return load_config()


def _database(engine: Engine) -> str:
    return str(engine.url.database)


def answer(
    engine: Engine, casino: str, day: dt.date
) -> dict[str, list[tuple[Any, ...]]]:
    """Every answer row of one key, without run ids and timestamps, sorted."""
    found = {}
    with engine.connect() as conn:
        for table in ANSWER_TABLES:
            result = conn.execute(
                sa.text(
                    f"SELECT * FROM explain.{table} "  # table names are constants
                    "WHERE casino_id = :casino AND date_target = :day"
                ),
                {"casino": casino, "day": day},
            )
            names = list(result.keys())
            kept = [i for i, n in enumerate(names) if n not in ("run_id", "created_at")]
            found[table] = sorted(
                (tuple(row[i] for i in kept) for row in result), key=repr
            )
    return found


def runs_of(engine: Engine, casino: str, day: dt.date) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT status, code_version, error_message FROM explain.runs "
                    "WHERE casino_id = :casino AND date_target = :day "
                    "ORDER BY started_at"
                ),
                {"casino": casino, "day": day},
            )
        ]


def wait_for_blocked_backend(engine: Engine, statement: str, run: Background) -> int:
    """The pid of the backend of this database waiting on a lock in ``statement``."""
    query = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE datname = :db "
        "AND wait_event_type = 'Lock' AND query ILIKE :statement"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while time.monotonic() < deadline and run.alive:
            pid = conn.execute(
                query, {"db": _database(engine), "statement": f"%{statement}%"}
            ).scalar()
            if pid is not None:
                return int(pid)
            # pg_stat_activity is a snapshot per transaction: end it to see news.
            conn.rollback()
            time.sleep(0.05)
    raise AssertionError(
        f"no backend waited on a lock in {statement!r}; the run ended with "
        f"{run.error!r}, {run.result!r}"
    )


def terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar()


def locks_left(engine: Engine) -> list[tuple[Any, ...]]:
    """Advisory locks and ungranted locks still present in this database."""
    query = sa.text(
        "SELECT l.locktype, l.mode, l.granted, l.pid FROM pg_locks AS l "
        "JOIN pg_database AS d ON d.oid = l.database "
        "WHERE d.datname = :db AND l.pid <> pg_backend_pid() "
        "AND (l.locktype = 'advisory' OR NOT l.granted)"
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query, {"db": _database(engine)})]


class Background:
    """Runs a function in a thread and keeps its result or its exception."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function,))
        self._thread.start()

    def _run(self, function: Callable[[], Any]) -> None:
        try:
            self.result = function()
        except BaseException as err:  # kept for the test to inspect
            self.error = err

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the background run did not finish"


def _chunk(
    engine: Engine, config: PipelineConfig, day: dt.date, casinos: list[str]
) -> Any:
    return explain_chunk(
        casinos, date_target=day, config=config, source=engine, reporting=engine
    )


# ------------------------------------------------- dropped reporting connection


def test_connection_dropped_mid_write_leaves_the_old_answer_then_retry_completes(
    engine: Engine, config: PipelineConfig
) -> None:
    day = TARGET
    _chunk(engine, config, day, ["C01"])
    complete = answer(engine, "C01", day)
    assert all(complete[t] for t in ANSWER_TABLES)

    # Hold C01's summary row: the writer deletes four tables' rows, then waits
    # on this lock in the fifth, in the middle of its transaction.
    holder = engine.connect()
    holder.execute(
        sa.text(
            "SELECT 1 FROM explain.daily_summary "
            "WHERE casino_id = 'C01' AND date_target = :day FOR UPDATE"
        ),
        {"day": day},
    )
    writer_engine = engine_from_url(engine.url)
    try:
        run = Background(lambda: _chunk(writer_engine, config, day, ["C01"]))
        pid = wait_for_blocked_backend(engine, "DELETE FROM explain.daily_summary", run)
        terminate(engine, pid)
        run.join()
    finally:
        holder.rollback()
        holder.close()

    # The task fails (the error reaches Airflow, which retries it) ...
    assert isinstance(run.error, sa.exc.OperationalError)
    # ... and nothing partial is visible: the four deletes were rolled back.
    assert answer(engine, "C01", day) == complete
    statuses = [status for status, _, _ in runs_of(engine, "C01", day)]
    assert statuses == ["succeeded", "failed"]

    # The retry writes the complete answer again.
    outcome = _chunk(writer_engine, config, day, ["C01"])
    writer_engine.dispose()
    assert (outcome.succeeded, outcome.failed) == (1, 0)
    assert answer(engine, "C01", day) == complete
    assert locks_left(engine) == []


# ------------------------------------------------------ unreachable source


def _unreachable(database: str) -> str:
    # Port 1 on the loopback: connection refused at once, no waiting.
    return f"postgresql+psycopg://casino:{SECRET}@127.0.0.1:1/{database}"


def test_unreachable_source_fails_the_chunk_clearly_and_alone(
    engine: Engine, config: PipelineConfig, caplog: pytest.LogCaptureFixture
) -> None:
    day = TARGET - dt.timedelta(days=3)
    source = engine_from_url(_unreachable(_database(engine)))
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(sa.exc.OperationalError) as caught:
            explain_chunk(
                ["C01"], date_target=day, config=config, source=source, reporting=engine
            )
    finally:
        source.dispose()
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert "port 1 failed" in message
    assert SECRET not in message
    assert SECRET not in caplog.text

    # The other chunk, with a reachable source, is not affected.
    outcome = _chunk(engine, config, day, ["C02", "C03"])
    assert (outcome.succeeded, outcome.failed) == (2, 0)
    assert answer(engine, "C01", day)["daily_summary"] == []
    assert answer(engine, "C02", day)["daily_summary"]


@pytest.mark.airflow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tasks_are_retried_with_exponential_backoff() -> None:
    from analytics.pipeline.dags import backfill_dag, daily_dag

    for dag in (daily_dag(), backfill_dag()):
        for task in dag.tasks:
            if task.task_id == "summarize":
                continue  # adds up counts; a retry would change nothing
            assert task.retries >= 2, task.task_id
            assert task.retry_exponential_backoff, task.task_id
            assert task.retry_delay >= dt.timedelta(minutes=1)
            assert task.max_retry_delay is not None


# ------------------------------------------------ one key run twice at once


def test_the_same_key_run_twice_at_once_leaves_one_answer(
    engine: Engine, config: PipelineConfig
) -> None:
    day = TARGET - dt.timedelta(days=1)
    barrier = threading.Barrier(2)
    engines = [engine_from_url(engine.url) for _ in range(2)]

    def run(own: Engine) -> Any:
        barrier.wait(timeout=30)
        return _chunk(own, config, day, ["C01"])

    runs = [Background(lambda own=own: run(own)) for own in engines]
    for background in runs:
        background.join()
    for own in engines:
        own.dispose()

    assert [r.error for r in runs] == [None, None]
    assert [r.result.succeeded for r in runs] == [1, 1]
    once = answer(engine, "C01", day)
    assert len(once["daily_summary"]) == 1
    for table, rows in once.items():
        assert len(rows) == len(set(rows)), table
    assert [s for s, _, _ in runs_of(engine, "C01", day)] == ["succeeded"] * 2
    assert locks_left(engine) == []

    # The two runs computed the same answer; a third, alone, agrees with it.
    _chunk(engine, config, day, ["C01"])
    assert answer(engine, "C01", day) == once


# ------------------------------------------------ rerun by a newer version


def test_rerun_by_newer_code_replaces_the_answer_and_keeps_both_runs(
    engine: Engine, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = TARGET - dt.timedelta(days=2)
    _chunk(engine, config, day, ["C01"])
    old, old_version = answer(engine, "C01", day), writer_module.code_version()

    monkeypatch.setattr(writer_module, "code_version", lambda: "casino-explain 9.9.9")
    newer = load_config(overrides={"explain": {"method": "bestranks"}})
    _chunk(engine, newer, day, ["C01"])
    new = answer(engine, "C01", day)

    assert new != old
    with engine.connect() as conn:
        methods = conn.execute(
            sa.text(
                "SELECT DISTINCT method FROM explain.metric_rankings "
                "WHERE casino_id = 'C01' AND date_target = :day"
            ),
            {"day": day},
        ).scalars()
        assert list(methods) == ["bestranks"]
        shown = conn.execute(
            sa.text(
                "SELECT code_version FROM explain.v_daily_summary "
                "WHERE casino_id = 'C01' AND date_target = :day"
            ),
            {"day": day},
        ).scalar_one()
    assert shown == "casino-explain 9.9.9"
    history = runs_of(engine, "C01", day)
    assert [(s, v) for s, v, _ in history] == [
        ("succeeded", old_version),
        ("succeeded", "casino-explain 9.9.9"),
    ]


# ------------------------------------------------ interrupted backfill


def test_interrupted_backfill_resumed_writes_every_date_once(
    engine: Engine, config: PipelineConfig
) -> None:
    date_from, date_to = TARGET - dt.timedelta(days=20), TARGET - dt.timedelta(days=9)
    days = [
        date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)
    ]

    def backfill(own: Engine) -> Any:
        return backfill_chunk(
            CASINOS,
            date_from=date_from,
            date_to=date_to,
            config=config,
            source=own,
            reporting=own,
        )

    # Hold C02's writer lock: C01 is loaded, C02's transaction waits and is
    # killed, C03 is never reached -- the worker died halfway.
    holder = engine.connect()
    holder.execute(sa.select(sa.func.pg_advisory_lock(lock_key("C02", "coin_in"))))
    first_engine = engine_from_url(engine.url)
    try:
        first = Background(lambda: backfill(first_engine))
        pid = wait_for_blocked_backend(engine, "pg_advisory_xact_lock", first)
        terminate(engine, pid)
        first.join()
    finally:
        holder.execute(
            sa.select(sa.func.pg_advisory_unlock(lock_key("C02", "coin_in")))
        )
        holder.close()
        first_engine.dispose()
    assert isinstance(first.error, sa.exc.OperationalError)
    assert _summary_dates(engine, date_from, date_to) == {("C01", day) for day in days}

    resumed = backfill(engine)
    assert resumed.failed == 0
    assert resumed.succeeded + resumed.skipped == len(CASINOS) * len(days)
    written = _summary_rows(engine, date_from, date_to)
    assert sorted(written) == sorted({(c, d) for c in CASINOS for d in days})
    assert locks_left(engine) == []


def _summary_rows(
    engine: Engine, date_from: dt.date, date_to: dt.date
) -> list[tuple[str, dt.date]]:
    with engine.connect() as conn:
        return [
            (row[0], row[1])
            for row in conn.execute(
                sa.text(
                    "SELECT casino_id, date_target FROM explain.daily_summary "
                    "WHERE date_target BETWEEN :a AND :b"
                ),
                {"a": date_from, "b": date_to},
            )
        ]


def _summary_dates(
    engine: Engine, date_from: dt.date, date_to: dt.date
) -> set[tuple[str, dt.date]]:
    rows = _summary_rows(engine, date_from, date_to)
    assert len(rows) == len(set(rows))
    return set(rows)
