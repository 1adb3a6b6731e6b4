"""Airflow DAG file: casino_backfill_explanations (defined in analytics.pipeline.dags).

Triggered by hand with Params date_from, date_to and optionally casinos; loads
every day of the range in bulk; see docs/pipeline.md.
"""

from __future__ import annotations

from analytics.pipeline.dags import backfill_dag

dag = backfill_dag()
