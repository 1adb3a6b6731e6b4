"""Add the BI views and, on PostgreSQL, the read-only role casino_explain_bi.

The views are the contract for dashboards: their columns are documented in
docs/reporting-schema.md and may only grow. The role is NOLOGIN: a DBA grants it to
real BI logins (GRANT casino_explain_bi TO alice). It can read the views, nothing
else. Roles belong to the whole PostgreSQL cluster, so the downgrade revokes this
database's grants and drops the role only when no other database still uses it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BI_ROLE = "casino_explain_bi"

# Each view reads only committed answers; {s} is the schema prefix ("explain." or "").
VIEWS = {
    "v_daily_summary": """
        SELECT s.casino_id, s.date_target, s.date_base, s.kpi,
               s.value_base, s.value_target, s.delta, s.pct_change,
               s.robust_z, s.significant,
               s.top_metric_1, s.top_metric_2, s.top_metric_3,
               s.top_root_segment, s.top_root_share, s.explanation,
               s.run_id, r.code_version, r.finished_at AS computed_at
        FROM {s}daily_summary AS s
        LEFT JOIN {s}runs AS r ON r.run_id = s.run_id
    """,
    "v_metric_rankings": """
        SELECT casino_id, date_target, date_base, kpi, metric, method, rank,
               value_base, value_target, delta, pct_change, norm_delta, score,
               direction, corr_hist
        FROM {s}metric_rankings
        WHERE rank IS NOT NULL
    """,
    "v_change_significance": """
        SELECT casino_id, date_target, date_base, kpi, metric, is_kpi,
               value_base, value_target, delta, pct_change, robust_z, percentile,
               significant, direction, target_is_holiday, base_is_holiday, reason
        FROM {s}change_significance
    """,
    "v_segment_breakdown": """
        SELECT casino_id, date_target, date_base, kpi, dimension, member,
               value_base, value_target, delta, share_of_change, surprise
        FROM {s}segment_breakdown
    """,
    "v_root_causes": """
        SELECT casino_id, date_target, date_base, kpi, segment, depth, rank,
               value_base, value_target, delta, share_of_change, score
        FROM {s}root_cause_segments
        WHERE is_root_cause
    """,
    # The kind of error only (the exception class): the message can name hosts,
    # tables and SQL, which is for the operators reading explain.runs.
    "v_run_status": """
        SELECT casino_id, date_target, kpi, status, {error_kind} AS error_kind,
               code_version, started_at, finished_at, run_id
        FROM {s}runs
    """,
}


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    prefix = "explain." if _is_postgres() else ""
    kind = (
        "split_part(error_message, ':', 1)"
        if _is_postgres()
        else "substr(error_message, 1, instr(error_message, ':') - 1)"
    )
    for name, body in VIEWS.items():
        sql = body.format(s=prefix, error_kind=kind)
        op.execute(f"CREATE VIEW {prefix}{name} AS {sql}")
    if not _is_postgres():
        return
    # CREATE ROLE has no IF NOT EXISTS; two databases migrating at once may race.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BI_ROLE}') THEN
                CREATE ROLE {BI_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            RAISE NOTICE 'role {BI_ROLE} already exists';
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA explain TO {BI_ROLE}")
    for name in VIEWS:
        op.execute(f"GRANT SELECT ON explain.{name} TO {BI_ROLE}")


def downgrade() -> None:
    prefix = "explain." if _is_postgres() else ""
    if _is_postgres():
        for name in VIEWS:
            op.execute(f"REVOKE ALL ON explain.{name} FROM {BI_ROLE}")
        op.execute(f"REVOKE ALL ON SCHEMA explain FROM {BI_ROLE}")
        op.execute(
            f"""
            DO $$
            BEGIN
                DROP ROLE IF EXISTS {BI_ROLE};
            EXCEPTION WHEN dependent_objects_still_exist THEN
                RAISE NOTICE 'role {BI_ROLE} still used by another database';
            END
            $$
            """
        )
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW {prefix}{name}")
