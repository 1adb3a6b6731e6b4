"""Malformed source data through the pipeline door (SQLite, no Airflow).

The companion of ``test_bad_input.py``: one table of cases, each a mutation of
the source tables of ONE casino (C02) of three generated casinos, written to a
SQLite source database, then run through :func:`explain_chunk` (the daily door)
and, for some cases, :func:`backfill_chunk` (the bulk door). Each case states its
expected outcome once:

* ``Failed`` / ``Skipped``: C02's run is recorded in ``runs`` as failed (or
  skipped) with an ``error_message`` naming the problem, C02 has no answer rows,
  and C01 and C03 are answered exactly as on clean data (per-casino isolation);
* ``Answered``: C02 is answered with the documented result, which ``check``
  inspects, and C01 and C03 again as on clean data;
* ``AllFailed``: a configuration problem that only shows per casino (a KPI or a
  segment measure missing, an empty table): every run fails naming it;
* ``Refused``: a configuration problem found when the source is reflected: a
  :class:`~analytics.errors.CasinoExplainError` naming the setting, and no run and
  no answer row written.

Cases that only make sense for files (encodings, broken quotes, file sizes) are
the file doors' business and are not repeated here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.errors import CasinoExplainError, DegenerateInputWarning
from analytics.pipeline.config import load_config
from analytics.pipeline.demo import load_source_tables
from analytics.pipeline.migrate import upgrade
from analytics.pipeline.runner import ChunkOutcome, backfill_chunk, explain_chunk
from analytics.pipeline.source import SourceSchemaError

TARGET = dt.date(2024, 7, 19)  # a Friday; the base day is 2024-07-12
BULK_FROM = TARGET - dt.timedelta(days=1)
CASINOS = ("C01", "C02", "C03")
OTHERS = ("C01", "C03")
ANSWER_TABLES = (
    "metric_rankings",
    "change_significance",
    "segment_breakdown",
    "root_cause_segments",
    "daily_summary",
)
# A casino id at the reporting schema's limit of 64 characters, quote included.
UNICODE_ID = "Casino Ünïcødé 大厅 O'Brien".ljust(64, "é")

# SQL fragments of the mutations (constants of this module, never user input).
DAILY, SEGMENTS = "casino_daily", "casino_segment_daily"
C02 = "casino_id = 'C02'"
ON_D = "day = '2024-07-19'"
ON_B = "day = '2024-07-12'"


def _duplicate(table: str, where: str) -> str:
    return f"INSERT INTO {table} SELECT * FROM {table} WHERE {C02} AND {where}"


def _delete(table: str, where: str = "1 = 1") -> str:
    return f"DELETE FROM {table} WHERE {C02} AND {where}"


def _set(table: str, assignment: str, where: str = "1 = 1") -> str:
    return f"UPDATE {table} SET {assignment} WHERE {C02} AND {where}"


def _rename(new_id: str) -> tuple[str, ...]:
    quoted = new_id.replace("'", "''")
    return tuple(_set(table, f"casino_id = '{quoted}'") for table in (DAILY, SEGMENTS))


# -------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Failed:
    """C02's run failed; its ``error_message`` matches ``match``."""

    match: str
    status: str = "failed"


@dataclass(frozen=True)
class Skipped(Failed):
    """C02's run was skipped (too little history); the message matches."""

    status: str = "skipped"


@dataclass(frozen=True)
class AllFailed:
    """Every casino's run failed with a message matching ``match``."""

    match: str


@dataclass(frozen=True)
class Refused:
    """The chunk raises ``error`` (a project error) matching ``match``."""

    error: type[CasinoExplainError]
    match: str


@dataclass(frozen=True)
class Run:
    """What one chunk did, read back from the reporting database."""

    engine: Engine
    outcome: ChunkOutcome
    warnings: tuple[type[Warning], ...]

    def runs(self, casino: object) -> list[tuple[str, str, str | None]]:
        query = sa.text(
            "SELECT date_target, status, error_message FROM runs "
            "WHERE casino_id = :casino ORDER BY date_target"
        )
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query, {"casino": str(casino)})]

    def rows(
        self, table: str, casino: object, day: dt.date = TARGET
    ) -> list[dict[str, Any]]:
        """Answer rows of one key without run ids and timestamps, sorted."""
        query = sa.text(
            f"SELECT * FROM {table} "  # table names are this module's constants
            "WHERE casino_id = :casino AND date_target = :day"
        )
        with self.engine.connect() as conn:
            result = conn.execute(query, {"casino": str(casino), "day": str(day)})
            found = [dict(r._mapping) for r in result]
        for row in found:
            for name in ("run_id", "created_at", "casino_id"):
                row.pop(name, None)
        return sorted(found, key=repr)

    def statuses(self, casino: object) -> list[str]:
        return [status for _, status, _ in self.runs(casino)]

    def summary(self, casino: object, day: dt.date = TARGET) -> dict[str, Any]:
        (row,) = self.rows("daily_summary", casino, day)
        return row

    def answer(self, casino: object, day: dt.date = TARGET) -> dict[str, Any]:
        return {table: self.rows(table, casino, day) for table in ANSWER_TABLES}


@dataclass(frozen=True)
class Answered:
    """C02 is answered; ``check(run, clean)`` inspects it against clean data."""

    check: Callable[[Run, Run], None]
    warns: tuple[type[Warning], ...] = ()


Expect = Failed | AllFailed | Refused | Answered


@dataclass(frozen=True)
class Case:
    """One malformed source (or configuration) and its expected outcome."""

    sql: tuple[str, ...]
    expect: Expect
    config: Mapping[str, Any] = field(default_factory=dict)
    casino: str = "C02"  # the id the chunk passes for the mutated casino
    bulk: bool = False  # also through backfill_chunk


# ------------------------------------------------------------ answer checks


def _same_as_clean(run: Run, clean: Run) -> None:
    for day, _, _ in clean.runs("C02"):  # every day of the door
        assert run.answer("C02", day) == clean.answer("C02", day), day


def _same_kpi_change(run: Run, clean: Run) -> dict[str, Any]:
    mine, usual = run.summary("C02"), clean.summary("C02")
    for name in ("value_base", "value_target", "delta", "pct_change"):
        assert mine[name] == usual[name], name
    return mine


def _history_gap(run: Run, clean: Run) -> None:
    # H holds the same-weekday dates present: one fewer, a different z-score.
    mine = _same_kpi_change(run, clean)
    assert math.isfinite(mine["robust_z"])
    assert mine["robust_z"] != clean.summary("C02")["robust_z"]


def _text_metric_skipped(run: Run, clean: Run) -> None:
    _same_kpi_change(run, clean)
    rankings = run.rows("metric_rankings", "C02")
    (visits,) = [r for r in rankings if r["metric"] == "visits"]
    assert visits["rank"] is None
    assert "not numeric" in visits["skipped_reason"]


def _pct_change_against_magnitude(run: Run, clean: Run) -> None:
    # pct_change = delta / |value at B|: the sign of the change is kept.
    mine, usual = run.summary("C02"), clean.summary("C02")
    assert mine["value_target"] == -usual["value_target"] < 0
    expected = (mine["value_target"] - mine["value_base"]) / abs(mine["value_base"])
    assert mine["pct_change"] == pytest.approx(expected, rel=1e-12)
    assert mine["significant"] == 1
    assert "an unusual drop" in mine["explanation"]


def _kpi_did_not_move(run: Run, clean: Run) -> None:
    mine = run.summary("C02")
    assert (mine["delta"], mine["pct_change"], mine["robust_z"]) == (0.0, 0.0, None)
    assert "coin_in did not change" in mine["explanation"]
    (kpi,) = [r for r in run.rows("change_significance", "C02") if r["is_kpi"]]
    assert kpi["robust_z"] is None
    assert kpi["reason"]


def _missing_member(run: Run, clean: Run) -> None:
    _same_kpi_change(run, clean)
    zones = {
        r["member"]
        for r in run.rows("segment_breakdown", "C02")
        if r["dimension"] == "zone"
    }
    assert zones == {"(missing)", "main_north"}


def _extra_columns_ignored(run: Run, clean: Run) -> None:
    _same_as_clean(run, clean)
    metrics = {r["metric"] for r in run.rows("metric_rankings", "C02")}
    assert "notes" not in metrics


def _renamed_casino(run: Run, clean: Run) -> None:
    assert run.answer(UNICODE_ID) == clean.answer("C02")
    assert run.runs(UNICODE_ID) == [(str(TARGET), "succeeded", None)]


def _zone_total(run: Run) -> float:
    rows = run.rows("segment_breakdown", "C02")
    return sum(r["value_target"] for r in rows if r["dimension"] == "zone")


def _segment_rows_summed(run: Run, clean: Run) -> None:
    # Rows finer than the configured dimensions are summed in SQL (the source
    # contract), so a copied row cannot be told from finer grain: D's segment
    # total doubles while the daily table's KPI is unchanged.
    _same_kpi_change(run, clean)
    assert _zone_total(run) == pytest.approx(2 * _zone_total(clean), rel=1e-12)


# ---------------------------------------------------------------- the table

CONSTANT = (
    _set(DAILY, "coin_in = 1000000"),
    _set(SEGMENTS, "coin_in = 62500"),  # 16 leaves a day
)
ALL_C02_TABLES = (DAILY, SEGMENTS)

CASES: dict[str, Case] = {
    # -- duplicated, missing and too few days
    "duplicated-target-day": Case(
        (_duplicate(DAILY, ON_D),),
        Failed(r"DuplicateKeyError: 2 rows share a date \(first: '2024-07-19'\)"),
        bulk=True,
    ),
    "duplicated-history-day": Case(
        (_duplicate(DAILY, "day = '2024-06-14'"),),
        Failed(r"DuplicateKeyError: 2 rows share a date \(first: '2024-06-14'\)"),
    ),
    "duplicated-day-outside-window": Case(
        # The window starts 98 days before D: 2024-03-05 is never read.
        (_duplicate(DAILY, "day = '2024-03-05'"),),
        Answered(_same_as_clean),
    ),
    "missing-target-day": Case(
        (_delete(DAILY, ON_D),),
        Failed(
            r"DateError: date_target='2024-07-19' is not in the data "
            r"\(dates run from 2024-04-1\d to 2024-07-18\)"
        ),
        bulk=True,
    ),
    "missing-base-day": Case(
        (_delete(DAILY, ON_B),),
        Failed(r"DateError: date_base='2024-07-12' is not in the data"),
    ),
    "history-gap": Case(
        (_delete(DAILY, "day = '2024-06-14'"),),
        Answered(_history_gap),
    ),
    "only-one-day": Case(
        (_delete(DAILY, "day <> '2024-07-19'"),),
        Failed(
            r"date_base='2024-07-12' is not in the data "
            r"\(dates run from 2024-07-19 to 2024-07-19\)"
        ),
    ),
    "too-little-history": Case(
        (_delete(DAILY, "day < '2024-06-25'"),),
        Skipped(r"only 3 same-weekday date\(s\) before 2024-07-19 .* at least 4"),
    ),
    "casino-absent": Case(
        tuple(_delete(table) for table in ALL_C02_TABLES),
        Failed(r"InputError: the data is empty: no rows to explain"),
        bulk=True,
    ),
    # -- values of the KPI and the metrics
    "kpi-null-on-target-day": Case(
        (_set(DAILY, "coin_in = NULL", ON_D),),
        Failed(r"the KPI 'coin_in' has no value \(NaN\) at date_target='2024-07-19'"),
    ),
    "kpi-text-on-target-day": Case(
        (_set(DAILY, "coin_in = 'n/a'", ON_D),),
        Failed(r"ColumnError: KPI column 'coin_in' must be numeric, got dtype object"),
        bulk=True,
    ),
    "kpi-text-in-history": Case(
        (_set(DAILY, "coin_in = '4,523,123.45'", "day = '2024-06-14'"),),
        Failed(r"ColumnError: KPI column 'coin_in' must be numeric, got dtype object"),
    ),
    "metric-text-on-target-day": Case(
        (_set(DAILY, "visits = 'lots'", ON_D),),
        Answered(_text_metric_skipped),
    ),
    "kpi-infinite-on-target-day": Case(
        (_set(DAILY, "coin_in = 9e999", ON_D),),  # SQLite stores +Inf
        Failed(r"column\(s\) 'coin_in' hold infinite values on the compared dates"),
        bulk=True,
    ),
    "kpi-negative-on-target-day": Case(
        (_set(DAILY, "coin_in = -coin_in", ON_D),),
        Answered(_pct_change_against_magnitude),
    ),
    "kpi-constant": Case(
        CONSTANT,
        Answered(_kpi_did_not_move, warns=(DegenerateInputWarning,)),
    ),
    # -- the segment table
    "segment-rows-missing-on-target-day": Case(
        (_delete(SEGMENTS, ON_D),),
        Failed(
            r"DateError: date_target='2024-07-19' is not in the data "
            r"\(dates run from 2024-07-12 to 2024-07-18\)"
        ),
    ),
    "segment-rows-missing-for-casino": Case(
        (_delete(SEGMENTS),),
        Failed(r"InputError: the data is empty: no rows to explain"),
        bulk=True,
    ),
    "segment-dimension-null": Case(
        (_set(SEGMENTS, "zone = NULL", "zone = 'high_limit'"),),
        Answered(_missing_member),
    ),
    "segment-rows-duplicated": Case(
        (_duplicate(SEGMENTS, ON_D),),
        Answered(_segment_rows_summed),
    ),
    "segment-measure-text": Case(
        (_set(SEGMENTS, "coin_in = 'n/a'", f"{ON_D} AND zone = 'high_limit'"),),
        Failed(r"'coin_in' must be numeric"),
    ),
    # -- dates stored as text, odd formats, time zones
    "dates-with-midnight-time": Case(
        tuple(_set(t, "day = day || ' 00:00:00'") for t in ALL_C02_TABLES),
        Answered(_same_as_clean),
        bulk=True,
    ),
    "dates-with-west-offset": Case(
        # 00:00-05:00 is 05:00 UTC on the same day.
        (_set(DAILY, "day = day || 'T00:00:00-05:00'"),),
        Answered(_same_as_clean),
    ),
    "dates-with-east-offset": Case(
        # Local midnights east of Greenwich land on the previous day in UTC
        # (docs/guarantees.md, "Time zones"): the shifted range is shown.
        (_set(DAILY, "day = day || 'T00:00:00+02:00'"),),
        Failed(
            r"date_target='2024-07-19' is not in the data "
            r"\(dates run from 2024-04-11 to 2024-07-18\)"
        ),
    ),
    "dates-with-mixed-offsets": Case(
        (
            _set(DAILY, "day = day || 'T00:00:00+01:00'", "day < '2024-05-01'"),
            _set(DAILY, "day = day || 'T00:00:00+02:00'", "day >= '2024-05-01'"),
        ),
        Failed(r"DateError: date column 'day' holds values that are not dates: Mixed"),
        bulk=True,
    ),
    "date-not-a-date": Case(
        (_set(DAILY, "day = '2024-06-1x'", "day = '2024-06-14'"),),
        Failed(r"date column 'day' holds values that are not dates: .*2024-06-1x"),
    ),
    "dates-day-month-year": Case(
        # '19/07/2024' sorts outside every ISO date range: no row is read.
        (_set(DAILY, "day = strftime('%d/%m/%Y', day)"),),
        Failed(r"InputError: the data is empty: no rows to explain"),
    ),
    # -- ids and columns
    "casino-id-unicode-64-characters": Case(
        _rename(UNICODE_ID),
        Answered(_renamed_casino),
        casino=UNICODE_ID,
    ),
    "extra-unknown-columns": Case(
        (
            f"ALTER TABLE {DAILY} ADD COLUMN notes TEXT",
            _set(DAILY, "notes = 'closed early'"),
            f"ALTER TABLE {SEGMENTS} ADD COLUMN manufacturer TEXT",
        ),
        Answered(_extra_columns_ignored),
    ),
    # -- configuration that does not fit the source
    "config-unknown-metric-column": Case(
        (),
        Refused(
            SourceSchemaError,
            r"column\(s\) 'coin_outt' not in source table 'casino_daily' "
            r"\(metric_columns\)",
        ),
        config={"source": {"metric_columns": ["coin_in", "coin_outt"]}},
    ),
    "config-unknown-daily-table": Case(
        (),
        Refused(
            SourceSchemaError,
            r"source.daily_table='casino_dayly' is not a table in the source "
            r"database; tables present: casino_daily, casino_segment_daily",
        ),
        config={"source": {"daily_table": "casino_dayly"}},
    ),
    "config-segment-table-missing": Case(
        (f"DROP TABLE {SEGMENTS}",),
        Refused(
            SourceSchemaError,
            r"source.segment_table='casino_segment_daily' is not a table",
        ),
    ),
    "config-kpi-not-a-column": Case(
        (),
        AllFailed(r"ColumnError: KPI column\(s\) 'coin_inn' not in the data"),
        config={"explain": {"kpis": ["coin_inn"]}},
    ),
    "segment-kpi-column-missing": Case(
        (f"ALTER TABLE {SEGMENTS} DROP COLUMN coin_in",),
        AllFailed(r"KPI 'coin_in' is not a measure of the segment table"),
    ),
    "empty-daily-table": Case(
        (f"DELETE FROM {DAILY}",),
        AllFailed(r"InputError: the data is empty: no rows to explain"),
    ),
}


def _params(*, bulk: bool = False) -> Iterator[Any]:
    for name, case in CASES.items():
        if bulk and not case.bulk:
            continue
        yield pytest.param(case, id=name)


# ------------------------------------------------------------------ running


@dataclass(frozen=True)
class Template:
    """Clean source and migrated reporting databases, and clean answers."""

    folder: Path
    daily: Run
    bulk: Run


def _copy(template: Path, into: Path) -> tuple[Engine, Engine]:
    into.mkdir(parents=True, exist_ok=True)
    for name in ("source.db", "reporting.db"):
        shutil.copy(template / name, into / name)
    source = sa.create_engine(f"sqlite:///{into / 'source.db'}")
    reporting = sa.create_engine(f"sqlite:///{into / 'reporting.db'}")
    return source, reporting


def _run(template: Path, into: Path, case: Case, *, bulk: bool) -> Run:
    """Mutate a copy of the clean source, then run one chunk of three casinos."""
    source, reporting = _copy(template, into)
    try:
        with source.begin() as conn:
            for statement in case.sql:
                conn.exec_driver_sql(statement)
        config = load_config(overrides=case.config)
        casinos = ["C01", case.casino, "C03"]
        common: dict[str, Any] = {
            "config": config,
            "source": source,
            "reporting": reporting,
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if bulk:
                outcome = backfill_chunk(
                    casinos, date_from=BULK_FROM, date_to=TARGET, **common
                )
            else:
                outcome = explain_chunk(casinos, date_target=TARGET, **common)
    except BaseException:
        reporting.dispose()
        raise
    finally:
        source.dispose()
    return Run(reporting, outcome, tuple(w.category for w in caught))


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, casino_data: Any
) -> Iterator[Template]:
    folder = tmp_path_factory.mktemp("pipeline-bad-input")
    source = sa.create_engine(f"sqlite:///{folder / 'source.db'}")
    load_source_tables(
        source, {DAILY: casino_data.daily, SEGMENTS: casino_data.segments}
    )
    source.dispose()
    upgrade(f"sqlite:///{folder / 'reporting.db'}")
    clean = Case((), Answered(_same_as_clean))
    daily = _run(folder, folder / "clean-daily", clean, bulk=False)
    bulk = _run(folder, folder / "clean-bulk", clean, bulk=True)
    for run in (daily, bulk):
        assert (run.outcome.failed, run.outcome.skipped) == (0, 0)
        assert not run.warnings
    yield Template(folder, daily, bulk)
    daily.engine.dispose()
    bulk.engine.dispose()


def _days(bulk: bool) -> list[dt.date]:
    return [BULK_FROM, TARGET] if bulk else [TARGET]


def _check_others(run: Run, clean: Run, *, bulk: bool) -> None:
    """C01 and C03 are answered exactly as on clean data."""
    for casino in OTHERS:
        assert run.statuses(casino) == ["succeeded"] * len(_days(bulk)), casino
        for day in _days(bulk):
            assert run.answer(casino, day) == clean.answer(casino, day), casino


def _check(case: Case, run: Run, clean: Run, *, bulk: bool) -> None:
    expect = case.expect
    if isinstance(expect, AllFailed):
        for casino in CASINOS:
            found = run.runs(casino)
            assert run.statuses(casino) == ["failed"] * len(_days(bulk)), found
            assert all(re.search(expect.match, str(m)) for _, _, m in found), found
            assert not any(run.answer(casino).values())
        return
    _check_others(run, clean, bulk=bulk)
    if isinstance(expect, Failed):
        found = {day: (status, message) for day, status, message in run.runs("C02")}
        status, message = found[str(TARGET)]
        assert status == expect.status, message
        assert message is not None
        assert re.search(expect.match, message), message
        assert not any(run.answer("C02").values())
        assert not run.warnings
    else:
        assert isinstance(expect, Answered)
        assert run.statuses(case.casino) == ["succeeded"] * len(_days(bulk))
        expect.check(run, clean)
        assert set(run.warnings) == set(expect.warns)


def _check_refused(case: Case, template: Template, into: Path, *, bulk: bool) -> None:
    assert isinstance(case.expect, Refused)
    with pytest.raises(case.expect.error, match=case.expect.match):
        _run(template.folder, into, case, bulk=bulk)
    reporting = sa.create_engine(f"sqlite:///{into / 'reporting.db'}")
    with reporting.connect() as conn:
        for table in ("runs", *ANSWER_TABLES):
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
            assert count == 0, table
    reporting.dispose()


def test_the_table_has_its_cases() -> None:
    kinds = [type(case.expect).__name__ for case in CASES.values()]
    counts = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
    assert counts == {
        "AllFailed": 3,
        "Answered": 11,
        "Failed": 17,
        "Refused": 3,
        "Skipped": 1,
    }
    assert len(CASES) == 35
    assert sum(case.bulk for case in CASES.values()) == 8
    assert len({(*case.sql, repr(case.config)) for case in CASES.values()}) == 35


@pytest.mark.parametrize("case", list(_params()))
def test_daily_door(case: Case, template: Template, tmp_path: Path) -> None:
    if isinstance(case.expect, Refused):
        _check_refused(case, template, tmp_path, bulk=False)
        return
    run = _run(template.folder, tmp_path, case, bulk=False)
    try:
        _check(case, run, template.daily, bulk=False)
    finally:
        run.engine.dispose()


@pytest.mark.parametrize("case", list(_params(bulk=True)))
def test_bulk_door(case: Case, template: Template, tmp_path: Path) -> None:
    run = _run(template.folder, tmp_path, case, bulk=True)
    try:
        _check(case, run, template.bulk, bulk=True)
    finally:
        run.engine.dispose()


@pytest.mark.parametrize("bulk", [False, True], ids=["daily", "bulk"])
def test_casino_id_too_long_for_the_reporting_tables(
    bulk: bool, template: Template, tmp_path: Path
) -> None:
    # The key columns hold 64 characters; on PostgreSQL a longer id would fail
    # the runs insert and with it the whole chunk.
    long_id = "C02-" + "x" * 96
    case = Case(_rename(long_id), Failed(""), casino=long_id)
    run = _run(template.folder, tmp_path, case, bulk=bulk)
    try:
        assert run.outcome.failed == 1
        (reason,) = run.outcome.failures.values()
        assert "has 100 characters; the reporting tables hold at most 64" in reason
        assert run.runs(long_id) == []
        for other in ("C01", "C03"):
            statuses = run.statuses(other)
            assert statuses
            assert set(statuses) == {"succeeded"}
    finally:
        run.engine.dispose()


def test_bulk_door_fails_only_the_dates_that_see_a_duplicated_day(
    template: Template, tmp_path: Path
) -> None:
    run = _run(template.folder, tmp_path, CASES["duplicated-target-day"], bulk=True)
    try:
        found = {day: status for day, status, _ in run.runs("C02")}
        # The duplicate is on the last day of the range: only that date sees it.
        assert found.pop(str(TARGET)) == "failed"
        assert found
        assert set(found.values()) == {"succeeded"}
    finally:
        run.engine.dispose()
