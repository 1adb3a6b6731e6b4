"""Airflow cluster policies of the casino-explain deployment.

The Dockerfile copies this file to ``/opt/airflow/config``, which Airflow puts on
``sys.path`` and imports as ``airflow_local_settings``. The policies keep a large
backfill from starving the daily run without touching the DAG code (see
docs/scaling.md):

* daily chunks run in the pool ``casino_reporting`` (the writers of the
  reporting database) with a high priority weight;
* backfill chunks run in the pool ``casino_backfill`` with the lowest priority
  weight and, when ``CASINO_BACKFILL_QUEUE`` is set, on that Celery queue only,
  i.e. on the workers started with ``--queues`` naming it;
* one backfill run at a time (``max_active_runs``).

The pools are created by the ``airflow-init`` service; a task in a missing pool
would never start, so the names here and there must agree.
"""

from __future__ import annotations

import os
from typing import Any

DAILY_DAG_ID = "casino_daily_explanations"
BACKFILL_DAG_ID = "casino_backfill_explanations"
REPORTING_POOL = "casino_reporting"
BACKFILL_POOL = "casino_backfill"
CHUNK_TASKS = {DAILY_DAG_ID: "explain_chunk", BACKFILL_DAG_ID: "backfill_chunk"}
DAILY_PRIORITY = 100
BACKFILL_PRIORITY = 1
BACKFILL_QUEUE_VAR = "CASINO_BACKFILL_QUEUE"


def dag_policy(dag: Any) -> None:
    """Let only one backfill run at a time: each already spans many days."""
    if dag.dag_id == BACKFILL_DAG_ID:
        dag.max_active_runs = 1


def task_policy(task: Any) -> None:
    """Pool, priority and queue of the pipeline's tasks."""
    dag_id = task.dag.dag_id if task.dag is not None else None
    if dag_id == DAILY_DAG_ID:
        # "absolute": the weight is used as given, not summed over downstream tasks.
        task.weight_rule = "absolute"
        task.priority_weight = DAILY_PRIORITY
        if task.task_id == CHUNK_TASKS[DAILY_DAG_ID]:
            task.pool = REPORTING_POOL
    elif dag_id == BACKFILL_DAG_ID:
        task.weight_rule = "absolute"
        task.priority_weight = BACKFILL_PRIORITY
        if task.task_id == CHUNK_TASKS[BACKFILL_DAG_ID]:
            task.pool = BACKFILL_POOL
            queue = os.environ.get(BACKFILL_QUEUE_VAR)
            if queue:
                task.queue = queue
