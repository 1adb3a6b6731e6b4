"""SQLAlchemy engines for the source and reporting databases.

Inside Airflow the databases are Airflow connections (``casino_source`` and
``casino_reporting`` by default, e.g. ``AIRFLOW_CONN_CASINO_SOURCE``); outside it
(tests, the command line, the demo) they are plain SQLAlchemy URLs. Both end as a
SQLAlchemy 2 engine: psycopg 3 for PostgreSQL, the standard driver for SQLite.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from analytics.errors import ParameterError

__all__ = [
    "engine_for_connection",
    "engine_from_url",
    "normalize_url",
    "url_from_connection",
]

log = logging.getLogger(__name__)

_POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+psycopg2",
    "postgresql+psycopg",
}


def normalize_url(url: str | URL) -> URL:
    """Return ``url`` with the driver this project uses (psycopg 3 for Postgres).

    Examples
    --------
    >>> normalize_url("postgres://u@db:5432/casino").drivername
    'postgresql+psycopg'
    """
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as err:
        raise ParameterError(f"database URL {str(url)!r} cannot be parsed") from err
    if parsed.drivername in _POSTGRES_SCHEMES:
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite"):
        return parsed
    raise ParameterError(
        f"database URL scheme {parsed.drivername!r} is not supported; "
        "use postgresql:// or sqlite://"
    )


def engine_from_url(url: str | URL, **options: Any) -> Engine:
    """Create an engine for ``url`` (see :func:`normalize_url`)."""
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        # Airflow runs tasks in worker threads and processes; a file database is
        # safe to share as long as each connection is used by one thread at a time.
        options.setdefault("connect_args", {"check_same_thread": False, "timeout": 60})
    else:
        options.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **options)


def url_from_connection(conn: Any) -> URL:
    """Translate an Airflow connection object into a SQLAlchemy URL.

    A connection may carry a complete URL in its extra field
    (``{"sqlalchemy_url": "..."}``); otherwise the URL is built from its fields.
    Airflow stores a SQLite connection's file path in ``host``.
    """
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return normalize_url(str(extra["sqlalchemy_url"]))
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        path = conn.host or conn.schema or ""
        return make_url(f"sqlite:///{path}")
    if conn_type in {"postgres", "postgresql"}:
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
    raise ParameterError(
        f"connection {conn.conn_id!r} has type {conn.conn_type!r}; "
        "use a postgres or sqlite connection"
    )


def engine_for_connection(conn_id: str) -> Engine:
    """Create an engine for the Airflow connection ``conn_id`` (tasks only)."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    url = url_from_connection(conn)
    log.info("connection %s -> %s", conn_id, url.render_as_string(hide_password=True))
    return engine_from_url(url)
