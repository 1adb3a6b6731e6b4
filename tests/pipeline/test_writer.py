"""Tests of analytics.pipeline.writer: idempotent, atomic, locked answer writes."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.errors import CasinoExplainError, DateError
from analytics.pipeline.compute import Explanation
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.migrate import upgrade
from analytics.pipeline.writer import ReportWriter, SchemaNotMigratedError, lock_key

pytestmark = pytest.mark.postgres

DAY = dt.date(2024, 7, 19)


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[Engine]:
    upgrade(postgres_url)
    engine = engine_from_url(postgres_url)
    yield engine
    engine.dispose()


def _explanation(casino: str, day: dt.date, *, scale: float = 1.0) -> Explanation:
    created = dt.datetime(2024, 7, 20, 6, tzinfo=dt.UTC)
    return Explanation(
        casino_id=casino,
        date_target=day,
        date_base=day - dt.timedelta(days=7),
        kpi="coin_in",
        rows={
            "metric_rankings": [
                {
                    "metric": f"m{i}",
                    "method": "bestranks",
                    "rank": i,
                    "score": scale * i,
                }
                for i in range(1, 4)
            ],
            "daily_summary": [
                {
                    "delta": -10.0 * scale,
                    "explanation": "coin_in fell.",
                    "created_at": created,
                }
            ],
        },
    )


def _rows(engine: Engine, table: str, casino: str) -> list[tuple[Any, ...]]:
    query = sa.text(
        f"SELECT * FROM explain.{table} WHERE casino_id = :c ORDER BY 1, 2, 3, 4"
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query, {"c": casino})]


def _write(writer: ReportWriter, explanation: Explanation) -> int:
    run_id = writer.start_run(
        casino_id=explanation.casino_id,
        date_target=explanation.date_target,
        kpi=explanation.kpi,
        parameters={"method": "bestranks"},
    )
    return writer.write_answer(explanation, run_id=run_id)


def test_rewriting_a_key_replaces_its_answer(engine: Engine) -> None:
    writer = ReportWriter(engine)
    assert _write(writer, _explanation("W1", DAY)) == 4
    assert _write(writer, _explanation("W1", DAY, scale=2.0)) == 4
    rankings = _rows(engine, "metric_rankings", "W1")
    assert len(rankings) == 3
    with engine.connect() as conn:
        scores = (
            conn.execute(
                sa.text(
                    "SELECT score FROM explain.metric_rankings "
                    "WHERE casino_id = 'W1' ORDER BY rank"
                )
            )
            .scalars()
            .all()
        )
        statuses = conn.execute(
            sa.text(
                "SELECT status, count(*) FROM explain.runs "
                "WHERE casino_id = 'W1' GROUP BY 1"
            )
        ).all()
    assert scores == [2.0, 4.0, 6.0]
    assert dict(statuses) == {"succeeded": 2}


def test_other_dates_of_the_same_casino_are_left_alone(engine: Engine) -> None:
    writer = ReportWriter(engine)
    _write(writer, _explanation("W2", DAY))
    _write(writer, _explanation("W2", DAY + dt.timedelta(days=1)))
    _write(writer, _explanation("W2", DAY))
    assert len(_rows(engine, "daily_summary", "W2")) == 2


def test_concurrent_writers_of_one_key_never_duplicate(engine: Engine) -> None:
    writers = [ReportWriter(engine) for _ in range(4)]
    errors: list[BaseException] = []

    def work(writer: ReportWriter, scale: float) -> None:
        try:
            for _ in range(5):
                _write(writer, _explanation("W3", DAY, scale=scale))
        except BaseException as err:
            errors.append(err)

    threads = [
        threading.Thread(target=work, args=(w, float(i))) for i, w in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rankings = _rows(engine, "metric_rankings", "W3")
    assert len(rankings) == 3
    # One writer's answer, whole: every row carries the same run id.
    assert len({row[4] for row in rankings}) == 1


def test_failed_run_keeps_the_reason(engine: Engine) -> None:
    writer = ReportWriter(engine)
    run_id = writer.start_run(
        casino_id="W4", date_target=DAY, kpi="coin_in", parameters={}
    )
    writer.finish_run(run_id, status="failed", message="DateError: day missing")
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT status, error_message FROM explain.runs WHERE run_id = :r"),
            {"r": run_id},
        ).one()
    assert tuple(row) == ("failed", "DateError: day missing")


def test_write_range_loads_many_dates_and_records_failures(engine: Engine) -> None:
    writer = ReportWriter(engine)
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    outcomes: list[tuple[dt.date, Explanation | BaseException]] = [
        (days[0], _explanation("W5", days[0])),
        (days[1], DateError("date_target='2024-07-20' is not in the data")),
        (days[2], _explanation("W5", days[2])),
    ]
    for _ in range(2):
        written, failed = writer.write_range("W5", "coin_in", outcomes, parameters={})
        assert (written, failed) == (8, 1)
    assert len(_rows(engine, "metric_rankings", "W5")) == 6
    with engine.connect() as conn:
        statuses = conn.execute(
            sa.text(
                "SELECT status, count(*) FROM explain.runs "
                "WHERE casino_id = 'W5' GROUP BY 1"
            )
        ).all()
    assert dict(statuses) == {"succeeded": 4, "failed": 2}


def test_unmigrated_database_is_refused() -> None:
    with pytest.raises(SchemaNotMigratedError, match="migrate upgrade"):
        ReportWriter(sa.create_engine("sqlite://"))


def test_lock_key_is_stable_and_signed_64_bit() -> None:
    assert lock_key("C01", "coin_in") == lock_key("C01", "coin_in")
    assert lock_key("C01", "coin_in") != lock_key("C02", "coin_in")
    assert -(2**63) <= lock_key("C01", "coin_in") < 2**63


def _statuses(engine: Engine, casino: str) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT run_id, status, error_message FROM explain.runs "
                "WHERE casino_id = :c"
            ),
            {"c": casino},
        ).all()
    return {row.run_id: (row.status, row.error_message) for row in rows}


def test_a_new_try_closes_the_lost_try_of_the_same_airflow_run(engine: Engine) -> None:
    writer = ReportWriter(engine)
    key = {"casino_id": "W5", "date_target": DAY, "kpi": "coin_in", "parameters": {}}
    lost = writer.start_run(**key, airflow_run_id="scheduled__2024-07-20")
    other_run = writer.start_run(**key, airflow_run_id="manual__2024-07-20")

    retry = writer.start_run(**key, airflow_run_id="scheduled__2024-07-20")

    statuses = _statuses(engine, "W5")
    assert statuses[lost][0] == "failed"
    assert "abandoned" in (statuses[lost][1] or "")
    assert statuses[other_run] == ("running", None)
    assert statuses[retry] == ("running", None)


@pytest.mark.parametrize("dates", [1, 3], ids=["insert", "copy"])
def test_rows_with_an_unknown_column_are_refused_and_nothing_is_written(
    engine: Engine, dates: int
) -> None:
    writer = ReportWriter(engine)
    day = dt.date(2024, 7, 19)
    outcomes: list[tuple[dt.date, Explanation | BaseException]] = []
    for i in range(dates):
        good = _explanation("W9", day - dt.timedelta(days=i))
        rows = dict(good.rows)
        rows["metric_rankings"] = [{**rows["metric_rankings"][0], "colour": "red"}]
        outcomes.append((good.date_target, replace(good, rows=rows)))
    with pytest.raises(CasinoExplainError, match=r"unknown column\(s\) \['colour'\]"):
        writer.write_range("W9", "coin_in", outcomes, parameters={})
    assert _rows(engine, "metric_rankings", "W9") == []
    assert _rows(engine, "runs", "W9") == []
