"""A throw-away Airflow cluster on the Celery executor, run as subprocesses.

The Celery integration test starts the same components as docker-compose.yaml
(api-server, scheduler, dag-processor, Celery workers) on this machine: every
process gets its own process group and log file under a temporary
``AIRFLOW_HOME``, and all configuration is passed as environment variables, so
nothing outside the temporary directory, the test's own PostgreSQL databases and
one Redis database number is touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SETTINGS_DIR = Path(__file__).resolve().parent / "airflow_settings"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_URL = "redis://127.0.0.1:6379"
# Redis database number reserved for this test; the queue name is unique per run.
REDIS_DB = 12
LOG_TAIL_CHARS = 6000

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unique_name(prefix: str) -> str:
    """``prefix`` plus a random suffix, safe as a database or queue name."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    )


def create_database(name: str) -> None:
    """Create an empty PostgreSQL database called ``name``."""
    with _admin_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    """Drop database ``name``, disconnecting whoever still uses it."""
    with _admin_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def database_url(name: str, *, driver: str = "postgresql+psycopg") -> str:
    """SQLAlchemy URL of database ``name`` on the local server (trust auth)."""
    return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
    alive: Callable[[], None] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than None (or False).

    ``alive`` is called between attempts and should raise when a process the
    wait depends on has died, so a crash fails fast instead of at the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class ManagedProcess:
    """One long-running Airflow component in its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def is_running(self) -> bool:
        """Whether the component's main process is still alive."""
        return self.popen.poll() is None

    def _signal_group(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def terminate(self) -> None:
        """Ask the whole group to stop (SIGTERM) without waiting."""
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole group at once: what losing a machine looks like."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, *, grace: float = 20.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace`` s."""
        if self.is_running():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0f s; killing", self.name, grace)
        # Children (task runners, pool processes) may outlive their parent.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class AirflowCluster:
    """The components of one test cluster and the environment they share."""

    home: Path
    env: dict[str, str]
    api_port: int
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    cli_runs: int = 0

    @property
    def log_dir(self) -> Path:
        """Where every process writes its log file."""
        path = self.home / "process-logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run_cli(self, *args: str, timeout: float = 180.0) -> str:
        """Run one ``airflow`` command to completion and return its output."""
        self.cli_runs += 1
        log_path = self.log_dir / f"cli-{self.cli_runs:02d}-{args[0]}.log"
        with log_path.open("wb") as out:
            done = subprocess.run(
                [AIRFLOW, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout, check=False, cwd=self.home,
            )  # fmt: skip
        output = log_path.read_text(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(
                f"`airflow {' '.join(args)}` exited with {done.returncode}:\n"
                f"{output[-LOG_TAIL_CHARS:]}"
            )
        return output

    def start(
        self, name: str, args: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """Start a long-running command in a new process group."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as out:
            popen = subprocess.Popen(
                list(args), env={**self.env, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.home,
            )  # fmt: skip
        process = ManagedProcess(name, popen, log_path)
        self.processes[name] = process
        log.info("started %s (pid %s)", name, popen.pid)
        return process

    def start_airflow(
        self, name: str, *args: str, env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """Start ``airflow <args>`` as component ``name``."""
        return self.start(name, [AIRFLOW, *args], env=env)

    def check_alive(self, *names: str) -> None:
        """Raise when one of the named components has exited."""
        for name in names or tuple(self.processes):
            process = self.processes[name]
            if not process.is_running():
                raise RuntimeError(
                    f"{name} exited with {process.popen.returncode}; see "
                    f"{process.log_path}"
                )

    def stop_all(self) -> None:
        """SIGTERM every component at once, then wait for (or kill) each in turn."""
        for process in self.processes.values():
            if process.is_running():
                process.terminate()
        for process in self.processes.values():
            process.stop(grace=10.0)

    def log_report(self) -> str:
        """The tail of every process and CLI log, for a failing test's output."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"===== {path.name} (last {LOG_TAIL_CHARS} chars)\n")
            parts.append(text[-LOG_TAIL_CHARS:])
        return "\n".join(parts)


def cluster_environment(
    home: Path,
    *,
    metadata_db: str,
    source_db: str,
    reporting_db: str,
    api_port: int,
    queue: str,
    pipeline_config: Path,
) -> dict[str, str]:
    """Every setting of the cluster, as environment variables (nothing in files)."""
    metadata = database_url(metadata_db, driver="postgresql+psycopg2")
    secrets = {
        # Random per run: the api-server signs the task tokens workers present.
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
    }
    airflow = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS_URL}/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+"
        + database_url(metadata_db, driver="postgresql"),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
            "SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
            f"http://127.0.0.1:{api_port}/execution/"
        ),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_local_settings.worker_hostname",
        # A killed worker's task is noticed after 30 s, not the default 300 s.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "CASINO_TEST_RETRY_DELAY_SECONDS": "2",
    }
    pipeline = {
        "CASINO_EXPLAIN_CONFIG": str(pipeline_config),
        "AIRFLOW_CONN_CASINO_SOURCE": database_url(source_db, driver="postgresql"),
        "AIRFLOW_CONN_CASINO_REPORTING": database_url(
            reporting_db, driver="postgresql"
        ),
    }
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "CASINO_EXPLAIN", "PYTHON"))
    }
    return {
        **inherited,
        **secrets,
        **airflow,
        **pipeline,
        "PYTHONPATH": str(SETTINGS_DIR),
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class ApiClient:
    """The few REST API v2 calls the test needs, with a token from the auth manager."""

    base_url: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=30.0)

    def healthy(self) -> bool | None:
        """True once the api-server answers its health endpoint."""
        try:
            response = self.http.get("/api/v2/monitor/health")
        except httpx.TransportError:
            return None
        return response.status_code == 200 or None

    def authenticate(self) -> None:
        """Take a token: ``simple_auth_manager_all_admins`` hands one out freely."""
        response = self.http.get("/auth/token")
        response.raise_for_status()
        token = response.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG's record, None until the dag-processor has serialized it."""
        response = self.http.get(f"/api/v2/dags/{dag_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def unpause(self, dag_id: str) -> None:
        """Let the scheduler run the DAG's runs."""
        response = self.http.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        response.raise_for_status()

    def trigger(self, dag_id: str, *, run_id: str, conf: Mapping[str, Any]) -> None:
        """Create a manual run with ``conf`` (which overrides the DAG's Params)."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf)}
        response = self.http.post(f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        response.raise_for_status()

    def run_state(self, dag_id: str, run_id: str) -> str:
        """``queued``, ``running``, ``success`` or ``failed``."""
        response = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        state: str = response.json()["state"]
        return state

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()


@contextlib.contextmanager
def databases(*prefixes: str) -> Iterator[list[str]]:
    """Create one uniquely named database per prefix; drop them all on exit."""
    names = [unique_name(prefix) for prefix in prefixes]
    try:
        for name in names:
            create_database(name)
        yield names
    finally:
        for name in names:
            try:
                drop_database(name)
            except psycopg.Error:
                log.exception("could not drop database %s", name)
