"""Alembic environment and revisions of the reporting schema (see migrate.py)."""
