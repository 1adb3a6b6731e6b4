"""The deployment's Airflow commands and DAG ids, checked by Airflow itself."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deploy_files import REPO

pytestmark = pytest.mark.airflow

PROBE = Path(__file__).with_name("airflow_probe.py")
DOCS = ("docs/deployment.md", "docs/scaling.md")
DAG_ID = re.compile(r"\bcasino_[a-z_]+_explanations\b")
SHELL_VARIABLE = re.compile(r"\$\$\{[A-Z_]+\}")


def _airflow_commands(services: dict[str, Any]) -> list[list[str]]:
    commands = []
    for service in services.values():
        command = service.get("command")
        if isinstance(command, str):
            commands.append(shlex.split(command))  # the image's entrypoint is airflow
        scripts = command if isinstance(command, list) else []
        for script in scripts:
            for line in str(script).splitlines():
                # Runtime values (pool sizes) become a number; redirections go.
                words = shlex.split(SHELL_VARIABLE.sub("1", line).split(">")[0])
                if words[:1] == ["airflow"]:
                    commands.append(words[1:])
    return commands


@pytest.fixture(scope="module")
def probe(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What Airflow (Celery executor) says about the dags/ folder and the commands."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        # The deployment's cluster policies, as the image installs them.
        "PYTHONPATH": str(REPO / "deploy" / "airflow"),
        "CASINO_BACKFILL_QUEUE": "backfill",
    }
    commands = json.dumps(_airflow_commands(services))
    done = subprocess.run(
        [sys.executable, str(PROBE), str(REPO / "dags"), commands],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_compose_runs_enough_airflow_commands(services: dict[str, Any]) -> None:
    commands = [" ".join(c) for c in _airflow_commands(services)]
    for expected in ("api-server", "scheduler", "dag-processor", "celery worker"):
        assert expected in commands
    assert "db migrate" in commands


def test_airflow_accepts_every_command_in_the_compose_file(probe: Any) -> None:
    assert probe["rejected"] == []


def test_dags_folder_imports_cleanly(probe: Any) -> None:
    assert probe["import_errors"] == {}
    assert set(probe["dag_ids"]) >= {
        "casino_daily_explanations",
        "casino_backfill_explanations",
    }


@pytest.mark.parametrize("doc", DOCS)
def test_dag_ids_named_in_the_docs_exist(probe: Any, doc: str) -> None:
    named = set(DAG_ID.findall((REPO / doc).read_text(encoding="utf-8")))
    assert named, f"{doc} names no DAG"
    assert named <= set(probe["dag_ids"])


def test_migration_command_is_a_runnable_module(services: dict[str, Any]) -> None:
    script = " ".join(services["airflow-init"]["command"])
    modules = re.findall(r"python -m ([\w.]+)", script)
    assert modules == ["analytics.pipeline.migrate"]
    module = importlib.import_module(modules[0])
    assert callable(module.main)


def test_migration_command_upgrades_a_database(tmp_path: Path) -> None:
    # The init's exact command, on a scratch SQLite file instead of PostgreSQL.
    url = f"sqlite:///{tmp_path / 'reporting.db'}"
    env = {**os.environ, "CASINO_EXPLAIN_REPORTING_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "analytics.pipeline.migrate", "upgrade"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    from analytics.pipeline.migrate import HEAD

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == HEAD


def _pools_created(services: dict[str, Any]) -> set[str]:
    return {c[2] for c in _airflow_commands(services) if c[:2] == ["pools", "set"]}


def test_chunk_tasks_run_in_pools_the_init_creates(
    probe: Any, services: dict[str, Any]
) -> None:
    daily = probe["dags"]["casino_daily_explanations"]["tasks"]["explain_chunk"]
    backfill = probe["dags"]["casino_backfill_explanations"]["tasks"]["backfill_chunk"]
    assert {daily["pool"], backfill["pool"]} == _pools_created(services)
    assert daily["pool"] != backfill["pool"]


def test_backfill_yields_to_the_daily_run(probe: Any) -> None:
    daily = probe["dags"]["casino_daily_explanations"]
    backfill = probe["dags"]["casino_backfill_explanations"]
    lowest_daily = min(t["priority_weight"] for t in daily["tasks"].values())
    highest_backfill = max(t["priority_weight"] for t in backfill["tasks"].values())
    assert highest_backfill < lowest_daily
    assert backfill["max_active_runs"] == 1
    assert backfill["tasks"]["backfill_chunk"]["queue"] == "backfill"
    assert daily["tasks"]["explain_chunk"]["queue"] != "backfill"


def test_backfill_worker_serves_the_backfill_queue(services: dict[str, Any]) -> None:
    command = services["airflow-backfill-worker"]["command"]
    assert command == "celery worker --queues ${CASINO_BACKFILL_QUEUE:-backfill}"
    assert services["airflow-backfill-worker"]["profiles"] == ["backfill"]
