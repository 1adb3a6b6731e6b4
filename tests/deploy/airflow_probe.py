"""Ask Airflow about the deployment's commands and DAGs, in a child process.

Run as ``python airflow_probe.py DAGS_FOLDER COMMAND_JSON``: Airflow reads its
configuration once per process, and the ``celery`` commands only exist when the
executor is Celery, so the test starts this script with
``AIRFLOW__CORE__EXECUTOR=CeleryExecutor`` in a scratch ``AIRFLOW_HOME`` (and the
deployment's ``airflow_local_settings`` on ``PYTHONPATH``). It prints one JSON
object: the DAGs the folder defines with each task's pool, priority weight and
queue after the cluster policies ran, the import errors, and the commands
(argument lists after ``airflow``) the CLI parser rejects.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any


def _rejected(commands: list[list[str]]) -> list[str]:
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    rejected = []
    for args in commands:
        # argparse reports a bad command by printing and exiting.
        with (
            contextlib.redirect_stderr(io.StringIO()) as err,
            contextlib.redirect_stdout(io.StringIO()),
        ):
            try:
                parser.parse_args(args)
            except SystemExit:
                rejected.append(f"{' '.join(args)}: {err.getvalue().strip()}")
    return rejected


def _dags(folder: str) -> tuple[dict[str, Any], dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=folder)
    dags = {
        dag_id: {
            "max_active_runs": dag.max_active_runs,
            "tasks": {
                task.task_id: {
                    "pool": task.pool,
                    "priority_weight": task.priority_weight,
                    "queue": task.queue,
                }
                for task in dag.tasks
            },
        }
        for dag_id, dag in bag.dags.items()
    }
    return dags, {str(k): str(v) for k, v in bag.import_errors.items()}


def main() -> None:
    """Print the probe's findings as JSON on stdout."""
    folder, commands = sys.argv[1], json.loads(sys.argv[2])
    dags, errors = _dags(folder)
    rejected = _rejected(commands)
    found = {
        "dag_ids": sorted(dags),
        "dags": dags,
        "import_errors": errors,
        "rejected": rejected,
    }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
