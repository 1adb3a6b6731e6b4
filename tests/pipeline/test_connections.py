"""Tests of analytics.pipeline.connections: URLs from Airflow connections."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from analytics.errors import ParameterError
from analytics.pipeline.connections import (
    engine_from_url,
    normalize_url,
    url_from_connection,
)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        pytest.param("postgres://u@h/db", "postgresql+psycopg", id="airflow-scheme"),
        pytest.param(
            "postgresql+psycopg2://u@h/db", "postgresql+psycopg", id="psycopg2"
        ),
        pytest.param("sqlite:////tmp/x.db", "sqlite", id="sqlite"),
    ],
)
def test_normalize_url_uses_psycopg_3(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


def test_unsupported_scheme_is_rejected() -> None:
    with pytest.raises(ParameterError, match="'mysql' is not supported"):
        normalize_url("mysql://u@h/db")


def test_postgres_connection_fields_become_a_url() -> None:
    conn = Connection(
        conn_id="casino_source",
        conn_type="postgres",
        host="db.internal",
        login="reader",
        password="p@ss",
        port=5433,
        schema="casino",
    )
    url = url_from_connection(conn)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username, url.password) == (
        "db.internal",
        5433,
        "casino",
        "reader",
        "p@ss",
    )


def test_sqlite_connection_uri_keeps_the_absolute_path() -> None:
    conn = Connection.from_uri("sqlite:////var/data/source.db", conn_id="casino_source")
    assert url_from_connection(conn).database == "/var/data/source.db"


def test_extra_sqlalchemy_url_wins() -> None:
    conn = Connection(
        conn_id="casino_reporting",
        conn_type="postgres",
        host="ignored",
        extra='{"sqlalchemy_url": "postgresql://u@real/reporting"}',
    )
    assert url_from_connection(conn).host == "real"


def test_other_connection_types_are_rejected() -> None:
    conn = Connection(conn_id="casino_source", conn_type="mysql", host="h")
    with pytest.raises(ParameterError, match="has type 'mysql'"):
        url_from_connection(conn)


def test_sqlite_engine_allows_use_from_worker_threads() -> None:
    engine = engine_from_url("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    engine.dispose()
