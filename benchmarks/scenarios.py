"""The six speed scenarios. Each returns rows of figures; the runner prints them.

Every comparison is a ratio of two timings taken in the same process, one after
the other; every timing is the median of several repeats unless a row says it was
extrapolated from a sample.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

import analytics
from analytics._backfill import backfill_assess_change, backfill_rank_metrics
from benchmarks.data import SMALL_FLOOR, casino_tables, wide_frame

log = logging.getLogger("benchmarks.scenarios")

POSTGRES_ADMIN_URL = os.environ.get(
    "CASINO_EXPLAIN_BENCH_POSTGRES",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)
DIMENSIONS = list(SMALL_FLOOR)


@dataclass
class Figure:
    """One line of the results table."""

    scenario: str
    measure: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def median_seconds(func: Callable[[], object], *, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- 1. one explanation -------------------------------------------------------


def notebook_rank(frame: pd.DataFrame, *, kpi: str, day: str) -> pd.DataFrame:
    """bestranks as a notebook writes it: filter per request, mean/std, sort."""
    target = pd.Timestamp(day)
    base = target - pd.Timedelta(days=7)
    history_days = [target - pd.Timedelta(days=7 * k) for k in range(1, 14)]
    metrics = [c for c in frame.columns if c != "day"]
    history = frame[frame["day"].isin(history_days)]
    mean = history[metrics].mean()
    sd = history[metrics].std()
    at_target = frame[frame["day"] == target][metrics].iloc[0]
    at_base = frame[frame["day"] == base][metrics].iloc[0]
    norm_delta = (at_target - at_base) / sd
    result = pd.DataFrame(
        {
            "value_base": at_base,
            "value_target": at_target,
            "delta": at_target - at_base,
            "pct_change": (at_target - at_base) / at_base.abs(),
            "norm_base": (at_base - mean) / sd,
            "norm_target": (at_target - mean) / sd,
            "norm_delta": norm_delta,
            "score": norm_delta * norm_delta[kpi],
        }
    ).drop(index=kpi)
    result["abs_norm_delta"] = result["norm_delta"].abs()
    return result.sort_values(["score", "abs_norm_delta"], ascending=False)


def explain_one(*, quick: bool) -> list[Figure]:
    """Scenario 1: rank_metrics for one casino-date, 100 metrics, two years."""
    frame = wide_frame(n_metrics=100, start="2023-01-01", end="2024-12-31", seed=1)
    day, repeats = "2024-07-17", 20 if quick else 100
    kwargs = {"metric_col": "coin_in", "date_col": "day", "date_target": day}
    seed_method = median_seconds(
        lambda: analytics.rank_metrics(frame, **kwargs, method="bestranks"),
        repeats=repeats,
    )
    default = median_seconds(
        lambda: analytics.rank_metrics(frame, **kwargs), repeats=repeats
    )
    naive = median_seconds(
        lambda: notebook_rank(frame, kpi="coin_in", day=day), repeats=repeats
    )
    ours = analytics.rank_metrics(frame, **kwargs, method="bestranks").table
    theirs = notebook_rank(frame, kpi="coin_in", day=day)
    same_order = list(ours["metric"]) == list(theirs.index)
    np.testing.assert_allclose(
        ours["score"].to_numpy(), theirs["score"].to_numpy(), rtol=1e-9
    )
    agree = "scores agree to 1e-9; order identical" if same_order else "ORDER DIFFERS"
    return [
        Figure(
            "1 one explanation",
            "rank_metrics bestranks, median",
            seed_method * 1e3,
            "ms",
            baseline=naive * 1e3,
            ratio=naive / seed_method,
            target="< 2 ms and >= 10x",
            met=seed_method < 0.002 and naive / seed_method >= 10,
            note=agree,
        ),
        Figure(
            "1 one explanation",
            "rank_metrics default (linkranks), median",
            default * 1e3,
            "ms",
            baseline=naive * 1e3,
            ratio=naive / default,
            target="< 2 ms",
            met=default < 0.002,
            note="linkranks also correlates 91 daily deltas and reads identities",
        ),
    ]


# --- 2. backfill compute ------------------------------------------------------

BACKFILL_START, BACKFILL_END = "2023-01-01", "2024-12-31"


def _backfill_frames(n_casinos: int) -> Iterator[pd.DataFrame]:
    # Data from 2022-09-01: 14 weeks of history before the first backfilled date.
    for k in range(n_casinos):
        yield wide_frame(
            n_metrics=50, start="2022-09-01", end=BACKFILL_END, seed=100 + k
        )


def _loop_sample(
    frame: pd.DataFrame, days: pd.DatetimeIndex, module: Callable[..., object]
) -> float:
    """Median seconds of one single-date call over ``days``."""
    times = []
    for day in days:
        started = time.perf_counter()
        module(frame, metric_col="coin_in", date_col="day", date_target=day)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def backfill_compute(*, quick: bool) -> list[Figure]:
    """Scenario 2: all dates of two years, 200 casinos x 50 metrics."""
    n_casinos = 4 if quick else int(os.environ.get("BENCH_CASINOS", "200"))
    days = pd.date_range(BACKFILL_START, BACKFILL_END)
    seconds = {"rank_metrics": 0.0, "assess_change": 0.0}
    per_casino: dict[str, list[float]] = {name: [] for name in seconds}
    sample_frame = None
    for frame in _backfill_frames(n_casinos):
        sample_frame = frame if sample_frame is None else sample_frame
        for name, bulk in (
            ("rank_metrics", backfill_rank_metrics),
            ("assess_change", backfill_assess_change),
        ):
            started = time.perf_counter()
            result = bulk(frame, metric_col="coin_in", date_col="day", dates=days)
            took = time.perf_counter() - started
            assert not result.failures, "every backfilled date has its history"
            seconds[name] += took
            per_casino[name].append(len(days) / took)
    assert sample_frame is not None
    sample = days[:: 73 if quick else 25]
    figures = []
    casino_dates = n_casinos * len(days)
    for name, single in (
        ("rank_metrics", analytics.rank_metrics),
        ("assess_change", analytics.assess_change),
    ):
        loop = _loop_sample(sample_frame, sample, single)
        rate = casino_dates / seconds[name]
        figures.append(
            Figure(
                "2 backfill compute",
                f"{name}: {n_casinos} casinos x {len(days)} dates",
                rate,
                "casino-dates/s",
                baseline=1.0 / loop,
                ratio=rate * loop,
                target=">= 20,000 casino-dates/s",
                met=rate >= 20_000,
                note=(
                    f"{seconds[name]:.1f} s in all; per casino median "
                    f"{statistics.median(per_casino[name]):,.0f}/s; loop baseline "
                    f"extrapolated from {len(sample)} single-date calls"
                ),
            )
        )
    figures.append(_segments_rate(quick=quick, casino_dates=casino_dates))
    return figures


def _segments_rate(*, quick: bool, casino_dates: int) -> Figure:
    """rank_segments has no all-dates pass: its loop on a sample, extrapolated."""
    tables = casino_tables(n_casinos=1, start="2024-01-01", end="2024-03-31")
    segments = tables["casino_segment_daily"].drop(columns="casino_id")
    days = pd.date_range("2024-03-01", periods=4 if quick else 12, freq="D")
    times = []
    for day in days:
        # As the pipeline calls it: only the rows of D and B.
        rows = segments[segments["day"].isin([day, day - pd.Timedelta(days=7)])]
        started = time.perf_counter()
        analytics.rank_segments(
            rows,
            metric_col="coin_in",
            date_col="day",
            dimensions=DIMENSIONS,
            date_target=day,
        )
        times.append(time.perf_counter() - started)
    per_date = statistics.median(times)
    return Figure(
        "2 backfill compute",
        "rank_segments (single-date loop, 36 leaves)",
        1.0 / per_date,
        "casino-dates/s",
        target="(no target)",
        note=(
            f"{per_date * 1e3:.0f} ms per date; {casino_dates:,} casino-dates would "
            f"take {casino_dates * per_date / 3600:.1f} h on one core (extrapolated)"
        ),
    )


# --- 3. backfill end to end into Postgres ---------------------------------------


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh Postgres database, dropped afterwards."""
    name = f"casino_explain_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _pipeline_config(modules: list[str]) -> Any:
    from analytics.pipeline.config import load_config

    return load_config(overrides={"explain": {"modules": modules}})


def _copy_floor(engine: sa.Engine) -> tuple[float, int]:
    """Seconds to COPY every answer and run row just written into empty clones."""
    from analytics.pipeline.schema import ANSWER_TABLES, runs

    tables = [runs, *ANSWER_TABLES]
    frames = {}
    with engine.connect() as conn:
        for table in tables:
            frames[table.name] = conn.execute(sa.select(table)).fetchall()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in tables:
            cursor.execute(
                f"CREATE TABLE explain.copy_{table.name} "
                f"(LIKE explain.{table.name} INCLUDING DEFAULTS)"
            )
        raw.commit()
        started = time.perf_counter()
        for table in tables:
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            statement = f"COPY explain.copy_{table.name} ({columns}) FROM STDIN"
            with cursor.copy(statement) as copy:  # type: ignore[attr-defined]
                for row in frames[table.name]:
                    copy.write_row([_copy_value(v) for v in row])
        raw.commit()
        seconds = time.perf_counter() - started
    finally:
        raw.close()
    return seconds, sum(len(rows) for rows in frames.values())


def _copy_value(value: object) -> object:
    # JSON columns (parameters, rows_written) travel as their text in COPY.
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _bulk_run(
    url: str,
    *,
    casinos: list[str],
    date_from: dt.date,
    date_to: dt.date,
    modules: list[str],
) -> tuple[float, int, float, int]:
    """Run the bulk path, then the COPY floor, on one fresh reporting schema."""
    from analytics.pipeline.connections import engine_from_url
    from analytics.pipeline.migrate import upgrade
    from analytics.pipeline.runner import backfill_chunk

    engine = engine_from_url(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS explain CASCADE")
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade(url)
    started = time.perf_counter()
    outcome = backfill_chunk(
        casinos,
        date_from=date_from,
        date_to=date_to,
        config=_pipeline_config(modules),
        source=engine,
        reporting=engine,
    )
    bulk = time.perf_counter() - started
    floor, rows = _copy_floor(engine)
    engine.dispose()
    return bulk, outcome.succeeded, floor, rows


def backfill_postgres(*, quick: bool) -> list[Figure]:
    """Scenario 3: the bulk path into Postgres against COPY of its result rows."""
    from analytics.pipeline.connections import engine_from_url
    from analytics.pipeline.demo import load_source_tables

    # The size is 200 casinos x 2 years; the bulk path streams one casino
    # at a time, so a few casinos over the full two years show the per-casino
    # cost, and the 200-casino time is extrapolated linearly.
    n_casinos = 2 if quick else 8
    span = {
        "metric modules": 30 if quick else 731,
        "all three modules": 7 if quick else 90,
    }
    date_to = dt.date(2024, 12, 31)
    tables = casino_tables(n_casinos=n_casinos, start="2022-09-01", end="2024-12-31")
    casinos = sorted(tables["casino_daily"]["casino_id"].unique())
    figures = []
    with scratch_database() as url:
        engine = engine_from_url(url)
        load_source_tables(engine, tables)
        engine.dispose()
        for label, modules in (
            ("metric modules", ["rank_metrics", "assess_change"]),
            ("all three modules", ["rank_metrics", "assess_change", "rank_segments"]),
        ):
            date_from = date_to - dt.timedelta(days=span[label] - 1)
            bulk, answers, floor, rows = _bulk_run(
                url,
                casinos=casinos,
                date_from=date_from,
                date_to=date_to,
                modules=modules,
            )
            full = 200 * 731 / answers * bulk
            figures.append(
                Figure(
                    "3 backfill into Postgres",
                    f"{label}: {n_casinos} casinos x {span[label]} days",
                    bulk,
                    "s",
                    baseline=floor,
                    ratio=bulk / floor,
                    target="within 2x of COPY",
                    met=bulk / floor <= 2,
                    note=(
                        f"{answers} answers, {rows:,} rows; COPY alone {floor:.2f} s; "
                        f"200 casinos x 2 years extrapolated: {full / 3600:.1f} h"
                    ),
                )
            )
    return figures


# --- 4. root-cause localization ---------------------------------------------------


def localization(*, quick: bool) -> list[Figure]:
    """Scenario 4: seconds per case and F1 on cubes of ~20,000 and ~200,000 leaves."""
    from analytics.evaluation.segments import evaluate_segments, summarize

    figures = []
    for leaves, per_setting, settings, limit in (
        (20_000, 1 if quick else 3, None, 1.0),
        (200_000, 1, [(2, 2)] if quick else [(1, 1), (2, 2), (3, 3)], 10.0),
    ):
        options: dict[str, Any] = {"cases_per_setting": per_setting, "n_leaves": leaves}
        if settings is not None:
            options["settings"] = settings
        per_case = evaluate_segments(**options)
        overall = summarize(per_case).iloc[-1]
        seconds = float(per_case["seconds"].median())
        figures.append(
            Figure(
                "4 localization",
                f"~{leaves:,} leaves, {len(per_case)} cases",
                seconds,
                "s per case (median)",
                target=f"< {limit:g} s",
                met=float(per_case["seconds"].max()) < limit,
                note=(
                    f"F1 {float(overall['f1']):.3f}; slowest case "
                    f"{float(per_case['seconds'].max()):.2f} s"
                ),
            )
        )
    return figures


# --- 5. the daily DAG ---------------------------------------------------------

DAILY_TARGET = dt.date(2024, 4, 30)


def _clear_answers(url: str) -> None:
    """Empty the reporting tables, so each timed run writes into the same state."""
    from analytics.pipeline.connections import engine_from_url
    from analytics.pipeline.schema import ANSWER_TABLES, runs

    engine = engine_from_url(url)
    names = ", ".join(f"{t.schema}.{t.name}" for t in (*ANSWER_TABLES, runs))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names}")
    engine.dispose()


def _in_process_daily(url: str, config: Any, *, n_casinos: int) -> tuple[float, int]:
    """The daily DAG's work without Airflow: list, chunk, explain_chunk each chunk.

    Returns the seconds of the timed pass and the number of chunks. A warm-up
    pass on the first chunk (imports, Postgres caches) is not timed.
    """
    from analytics.pipeline.connections import engine_from_url
    from analytics.pipeline.runner import chunk_casinos, explain_chunk, list_casinos

    engine = engine_from_url(url)
    try:

        def explain(casinos: list[Any]) -> int:
            outcome = explain_chunk(
                casinos,
                date_target=DAILY_TARGET,
                config=config,
                source=engine,
                reporting=engine,
            )
            return outcome.succeeded

        listed = list_casinos(engine, config, date_target=DAILY_TARGET)
        chunks = chunk_casinos(listed, chunk_size=config.airflow.chunk_size)
        explain(chunks[0])
        _clear_answers(url)
        started = time.perf_counter()
        listed = list_casinos(engine, config, date_target=DAILY_TARGET)
        chunks = chunk_casinos(listed, chunk_size=config.airflow.chunk_size)
        succeeded = sum(explain(chunk) for chunk in chunks)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    assert succeeded == n_casinos, f"in-process: {succeeded}/{n_casinos} answers"
    return seconds, len(chunks)


def _answers_written(url: str) -> int:
    from analytics.pipeline.connections import engine_from_url
    from analytics.pipeline.schema import daily_summary

    engine = engine_from_url(url)
    query = sa.select(sa.func.count()).where(
        daily_summary.c.date_target == DAILY_TARGET
    )
    with engine.connect() as conn:
        count = int(conn.execute(query).scalar_one())
    engine.dispose()
    return count


def daily_dag(*, quick: bool) -> list[Figure]:
    """Scenario 5: one daily run on a local Airflow against the same work in-process.

    Fresh Postgres databases for Airflow's metadata and for the source and
    reporting tables; api-server, scheduler (LocalExecutor) and dag-processor run
    as subprocesses; the run is triggered through the REST API and timed from the
    trigger request to the run's end. The baseline runs first, before any Airflow
    process starts, so nothing else of ours competes for the two cores.
    """
    from pathlib import Path

    from analytics.pipeline.config import load_config
    from analytics.pipeline.migrate import upgrade
    from benchmarks import airflow_local

    n_casinos = 10 if quick else int(os.environ.get("BENCH_DAG_CASINOS", "200"))
    config_path = Path(__file__).resolve().parents[1] / "config" / "pipeline.yaml"
    config = load_config(config_path)
    tables = casino_tables(n_casinos=n_casinos, start="2024-01-01", end="2024-04-30")
    with airflow_local.bench_databases() as (metadata_db, data_db):
        url = airflow_local.data_url(data_db)
        airflow_local.load_source(data_db, tables)
        upgrade(url)
        plain, n_chunks = _in_process_daily(url, config, n_casinos=n_casinos)
        _clear_answers(url)
        with airflow_local.local_airflow(
            metadata_db=metadata_db, data_db=data_db, pipeline_config=config_path
        ) as airflow:
            run = airflow_local.run_daily(
                airflow, DAILY_TARGET, timeout=300 + 10 * plain
            )
        tasks = run.tasks
        assert run.state == "success", f"the daily run ended {run.state}:\n{tasks}"
        written = _answers_written(url)
        assert written == n_casinos, f"Airflow wrote {written}/{n_casinos} answers"
    chunks = tasks.loc[tasks["task_id"] == "explain_chunk"]
    assert len(chunks) == n_chunks, tasks.to_string()
    ours = run.seconds
    return [
        Figure(
            "5 daily DAG",
            f"one daily run, {n_casinos} casinos (LocalExecutor, Postgres metadata)",
            ours,
            "s",
            baseline=plain,
            ratio=ours / plain,
            target="(report overhead)",
            note=(
                f"trigger to success via REST API; in-process list + explain_chunk "
                f"{plain:.1f} s; orchestration overhead {ours - plain:+.1f} s; "
                f"{len(chunks)} mapped explain_chunk tasks "
                f"(chunk_size {config.airflow.chunk_size}) + plan + summarize, "
                f"chunk tasks {chunks['duration'].sum():.1f} s summed, longest "
                f"{chunks['duration'].max():.1f} s; run queued to started "
                f"{run.queued_to_start:.1f} s"
            ),
        )
    ]


SCENARIOS: dict[str, Callable[..., list[Figure]]] = {
    "explain_one": explain_one,
    "backfill_compute": backfill_compute,
    "backfill_postgres": backfill_postgres,
    "localization": localization,
    "daily_dag": daily_dag,
}
