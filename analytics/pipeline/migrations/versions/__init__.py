"""Alembic revisions of the reporting schema, oldest first."""
