"""Structure of docker-compose.yaml: services, health, Celery, secrets, paths."""

from __future__ import annotations

import re
import stat
from typing import Any

import pytest
from deploy_files import (
    POSTGRES_INIT,
    REPO,
    compose_variables,
    resolve,
    shell_variables,
    walk_strings,
)

from analytics.service import ServiceSettings

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-backfill-worker",
)
LONG_RUNNING = (
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-backfill-worker",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|_AUTH$")
# scheme://user:password@host -- the password part must be a ${VARIABLE}.
URL_PASSWORD = re.compile(r"://[^:/@\s]*:(?P<password>[^@\s]+)@")
PURE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\}$")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


@pytest.mark.parametrize("name", ["postgres", "redis", *AIRFLOW_SERVICES])
def test_required_service_is_defined(services: dict[str, Any], name: str) -> None:
    assert name in services


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_service_has_a_healthcheck(
    services: dict[str, Any], name: str
) -> None:
    check = services[name].get("healthcheck") or {}
    assert check.get("test"), f"{name} has no healthcheck test"
    assert check.get("test")[0] in {"CMD", "CMD-SHELL"}
    assert check.get("interval")
    assert check.get("retries")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_waits_for_healthy_postgres_and_redis(
    services: dict[str, Any], name: str
) -> None:
    depends = services[name]["depends_on"]
    assert depends["postgres"] == {"condition": "service_healthy"}
    assert depends["redis"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", [s for s in AIRFLOW_SERVICES if s != "airflow-init"])
def test_airflow_service_starts_after_the_init_succeeded(
    services: dict[str, Any], name: str
) -> None:
    depends = services[name]["depends_on"]
    assert depends["airflow-init"] == {"condition": "service_completed_successfully"}


def test_every_dependency_names_a_condition(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must be a mapping"
        for target, rule in depends.items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule.get("condition"), f"{name} -> {target} has no condition"


@pytest.mark.parametrize("name", ["airflow-worker", "airflow-backfill-worker"])
def test_workers_wait_for_the_execution_api(
    services: dict[str, Any], name: str
) -> None:
    depends = services[name]["depends_on"]
    assert depends["airflow-apiserver"] == {"condition": "service_healthy"}


def test_airflow_services_share_one_image_built_from_the_dockerfile(
    services: dict[str, Any],
) -> None:
    images = {services[name]["image"] for name in AIRFLOW_SERVICES}
    builds = {services[name]["build"] for name in AIRFLOW_SERVICES}
    assert len(images) == 1
    assert builds == {"."}
    assert (REPO / "Dockerfile").is_file()


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_service_runs_the_celery_executor(services: dict[str, Any], name: str) -> None:
    env = _environment(services[name])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert "@postgres:5432/" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/"
    )


def test_worker_can_be_scaled(services: dict[str, Any]) -> None:
    # A fixed container name or host port would make a second copy fail to start.
    worker = services["airflow-worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert _command(worker) == "celery worker"


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("airflow-apiserver", "api-server"),
        ("airflow-scheduler", "scheduler"),
        ("airflow-dag-processor", "dag-processor"),
        ("airflow-triggerer", "triggerer"),
    ],
)
def test_component_command(services: dict[str, Any], name: str, command: str) -> None:
    assert _command(services[name]) == command


def test_init_migrates_metadata_and_reporting_schema(services: dict[str, Any]) -> None:
    script = _command(services["airflow-init"])
    assert "airflow db migrate" in script
    assert "python -m analytics.pipeline.migrate upgrade" in script
    assert "set -euo pipefail" in script, "a failing step must fail the init"


def test_connections_are_environment_variables(services: dict[str, Any]) -> None:
    env = _environment(services["airflow-worker"])
    assert compose_variables(env["AIRFLOW_CONN_CASINO_SOURCE"]) == {"CASINO_SOURCE_URL"}
    reporting = env["AIRFLOW_CONN_CASINO_REPORTING"]
    assert reporting.startswith("postgresql://")
    assert "REPORTING_WRITER_PASSWORD" in compose_variables(reporting)


def test_no_literal_secret_in_any_environment(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert PURE_REFERENCE.match(value), f"{name}.{key} is a literal"
            for match in URL_PASSWORD.finditer(value):
                password = match["password"]
                assert PURE_REFERENCE.match(password), f"{name}.{key}: {password!r}"


def test_no_literal_secret_anywhere_in_the_file(compose: dict[str, Any]) -> None:
    for text in walk_strings(compose):
        for match in URL_PASSWORD.finditer(text):
            assert PURE_REFERENCE.match(match["password"]), text
        assert "change-me" not in text


def test_required_secrets_refuse_to_default(compose_text: str) -> None:
    # A secret must never silently fall back to a default written in the file.
    secrets = {v for v in compose_variables(compose_text) if SECRET_NAME.search(v)}
    assert secrets >= {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET"}
    for name in secrets:
        assert not re.search(rf"\$\{{{name}:?-", compose_text), name


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    # Short syntax, HOST:CONTAINER[:MODE], after compose's substitution (a host
    # side may be ${VARIABLE:-default}, whose ":-" is not a separator).
    mounts: dict[str, tuple[str, str]] = {}
    for volume in service.get("volumes", []):
        host, container, *mode = resolve(volume, {}).split(":")
        mounts[container] = (host, mode[0] if mode else "rw")
    return mounts


def _volumes(service: dict[str, Any]) -> dict[str, str]:
    return {container: host for container, (host, _) in _mounts(service).items()}


@pytest.mark.parametrize(
    ("setting", "folder"),
    [
        ("AIRFLOW__CORE__DAGS_FOLDER", "dags"),
        ("AIRFLOW__CORE__PLUGINS_FOLDER", "plugins"),
    ],
)
@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_code_folders_are_mounted_where_airflow_looks(
    services: dict[str, Any], name: str, setting: str, folder: str
) -> None:
    service = services[name]
    container_path = _environment(service)[setting]
    assert _volumes(service)[container_path] == f"./{folder}"
    assert (REPO / folder).is_dir()
    assert any((REPO / folder).glob("*.py")) or any((REPO / folder).glob("*/*.py"))


@pytest.mark.parametrize(
    ("setting", "host_file"),
    [
        ("CASINO_EXPLAIN_CONFIG", "config/pipeline.yaml"),
        (None, "deploy/airflow/airflow_local_settings.py"),
    ],
)
@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_configuration_files_are_mounted(
    services: dict[str, Any], name: str, setting: str | None, host_file: str
) -> None:
    service = services[name]
    mounts = _volumes(service)
    by_host = {host: container for container, host in mounts.items()}
    container_file = by_host[f"./{host_file}"]
    assert (REPO / host_file).is_file()
    if setting is not None:
        assert _environment(service)[setting] == container_file
    else:
        # Airflow puts AIRFLOW_HOME/config on sys.path for airflow_local_settings.
        assert container_file == "/opt/airflow/config/airflow_local_settings.py"


def test_postgres_init_script_is_mounted_and_executable(
    services: dict[str, Any],
) -> None:
    mounts = _volumes(services["postgres"])
    script = next(h for c, h in mounts.items() if c.startswith("/docker-entrypoint"))
    assert (REPO / script).resolve() == POSTGRES_INIT
    assert POSTGRES_INIT.stat().st_mode & stat.S_IXUSR


def test_postgres_init_script_gets_every_variable_it_reads(
    services: dict[str, Any],
) -> None:
    # The official image sets POSTGRES_USER/POSTGRES_DB for its init scripts.
    read = shell_variables(POSTGRES_INIT.read_text(encoding="utf-8"))
    given = set(_environment(services["postgres"]))
    assert read - given == set()


def test_published_ports_bind_to_localhost_by_default(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            resolved = resolve(str(port), {})
            assert resolved.startswith("127.0.0.1:"), f"{name}: {resolved}"


# The HTTP service inside the api-server (plugins/casino_explain_http.py).
SERVICE_SETTINGS = (
    "CASINO_EXPLAIN_DATA_ROOT",
    "CASINO_EXPLAIN_SOURCE_URL",
    "CASINO_EXPLAIN_REPORTING_URL",
    "CASINO_EXPLAIN_API_TOKEN",
    "CASINO_EXPLAIN_ALLOWED_HOSTS",
)


def _service_settings(env: dict[str, str]) -> dict[str, str]:
    # CASINO_EXPLAIN_CONFIG is the pipeline's (and the service's) YAML file, not
    # a ServiceSettings field.
    return {
        key: value
        for key, value in env.items()
        if key.startswith("CASINO_EXPLAIN_") and key != "CASINO_EXPLAIN_CONFIG"
    }


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_every_airflow_service_gets_the_http_service_settings(
    services: dict[str, Any], name: str
) -> None:
    # Every component loads the plugins folder, so all see the same settings;
    # the api-server is the one that serves the app.
    env = _environment(services[name])
    assert set(SERVICE_SETTINGS) <= set(_service_settings(env))


def test_http_service_settings_are_fields_of_service_settings(
    services: dict[str, Any],
) -> None:
    fields = {
        f"CASINO_EXPLAIN_{field.upper()}" for field in ServiceSettings.model_fields
    }
    settings = _service_settings(_environment(services["airflow-apiserver"]))
    assert set(settings) - fields == set(), "a misspelt setting is silently ignored"


def test_http_service_token_comes_from_env_and_is_required(
    services: dict[str, Any],
) -> None:
    token = _environment(services["airflow-apiserver"])["CASINO_EXPLAIN_API_TOKEN"]
    # Airflow does not authenticate plugin apps: the token is the only guard.
    assert compose_variables(token) == {"CASINO_EXPLAIN_API_TOKEN"}
    assert PURE_REFERENCE.match(token)
    assert ":?" in token


def test_http_service_reads_the_pipelines_databases(services: dict[str, Any]) -> None:
    env = _environment(services["airflow-apiserver"])
    assert compose_variables(env["CASINO_EXPLAIN_SOURCE_URL"]) == {"CASINO_SOURCE_URL"}
    # The migrations prefer CASINO_EXPLAIN_REPORTING_URL over the connection, so
    # the two must name the same database, as the same (table-reading) user.
    reporting = env["CASINO_EXPLAIN_REPORTING_URL"]
    assert reporting == env["AIRFLOW_CONN_CASINO_REPORTING"]


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_http_service_data_root_is_a_read_only_mount(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    root = _environment(service)["CASINO_EXPLAIN_DATA_ROOT"]
    assert root.startswith("/"), "a relative root depends on the working directory"
    mounts = _mounts(service)
    assert root in mounts, f"{name}: nothing is mounted at the data root {root}"
    host, mode = mounts[root]
    assert mode == "ro", "the service only reads its data root"
    assert host == "./data"
    raw = next(v for v in service["volumes"] if v.endswith(f":{root}:ro"))
    assert compose_variables(raw) == {"CASINO_DATA_DIR"}
    # No other mount lies inside or over the data root.
    others = [c for c in mounts if c != root]
    assert not any(c.startswith(f"{root}/") or root.startswith(f"{c}/") for c in others)
