"""Airflow DAG file: casino_daily_explanations (defined in analytics.pipeline.dags).

Runs every morning after the gaming day closes and explains the day that ended
for every casino; see docs/pipeline.md.
"""

from __future__ import annotations

from analytics.pipeline.dags import daily_dag

dag = daily_dag()
