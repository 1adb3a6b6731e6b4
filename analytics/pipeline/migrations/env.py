"""Alembic environment for the reporting database.

The URL comes from the Alembic config (set by :mod:`analytics.pipeline.migrate`).
On PostgreSQL the schema ``explain`` is created first and holds the version table
too; on SQLite there are no schemas and everything lives in the main database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from analytics.pipeline.schema import SCHEMA, metadata, schema_for


def run_migrations_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    dialect = sa.engine.make_url(url).get_backend_name() if url else "postgresql"
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        version_table_schema=schema_for(dialect),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; use analytics.pipeline.migrate")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        schema = schema_for(connection.dialect.name)
        if schema is not None:
            connection.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=schema is not None,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
