"""The reporting schema, as SQLAlchemy Core tables.

On PostgreSQL every table lives in the schema ``explain``; on SQLite (the embedded
demo) the same tables exist without a schema: :func:`schema_options` returns the
``schema_translate_map`` that maps one onto the other. The tables are created and
changed only by the Alembic migrations in :mod:`analytics.pipeline.migrations`;
these definitions describe the current revision for the writer and the readers.
docs/reporting-schema.md documents every column.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "ANSWER_TABLES",
    "SCHEMA",
    "change_significance",
    "daily_summary",
    "metadata",
    "metric_rankings",
    "root_cause_segments",
    "runs",
    "schema_for",
    "schema_options",
    "segment_breakdown",
]

SCHEMA = "explain"
metadata = sa.MetaData(schema=SCHEMA)


def _key() -> list[sa.Column[Any]]:
    # Every answer table is keyed by (casino, target date, KPI) first, so the
    # primary key index also serves "one casino over a date range" queries.
    return [
        sa.Column("casino_id", sa.String(64), primary_key=True),
        sa.Column("date_target", sa.Date, primary_key=True),
        sa.Column("kpi", sa.String(128), primary_key=True),
        sa.Column("date_base", sa.Date, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
    ]


def _change() -> list[sa.Column[Any]]:
    return [
        sa.Column("value_base", sa.Float),
        sa.Column("value_target", sa.Float),
        sa.Column("delta", sa.Float),
        sa.Column("pct_change", sa.Float),
    ]


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("casino_id", sa.String(64), nullable=False),
    sa.Column("date_target", sa.Date, nullable=False),
    sa.Column("kpi", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("rows_written", sa.JSON),
    sa.Column("error_message", sa.Text),
    sa.Column("airflow_run_id", sa.String(250)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(
        "status IN ('running', 'succeeded', 'failed', 'skipped')",
        name="ck_runs_status",
    ),
    sa.Index("ix_runs_casino_date", "casino_id", "date_target"),
    sa.Index("ix_runs_date_status", "date_target", "status"),
)

metric_rankings = sa.Table(
    "metric_rankings",
    metadata,
    *_key(),
    sa.Column("metric", sa.String(128), primary_key=True),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("rank", sa.Integer),
    *_change(),
    sa.Column("norm_base", sa.Float),
    sa.Column("norm_target", sa.Float),
    sa.Column("norm_delta", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("direction", sa.String(8)),
    sa.Column("corr_hist", sa.Float),
    sa.Column("skipped_reason", sa.Text),
    sa.Index("ix_metric_rankings_date", "date_target", "casino_id"),
)

change_significance = sa.Table(
    "change_significance",
    metadata,
    *_key(),
    sa.Column("metric", sa.String(128), primary_key=True),
    sa.Column("is_kpi", sa.Boolean, nullable=False),
    *_change(),
    sa.Column("robust_z", sa.Float),
    sa.Column("scale_method", sa.String(32)),
    sa.Column("percentile", sa.Float),
    sa.Column("significant", sa.Boolean),
    sa.Column("direction", sa.String(8)),
    sa.Column("target_is_holiday", sa.Boolean),
    sa.Column("base_is_holiday", sa.Boolean),
    sa.Column("reason", sa.Text),
    sa.Index("ix_change_significance_date", "date_target", "casino_id"),
)

segment_breakdown = sa.Table(
    "segment_breakdown",
    metadata,
    *_key(),
    sa.Column("dimension", sa.String(128), primary_key=True),
    sa.Column("member", sa.String(256), primary_key=True),
    sa.Column("value_base", sa.Float),
    sa.Column("value_target", sa.Float),
    sa.Column("delta", sa.Float),
    sa.Column("share_of_change", sa.Float),
    sa.Column("surprise", sa.Float),
    sa.Index("ix_segment_breakdown_date", "date_target", "casino_id"),
)

root_cause_segments = sa.Table(
    "root_cause_segments",
    metadata,
    *_key(),
    sa.Column("segment", sa.String(1024), primary_key=True),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("value_base", sa.Float),
    sa.Column("value_target", sa.Float),
    sa.Column("delta", sa.Float),
    sa.Column("share_of_change", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("rank", sa.Integer),
    sa.Column("is_root_cause", sa.Boolean, nullable=False),
    sa.Index("ix_root_cause_segments_date", "date_target", "casino_id"),
)

daily_summary = sa.Table(
    "daily_summary",
    metadata,
    *_key(),
    *_change(),
    sa.Column("robust_z", sa.Float),
    sa.Column("significant", sa.Boolean),
    sa.Column("top_metric_1", sa.String(128)),
    sa.Column("top_metric_2", sa.String(128)),
    sa.Column("top_metric_3", sa.String(128)),
    sa.Column("top_root_segment", sa.String(1024)),
    sa.Column("top_root_share", sa.Float),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_daily_summary_date", "date_target", "casino_id"),
)

# The tables that hold one answer per (casino, date, KPI); replaced as a whole.
ANSWER_TABLES: tuple[sa.Table, ...] = (
    metric_rankings,
    change_significance,
    segment_breakdown,
    root_cause_segments,
    daily_summary,
)


def schema_for(dialect_name: str) -> str | None:
    """The schema the reporting tables live in for a dialect (None on SQLite)."""
    return SCHEMA if dialect_name == "postgresql" else None


def schema_options(bind: Engine | Connection) -> dict[str, Any]:
    """Execution options that place the tables correctly for ``bind``'s dialect."""
    return {"schema_translate_map": {SCHEMA: schema_for(bind.dialect.name)}}
