"""Fixtures of the reliability tests: private Postgres databases and casino data.

Airflow reads its configuration when first imported; when these tests run alone
they set a private Airflow home here, and when the pipeline tests' conftest has
already set one they keep it (``setdefault``), so the two never disagree.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = os.environ.get(
    "CASINO_EXPLAIN_TEST_POSTGRES",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)
_AIRFLOW_HOME = Path(tempfile.gettempdir()) / f"casino-explain-rel-{uuid.uuid4().hex}"
for _key, _value in {
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "CASINO_EXPLAIN_CONFIG": str(REPO / "config" / "pipeline.yaml"),
}.items():
    os.environ.setdefault(_key, _value)
if str(REPO / "plugins") not in sys.path:
    sys.path.insert(0, str(REPO / "plugins"))

TARGET = dt.date(2024, 7, 19)
CASINOS = ["C01", "C02", "C03"]
# Small floors keep the runs fast: 2 x 2 x 2 x 2 leaves per casino and day.
DIMENSIONS = {
    "zone": ("main_north", "high_limit"),
    "denomination": ("0.01", "1.00"),
    "game_type": ("video_reels", "video_poker"),
    "player_tier": ("uncarded", "gold"),
}


def admin_engine() -> Engine:
    """The server's maintenance database, in autocommit (CREATE DATABASE)."""
    return sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module")
def make_database() -> Iterator[Callable[[], str]]:
    """Creates uniquely named, empty databases; drops them after the module."""
    admin = admin_engine()
    created: list[str] = []

    def create() -> str:
        name = f"casino_explain_rel_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name)
        return url.render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def casino_data() -> Any:
    """Three seeded casinos, March to July 2024, with segments."""
    from analytics.synthetic.casino import generate_casinos

    return generate_casinos(
        n_casinos=3,
        start="2024-03-01",
        end="2024-07-31",
        seed=23,
        dimensions=DIMENSIONS,
    )


@pytest.fixture(scope="module")
def loaded_url(make_database: Callable[[], str], casino_data: Any) -> str:
    """A database holding the source tables and the migrated reporting schema."""
    from analytics.pipeline.connections import engine_from_url
    from analytics.pipeline.demo import load_source_tables
    from analytics.pipeline.migrate import upgrade

    url = make_database()
    engine = engine_from_url(url)
    try:
        load_source_tables(
            engine,
            {
                "casino_daily": casino_data.daily,
                "casino_segment_daily": casino_data.segments,
            },
        )
    finally:
        engine.dispose()
    upgrade(url)
    return url
