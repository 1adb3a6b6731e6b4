"""The deployment's cluster policies (deploy/airflow/airflow_local_settings.py)."""

from __future__ import annotations

import importlib.util
from types import ModuleType, SimpleNamespace

import pytest
from deploy_files import REPO

POLICY_FILE = REPO / "deploy" / "airflow" / "airflow_local_settings.py"


@pytest.fixture(scope="module")
def policies() -> ModuleType:
    """The policy file, loaded under a private name (not Airflow's)."""
    spec = importlib.util.spec_from_file_location("deploy_policies", POLICY_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _task(dag_id: str | None, task_id: str) -> SimpleNamespace:
    dag = None if dag_id is None else SimpleNamespace(dag_id=dag_id)
    return SimpleNamespace(
        dag=dag, task_id=task_id, pool="default_pool", priority_weight=1,
        weight_rule="downstream", queue="default",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("dag_id", "task_id", "pool", "weight"),
    [
        ("casino_daily_explanations", "explain_chunk", "casino_reporting", 100),
        ("casino_daily_explanations", "plan_daily", "default_pool", 100),
        ("casino_backfill_explanations", "backfill_chunk", "casino_backfill", 1),
        ("casino_backfill_explanations", "summarize", "default_pool", 1),
    ],
    ids=["daily-chunk", "daily-plan", "backfill-chunk", "backfill-summary"],
)
def test_pipeline_tasks_get_pool_and_weight(
    policies: ModuleType, dag_id: str, task_id: str, pool: str, weight: int
) -> None:
    task = _task(dag_id, task_id)

    policies.task_policy(task)

    assert (task.pool, task.priority_weight, task.weight_rule) == (
        pool,
        weight,
        "absolute",
    )


@pytest.mark.parametrize("dag_id", ["someone_elses_dag", None], ids=["other", "none"])
def test_other_tasks_are_left_alone(policies: ModuleType, dag_id: str | None) -> None:
    task = _task(dag_id, "explain_chunk")

    policies.task_policy(task)

    assert task.pool == "default_pool"
    assert task.priority_weight == 1
    assert task.queue == "default"


@pytest.mark.parametrize(
    ("queue_setting", "expected"),
    [(None, "default"), ("", "default"), ("backfill", "backfill")],
    ids=["unset", "empty", "set"],
)
def test_backfill_queue_only_when_configured(
    policies: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    queue_setting: str | None,
    expected: str,
) -> None:
    if queue_setting is None:
        monkeypatch.delenv("CASINO_BACKFILL_QUEUE", raising=False)
    else:
        monkeypatch.setenv("CASINO_BACKFILL_QUEUE", queue_setting)
    task = _task("casino_backfill_explanations", "backfill_chunk")

    policies.task_policy(task)

    assert task.queue == expected


@pytest.mark.parametrize(
    ("dag_id", "expected"),
    [("casino_backfill_explanations", 1), ("casino_daily_explanations", 4)],
    ids=["backfill", "daily"],
)
def test_one_backfill_run_at_a_time(
    policies: ModuleType, dag_id: str, expected: int
) -> None:
    dag = SimpleNamespace(dag_id=dag_id, max_active_runs=4)

    policies.dag_policy(dag)

    assert dag.max_active_runs == expected
