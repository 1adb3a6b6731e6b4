"""Fixtures of the pipeline tests: a private Airflow home, Postgres databases, data.

Airflow reads its configuration from the environment when first imported, so the
environment is set here, at import time, before any test module imports Airflow.
Each Postgres test module gets its own uniquely named database, dropped after it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="casino-explain-airflow-"))
POSTGRES_ADMIN_URL = os.environ.get(
    "CASINO_EXPLAIN_TEST_POSTGRES",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
        "CASINO_EXPLAIN_CONFIG": str(REPO / "config" / "pipeline.yaml"),
    }
)
sys.path.insert(0, str(REPO / "plugins"))

# Small floors keep the tests fast: 3 x 3 x 2 x 2 leaves per casino and day.
TEST_DIMENSIONS = {
    "zone": ("main_north", "non_smoking", "high_limit"),
    "denomination": ("0.01", "0.25", "1.00"),
    "game_type": ("video_reels", "video_poker"),
    "player_tier": ("uncarded", "gold"),
}
DATA_START, DATA_END = "2024-01-01", "2024-07-31"
TARGET = dt.date(2024, 7, 19)


def _admin() -> Engine:
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh, empty Postgres database for one test module (dropped afterwards)."""
    name = f"casino_explain_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def casino_data() -> object:
    """Three seeded casinos, January to July 2024, with segments."""
    from analytics.synthetic.casino import generate_casinos

    return generate_casinos(
        n_casinos=3,
        start=DATA_START,
        end=DATA_END,
        seed=11,
        dimensions=TEST_DIMENSIONS,
    )


def _source_tables(
    data: object, *, broken: str | None = None
) -> dict[str, pd.DataFrame]:
    daily: pd.DataFrame = data.daily  # type: ignore[attr-defined]
    segments: pd.DataFrame = data.segments  # type: ignore[attr-defined]
    if broken is not None:
        bad = daily[
            (daily["casino_id"] == broken) & (daily["day"] == pd.Timestamp(TARGET))
        ]
        daily = pd.concat([daily, bad], ignore_index=True)
    return {"casino_daily": daily, "casino_segment_daily": segments}


@pytest.fixture(scope="session")
def source_tables() -> Callable[..., dict[str, pd.DataFrame]]:
    """Builds the source tables of generated data.

    ``broken="C02"`` duplicates that casino's row of the target day, data the core
    must refuse (DuplicateKeyError) for that casino only.
    """
    return _source_tables


@pytest.fixture(scope="session")
def load_sources(
    casino_data: object, source_tables: Callable[..., dict[str, pd.DataFrame]]
) -> Callable[[Engine], None]:
    """Loads the clean source tables and the broken_* copies (C02 duplicated)."""

    def load(engine: Engine) -> None:
        from analytics.pipeline.demo import load_source_tables

        load_source_tables(engine, source_tables(casino_data))
        broken = source_tables(casino_data, broken="C02")
        load_source_tables(
            engine,
            {
                "broken_daily": broken["casino_daily"],
                "broken_segments": broken["casino_segment_daily"],
            },
        )

    return load


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database, migrated once per session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return AIRFLOW_HOME / "airflow.db"
