"""The embedded demo: the whole pipeline on one machine, with SQLite only.

:func:`run_demo` builds everything under one directory and runs the real daily
DAG once:

1. generates several casinos with more than a year of history
   (:func:`analytics.synthetic.casino.generate_casinos`) into ``source.db``;
2. migrates ``reporting.db`` to the current reporting schema;
3. initialises Airflow's metadata database under a private ``AIRFLOW_HOME``;
4. runs ``casino_daily_explanations`` for one gaming day with ``dag.test()``;
5. reads ``v_daily_summary`` back and prints one sentence per casino.

Airflow reads its configuration from the environment when it is first imported,
so steps 3 and 4 run in child processes with a prepared environment; the demo
works whatever the calling process imported before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from analytics.errors import CasinoExplainError
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.migrate import upgrade
from analytics.pipeline.runner import target_date_for
from analytics.pipeline.schema import SCHEMA, schema_options

__all__ = ["DEMO_CONFIG", "load_source_tables", "logical_date_for", "run_demo"]

log = logging.getLogger(__name__)

DEMO_CONFIG: Mapping[str, Any] = {
    "explain": {"kpis": ["coin_in"], "rows_per_explanation": 15},
    "airflow": {"chunk_size": 2, "fail_on_casino_errors": True},
}
_BATCH_ROWS = 20_000


def _column_type(series: pd.Series) -> sa.types.TypeEngine[Any]:
    if pd.api.types.is_datetime64_any_dtype(series):
        return sa.Date()
    if pd.api.types.is_integer_dtype(series):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(series):
        return sa.Float()
    return sa.String(128)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = out[name].dt.date
    return [
        {
            str(k): (None if isinstance(v, float) and v != v else v)
            for k, v in row.items()
        }
        for row in out.astype(object).to_dict(orient="records")
    ]


def load_source_tables(
    engine: Engine,
    tables: Mapping[str, pd.DataFrame],
    *,
    schema: str | None = None,
) -> dict[str, int]:
    """Create (or replace) source tables from DataFrames and fill them.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        The source database.
    tables : mapping of str to pandas.DataFrame
        Table name to rows; datetime columns become DATE, integers BIGINT, floats
        FLOAT, the rest VARCHAR. ``casino_id`` and ``day`` get an index.
    schema : str, optional
        Database schema of the tables.

    Returns
    -------
    dict
        Rows written per table.

    Examples
    --------
    >>> engine = sa.create_engine("sqlite://")
    >>> frame = pd.DataFrame({"casino_id": ["C01"], "coin_in": [1.0],
    ...                       "day": pd.to_datetime(["2024-01-01"])})
    >>> load_source_tables(engine, {"casino_daily": frame})
    {'casino_daily': 1}
    """
    metadata = sa.MetaData(schema=schema)
    written: dict[str, int] = {}
    for name, frame in tables.items():
        columns = [sa.Column(str(c), _column_type(frame[c])) for c in frame.columns]
        table = sa.Table(name, metadata, *columns)
        if {"casino_id", "day"} <= set(frame.columns):
            sa.Index(f"ix_{name}_casino_day", table.c.casino_id, table.c.day)
        table.drop(engine, checkfirst=True)
        table.create(engine)
        with engine.begin() as conn:
            for start in range(0, len(frame), _BATCH_ROWS):
                batch = frame.iloc[start : start + _BATCH_ROWS]
                conn.execute(table.insert(), _records(batch))
        written[name] = len(frame)
    return written


def logical_date_for(date_target: dt.date, *, hour: int = 6) -> dt.datetime:
    """The logical date of the scheduled daily run that explains ``date_target``.

    Examples
    --------
    >>> logical_date_for(dt.date(2019, 7, 17))
    datetime.datetime(2019, 7, 18, 6, 0, tzinfo=datetime.timezone.utc)
    """
    run_at = dt.datetime.combine(
        date_target + dt.timedelta(days=1), dt.time(hour), tzinfo=dt.UTC
    )
    if target_date_for(run_at) != date_target:
        raise CasinoExplainError(f"no run time explains {date_target.isoformat()}")
    return run_at


def airflow_environment(
    airflow_home: Path,
    *,
    dags_folder: Path,
    source_url: str,
    reporting_url: str,
    config_path: Path | None = None,
) -> dict[str, str]:
    """Environment variables that configure Airflow and the pipeline's connections."""
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_CASINO_SOURCE": source_url,
        "AIRFLOW_CONN_CASINO_REPORTING": reporting_url,
    }
    if config_path is not None:
        env["CASINO_EXPLAIN_CONFIG"] = str(config_path)
    return env


def _run_child(args: list[str], env: Mapping[str, str], *, what: str) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    log.info("%s took %.1f s", what, time.monotonic() - started)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise CasinoExplainError(f"{what} failed (exit {result.returncode}):\n{tail}")


_DAG_FILE = '''"""Airflow DAG file written by the casino-explain demo."""

from analytics.pipeline.dags import daily_dag

dag = daily_dag()
'''


def _write_demo_files(home: Path) -> tuple[Path, Path]:
    dags = home / "airflow" / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "casino_daily_explanations.py").write_text(_DAG_FILE, encoding="utf-8")
    config_path = home / "pipeline.yaml"
    config_path.write_text(yaml.safe_dump(dict(DEMO_CONFIG)), encoding="utf-8")
    return dags, config_path


def _generate(
    home: Path, *, n_casinos: int, start: str, end: str, seed: int
) -> tuple[str, dt.date]:
    """Write the source database; return its URL and the last planted-cause day."""
    from analytics.synthetic.casino import generate_casinos

    data = generate_casinos(n_casinos=n_casinos, start=start, end=end, seed=seed)
    tables = {"casino_daily": data.daily}
    if data.segments is not None:
        tables["casino_segment_daily"] = data.segments
    url = f"sqlite:///{home / 'source.db'}"
    engine = engine_from_url(url)
    try:
        counts = load_source_tables(engine, tables)
    finally:
        engine.dispose()
    log.info("source rows written: %s", counts)
    # Prefer a day where a cause moved coin_in, the KPI the demo explains.
    causes = data.causes
    if "root_metric" in causes.columns:
        causes = causes[causes["root_metric"] == "coin_in"]
    if causes.empty:
        return url, dt.date.fromisoformat(end)
    return url, pd.Timestamp(causes["day"].max()).date()


def read_summary(reporting_url: str, *, date_target: dt.date) -> pd.DataFrame:
    """Read ``v_daily_summary`` for one date from the reporting database."""
    engine = engine_from_url(reporting_url)
    try:
        engine = engine.execution_options(**schema_options(engine))
        # A Table (not a lightweight table()) so the schema translation applies.
        view = sa.Table(
            "v_daily_summary",
            sa.MetaData(schema=SCHEMA),
            sa.Column("casino_id", sa.String),
            sa.Column("date_target", sa.Date),
            sa.Column("kpi", sa.String),
            sa.Column("pct_change", sa.Float),
            sa.Column("significant", sa.Boolean),
            sa.Column("explanation", sa.Text),
        )
        query = (
            sa.select(view)
            .where(view.c.date_target == sa.bindparam("day", date_target, sa.Date))
            .order_by(view.c.casino_id, view.c.kpi)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).fetchall()
    finally:
        engine.dispose()
    return pd.DataFrame(rows, columns=[c.name for c in view.columns])


def run_demo(
    home_dir: str | os.PathLike[str],
    *,
    n_casinos: int = 4,
    start: str = "2024-01-01",
    end: str = "2025-03-31",
    date_target: str | None = None,
    seed: int = 0,
    echo: Callable[[str], object] = print,
) -> pd.DataFrame:
    """Set up the pipeline with SQLite under ``home_dir`` and explain one day.

    Parameters
    ----------
    home_dir : path-like
        Created if missing; holds ``source.db``, ``reporting.db``, ``pipeline.yaml``
        and ``airflow/`` (AIRFLOW_HOME). Running again replaces the source data and
        re-explains the day (the writes are idempotent).
    n_casinos : int
        Casinos generated (``C01``, ``C02``, ...).
    start, end : str
        First and last gaming day of the generated history (ISO dates).
    date_target : str, optional
        Gaming day to explain; default the last day with a planted cause (so the
        summary has something to explain), else ``end``.
    seed : int
        Seed of the generated data.
    echo : callable
        Receives the progress and result lines (``print`` by default).

    Returns
    -------
    pandas.DataFrame
        The rows of ``v_daily_summary`` for the day: casino_id, date_target, kpi,
        pct_change, significant, explanation.

    Examples
    --------
    >>> summary = run_demo("/tmp/casino-demo", n_casinos=2)  # doctest: +SKIP
    """
    home = Path(home_dir).resolve()
    home.mkdir(parents=True, exist_ok=True)
    echo(f"demo home: {home}")
    started = time.monotonic()
    echo(f"generating {n_casinos} casinos, {start} to {end} ...")
    source_url, cause_day = _generate(
        home, n_casinos=n_casinos, start=start, end=end, seed=seed
    )
    target = dt.date.fromisoformat(date_target) if date_target else cause_day
    reporting_url = f"sqlite:///{home / 'reporting.db'}"
    echo("migrating the reporting database ...")
    upgrade(reporting_url)

    dags, config_path = _write_demo_files(home)
    env = airflow_environment(
        home / "airflow",
        dags_folder=dags,
        source_url=source_url,
        reporting_url=reporting_url,
        config_path=config_path,
    )
    echo("initialising Airflow's metadata database ...")
    _run_child(["-m", "airflow", "db", "migrate"], env, what="airflow db migrate")
    echo(f"running casino_daily_explanations for {target.isoformat()} ...")
    _run_child(
        ["-m", "analytics.pipeline.demo", "dag-test", target.isoformat()],
        env,
        what="dag.test()",
    )

    summary = read_summary(reporting_url, date_target=target)
    echo(f"daily summary for {target.isoformat()} (explain.v_daily_summary):")
    for row in summary.itertuples(index=False):
        echo(f"  {row.casino_id}: {row.explanation}")
    echo(f"demo finished in {time.monotonic() - started:.0f} s")
    return summary


def _dag_test(date_target: str) -> int:
    from analytics.pipeline.dags import daily_dag

    logical = logical_date_for(dt.date.fromisoformat(date_target))
    run = daily_dag().test(logical_date=logical)
    state = str(getattr(run, "state", ""))
    print(f"dag run state: {state}")
    return 0 if state.endswith("success") else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m analytics.pipeline.demo HOME`` (and the internal dag-test step)."""
    parser = argparse.ArgumentParser(prog="python -m analytics.pipeline.demo")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole demo")
    run.add_argument("home")
    run.add_argument("--casinos", type=int, default=4)
    run.add_argument("--date", default=None)
    test = sub.add_parser("dag-test", help="(internal) dag.test() for one day")
    test.add_argument("date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.command == "dag-test":
        return _dag_test(args.date)
    run_demo(args.home, n_casinos=args.casinos, date_target=args.date)
    return 0


if __name__ == "__main__":
    sys.exit(main())
