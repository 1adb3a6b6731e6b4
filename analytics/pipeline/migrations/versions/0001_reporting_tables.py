"""Create the reporting tables: runs and the five answer tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANSWER_TABLES = (
    "metric_rankings",
    "change_significance",
    "segment_breakdown",
    "root_cause_segments",
    "daily_summary",
)


def _schema() -> str | None:
    return "explain" if op.get_bind().dialect.name == "postgresql" else None


def _key() -> list[sa.Column[Any]]:
    return [
        sa.Column("casino_id", sa.String(64), nullable=False),
        sa.Column("date_target", sa.Date, nullable=False),
        sa.Column("kpi", sa.String(128), nullable=False),
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


def _answer_table(name: str, extra_key: list[str], *columns: sa.Column[Any]) -> None:
    op.create_table(
        name,
        *_key(),
        *columns,
        sa.PrimaryKeyConstraint(
            "casino_id", "date_target", "kpi", *extra_key, name=f"pk_{name}"
        ),
        schema=_schema(),
    )
    op.create_index(
        f"ix_{name}_date", name, ["date_target", "casino_id"], schema=_schema()
    )


def upgrade() -> None:
    schema = _schema()
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(36), nullable=False),
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
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'skipped')",
            name="ck_runs_status",
        ),
        schema=schema,
    )
    op.create_index(
        "ix_runs_casino_date", "runs", ["casino_id", "date_target"], schema=schema
    )
    op.create_index(
        "ix_runs_date_status", "runs", ["date_target", "status"], schema=schema
    )
    _answer_table(
        "metric_rankings",
        ["metric"],
        sa.Column("metric", sa.String(128), nullable=False),
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
    )
    _answer_table(
        "change_significance",
        ["metric"],
        sa.Column("metric", sa.String(128), nullable=False),
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
    )
    _answer_table(
        "segment_breakdown",
        ["dimension", "member"],
        sa.Column("dimension", sa.String(128), nullable=False),
        sa.Column("member", sa.String(256), nullable=False),
        sa.Column("value_base", sa.Float),
        sa.Column("value_target", sa.Float),
        sa.Column("delta", sa.Float),
        sa.Column("share_of_change", sa.Float),
        sa.Column("surprise", sa.Float),
    )
    _answer_table(
        "root_cause_segments",
        ["segment"],
        sa.Column("segment", sa.String(1024), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("value_base", sa.Float),
        sa.Column("value_target", sa.Float),
        sa.Column("delta", sa.Float),
        sa.Column("share_of_change", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("rank", sa.Integer),
        sa.Column("is_root_cause", sa.Boolean, nullable=False),
    )
    _answer_table(
        "daily_summary",
        [],
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
    )


def downgrade() -> None:
    schema = _schema()
    for name in (*reversed(ANSWER_TABLES), "runs"):
        op.drop_table(name, schema=schema)
