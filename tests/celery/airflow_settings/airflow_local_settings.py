"""Airflow local settings for the Celery integration test (never for production).

Every process of the test cluster has this folder on ``PYTHONPATH``, so Airflow
imports it as ``airflow_local_settings``:

* :func:`task_policy` shortens the retry delay the DAGs set (five minutes), so the
  test that kills a worker sees the retry within seconds, not minutes;
* :func:`worker_hostname` is the ``[core] hostname_callable``: both Celery workers
  run on this one machine, so each records the name its environment gives it
  (``CASINO_TEST_WORKER_NAME``) on the task instances it runs, as two worker
  containers would record their own host names.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

RETRY_DELAY_VAR = "CASINO_TEST_RETRY_DELAY_SECONDS"
WORKER_NAME_VAR = "CASINO_TEST_WORKER_NAME"


def task_policy(task: Any) -> None:
    """Apply the test's retry delay to every task of every DAG."""
    seconds = os.environ.get(RETRY_DELAY_VAR)
    if seconds:
        task.retry_delay = dt.timedelta(seconds=float(seconds))


def worker_hostname() -> str:
    """The worker's name from the environment, else the machine's."""
    return os.environ.get(WORKER_NAME_VAR) or socket.getfqdn()
