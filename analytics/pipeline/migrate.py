"""Apply the reporting-schema migrations (Alembic) to a reporting database.

The pipeline never creates tables inside a task: run this once per release,
before the DAGs run::

    python -m analytics.pipeline.migrate upgrade --url postgresql://u@db/reporting
    python -m analytics.pipeline.migrate downgrade base --url sqlite:///demo.db
    python -m analytics.pipeline.migrate current

Without ``--url`` the database is taken from ``CASINO_EXPLAIN_REPORTING_URL`` or,
failing that, from ``AIRFLOW_CONN_CASINO_REPORTING`` (a URI). The Alembic
environment ships inside the package, so an installed copy can migrate.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL

from analytics.errors import ParameterError
from analytics.pipeline.connections import engine_from_url, normalize_url
from analytics.pipeline.schema import schema_for

__all__ = ["HEAD", "current_revision", "downgrade", "reporting_url", "upgrade"]

log = logging.getLogger(__name__)

HEAD = "0002"
URL_ENV_VARS = ("CASINO_EXPLAIN_REPORTING_URL", "AIRFLOW_CONN_CASINO_REPORTING")


def _alembic_config(url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    rendered = normalize_url(url).render_as_string(hide_password=False)
    # Alembic's config is an INI parser: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str | URL, *, revision: str = "head") -> None:
    """Migrate the reporting database at ``url`` up to ``revision``.

    Examples
    --------
    >>> upgrade("sqlite://")  # an in-memory database, for illustration
    """
    log.info("upgrading reporting schema to %s", revision)
    command.upgrade(_alembic_config(url), revision)


def downgrade(url: str | URL, *, revision: str = "base") -> None:
    """Migrate the reporting database at ``url`` down to ``revision``."""
    log.info("downgrading reporting schema to %s", revision)
    command.downgrade(_alembic_config(url), revision)


def current_revision(url: str | URL) -> str | None:
    """Return the database's current revision, None when it was never migrated."""
    engine = engine_from_url(url)
    try:
        with engine.connect() as conn:
            options = {"version_table_schema": schema_for(conn.dialect.name)}
            context = MigrationContext.configure(conn, opts=options)
            return context.get_current_revision()
    finally:
        engine.dispose()


def reporting_url(explicit: str | None = None) -> str:
    """The reporting database URL: ``explicit``, else the environment."""
    if explicit:
        return explicit
    for name in URL_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    raise ParameterError(
        f"no reporting database given; pass --url or set {' or '.join(URL_ENV_VARS)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m analytics.pipeline.migrate",
        description="Migrate the casino-explain reporting database.",
    )
    parser.add_argument("action", choices=["upgrade", "downgrade", "current"])
    parser.add_argument("revision", nargs="?", help="target revision")
    parser.add_argument("--url", help="SQLAlchemy URL of the reporting database")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    url = reporting_url(args.url)
    if args.action == "upgrade":
        upgrade(url, revision=args.revision or "head")
    elif args.action == "downgrade":
        downgrade(url, revision=args.revision or "base")
    print(current_revision(url) or "(empty)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
