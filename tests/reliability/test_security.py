"""Security: injection, the BI role's reach, the service's refusals, no leaked secrets.

The service's basic refusals (``..``, absolute paths, a symlinked file out of the
root, pickle files and URLs, hosts off the allow-list, body and file size, a
missing token on the explain endpoints) are tested in ``tests/service``; this file
adds the cases those tests leave out.
"""

from __future__ import annotations

import ast
import datetime as dt
import logging
import pickle
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from analytics.pipeline.config import SourceSettings, load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.runner import explain_chunk
from analytics.pipeline.source import SourceReader, SourceSchemaError
from analytics.service import ServiceSettings, create_app

REPO = Path(__file__).resolve().parents[2]
TARGET = dt.date(2024, 7, 19)
SECRET = "hunter2-s3cret"
TOKEN = "reliability-token"


# ------------------------------------------------------------ SQL injection


def _sql_calls_with_formatted_text(path: Path) -> list[str]:
    """Calls of text()/exec_driver_sql() whose SQL is an f-string or a % / + build."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name not in ("text", "exec_driver_sql"):
            continue
        sql = node.args[0]
        if isinstance(sql, ast.JoinedStr | ast.BinOp) or (
            isinstance(sql, ast.Call) and getattr(sql.func, "attr", "") == "format"
        ):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_sql_text_is_built_from_strings() -> None:
    # Migrations are exempt: their identifiers are module constants (the schema,
    # the role, the view names), never configuration or request values.
    sources = [
        p for p in (REPO / "analytics").rglob("*.py") if "migrations" not in p.parts
    ]
    assert sources
    offenders = [hit for p in sources for hit in _sql_calls_with_formatted_text(p)]
    assert offenders == []


@pytest.fixture(scope="module")
def engine(loaded_url: str) -> Iterator[Engine]:
    engine = engine_from_url(loaded_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


INJECTED_IDENTIFIERS = [
    pytest.param({"daily_table": "casino_daily; DROP TABLE casino_daily"}, id="table"),
    pytest.param({"casino_column": 'casino_id" OR 1=1 --'}, id="casino-column"),
    pytest.param({"date_column": "day) OR (1=1"}, id="date-column"),
    pytest.param(
        {"metric_columns": ("coin_in", "coin_in FROM casino_daily; --")},
        id="metric-column",
    ),
    pytest.param(
        {"dimension_columns": ("zone", "zone; DELETE FROM casino_segment_daily")},
        id="dimension",
    ),
    pytest.param({"schema": "public; DROP SCHEMA public CASCADE"}, id="schema"),
]


@pytest.mark.postgres
@pytest.mark.parametrize("override", INJECTED_IDENTIFIERS)
def test_identifiers_from_configuration_are_checked_against_the_catalog(
    override: dict[str, Any], engine: Engine
) -> None:
    before = _tables(engine)
    settings = SourceSettings(**override)
    with pytest.raises(
        SourceSchemaError, match=r"not (a table )?in (the|source table)"
    ):
        SourceReader(engine, settings, need_segments=True)
    assert _tables(engine) == before


@pytest.mark.postgres
@pytest.mark.parametrize(
    "casino",
    [
        pytest.param("C01' OR '1'='1", id="quote"),
        pytest.param("C01'; DROP TABLE casino_daily; --", id="stacked"),
        pytest.param("C01\\' OR 1=1 --", id="backslash"),
    ],
)
def test_casino_ids_are_values_never_sql(casino: str, engine: Engine) -> None:
    reader = SourceReader(engine, SourceSettings(), need_segments=True)
    window = {"date_from": TARGET - dt.timedelta(days=30), "date_to": TARGET}
    assert reader.read_daily([casino], **window).empty
    assert reader.read_segments([casino], **window).empty
    assert "casino_daily" in _tables(engine)


@pytest.mark.postgres
def test_injected_kpi_name_fails_that_answer_and_is_stored_as_a_value(
    engine: Engine,
) -> None:
    kpi = 'coin_in"; DROP TABLE casino_daily; --'
    config = load_config(overrides={"explain": {"kpis": ["coin_in", kpi]}})
    casino = "C01'; DROP TABLE explain.runs; --"
    outcome = explain_chunk(
        ["C01", casino],
        date_target=TARGET,
        config=config,
        source=engine,
        reporting=engine,
    )
    # C01's coin_in is answered; the injected KPI and the unknown casino fail.
    assert outcome.succeeded == 1
    assert outcome.failed == 3
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT casino_id, kpi, status FROM explain.runs "
                "WHERE date_target = :day AND status = 'failed'"
            ),
            {"day": TARGET},
        ).all()
    assert ("C01", kpi, "failed") in {tuple(r) for r in stored}
    assert (casino, "coin_in", "failed") in {tuple(r) for r in stored}
    assert {"casino_daily", "casino_segment_daily"} <= _tables(engine)


# ------------------------------------------------------------------ BI role


@pytest.fixture(scope="module")
def bi_login(loaded_url: str, engine: Engine) -> Iterator[Engine]:
    """An engine logged in as a fresh LOGIN role granted casino_explain_bi."""
    # One answer, so the views have rows to read.
    explain_chunk(
        ["C02"],
        date_target=TARGET,
        config=load_config(),
        source=engine,
        reporting=engine,
    )
    role = f"rel_bi_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(loaded_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN IN ROLE casino_explain_bi")
    login = engine_from_url(sa.make_url(loaded_url).set(username=role))
    yield login
    login.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE usename = '{role}'"
        )
        conn.exec_driver_sql(f"DROP ROLE {role}")
    admin.dispose()


BI_VIEWS = [
    "v_daily_summary",
    "v_metric_rankings",
    "v_change_significance",
    "v_segment_breakdown",
    "v_root_causes",
    "v_run_status",
]


@pytest.mark.postgres
@pytest.mark.parametrize("view", BI_VIEWS)
def test_bi_login_reads_every_view(view: str, bi_login: Engine) -> None:
    with bi_login.connect() as conn:
        count = conn.execute(
            sa.text(f"SELECT count(*) FROM explain.{view}")  # constant names
        ).scalar_one()
    assert count > 0


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("SELECT * FROM public.casino_daily", id="read-source"),
        pytest.param("SELECT * FROM public.casino_segment_daily", id="read-segments"),
        pytest.param("SELECT error_message FROM explain.runs", id="read-run-errors"),
        pytest.param("SELECT * FROM explain.daily_summary", id="read-answer-table"),
        pytest.param("DELETE FROM explain.daily_summary", id="delete-through-table"),
        pytest.param(
            "UPDATE explain.v_change_significance SET reason = 'x'", id="write-view"
        ),
        pytest.param("CREATE TABLE explain.mine (x int)", id="create-in-schema"),
        pytest.param("INSERT INTO explain.runs (run_id) VALUES ('x')", id="insert-run"),
    ],
)
def test_bi_login_can_do_nothing_else(statement: str, bi_login: Engine) -> None:
    with (
        bi_login.connect() as conn,
        pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
    ):
        conn.execute(sa.text(statement))


@pytest.mark.postgres
def test_run_status_view_shows_the_error_kind_not_the_message(
    bi_login: Engine, engine: Engine
) -> None:
    with bi_login.connect() as conn:
        columns = conn.execute(sa.text("SELECT * FROM explain.v_run_status")).keys()
        kinds = conn.execute(
            sa.text(
                "SELECT DISTINCT error_kind FROM explain.v_run_status "
                "WHERE status = 'failed'"
            )
        ).scalars()
        shown = set(kinds)
    assert "error_message" not in set(columns)
    with engine.connect() as conn:
        messages = conn.execute(
            sa.text("SELECT error_message FROM explain.runs WHERE status = 'failed'")
        ).scalars()
        expected = {message.split(":")[0] for message in messages}
    assert shown == expected


# ----------------------------------------------------- secrets in errors/logs


@pytest.mark.postgres
def test_dropped_connection_error_in_runs_and_logs_hides_the_password(
    loaded_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Trust authentication ignores the password, so a URL carrying one works.
    with_password = sa.make_url(loaded_url).set(password=SECRET)
    reporting = engine_from_url(with_password)
    day = TARGET - dt.timedelta(days=5)
    config = load_config()
    explain_chunk(
        ["C03"], date_target=day, config=config, source=engine, reporting=engine
    )
    holder = engine.connect()
    holder.execute(
        sa.text(
            "SELECT 1 FROM explain.daily_summary "
            "WHERE casino_id = 'C03' AND date_target = :day FOR UPDATE"
        ),
        {"day": day},
    )
    caplog.set_level(logging.DEBUG)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            explain_chunk(
                ["C03"],
                date_target=day,
                config=config,
                source=engine,
                reporting=reporting,
            )
        except sa.exc.OperationalError as err:
            failure.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        _terminate_waiting(engine, "DELETE FROM explain.daily_summary")
        thread.join(timeout=60)
    finally:
        holder.rollback()
        holder.close()
        reporting.dispose()
    assert failure
    with engine.connect() as conn:
        recorded = conn.execute(
            sa.text(
                "SELECT error_message FROM explain.runs WHERE casino_id = 'C03' "
                "AND date_target = :day AND status = 'failed'"
            ),
            {"day": day},
        ).scalar_one()
    assert recorded.startswith("OperationalError")
    assert SECRET not in recorded
    assert SECRET not in caplog.text
    assert SECRET not in str(failure[0])


def _terminate_waiting(engine: Engine, statement: str) -> None:
    query = sa.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = :db AND wait_event_type = 'Lock' AND query ILIKE :statement"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # A new transaction each time: pg_stat_activity is a snapshot per one.
        with engine.connect() as conn:
            killed = conn.execute(
                query, {"db": engine.url.database, "statement": f"%{statement}%"}
            ).all()
        if killed:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing waited in {statement!r}")


@pytest.mark.airflow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_operator_log_masks_the_connection_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    from analytics.pipeline.operators import ExplainCasinosOperator

    uri = f"postgresql://casino:{SECRET}@127.0.0.1:1/nowhere"
    monkeypatch.setenv("AIRFLOW_CONN_CASINO_SOURCE", uri)
    monkeypatch.setenv("AIRFLOW_CONN_CASINO_REPORTING", uri)
    # Airflow's logging setup may stop propagation; listen on the logger itself.
    records: list[str] = []
    listener = logging.Handler(level=logging.DEBUG)
    listener.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    connections_log = logging.getLogger("analytics.pipeline.connections")
    connections_log.addHandler(listener)
    monkeypatch.setattr(connections_log, "level", logging.DEBUG)
    operator = ExplainCasinosOperator(
        task_id="explain", casinos=["C01"], date_target=TARGET.isoformat()
    )
    try:
        with pytest.raises(sa.exc.OperationalError) as caught:
            operator.execute({"data_interval_end": None, "logical_date": None})
    finally:
        connections_log.removeHandler(listener)
    logged = "\n".join([*records, caplog.text])
    assert "connection casino_source -> postgresql+psycopg://casino:***@" in logged
    assert SECRET not in logged
    assert SECRET not in str(caught.value)


def test_service_database_errors_hide_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(
        data_root=tmp_path,
        source_url=f"postgresql://casino:{SECRET}@127.0.0.1:1/nowhere",
        reporting_url=f"postgresql://casino:{SECRET}@127.0.0.1:1/nowhere",
    )
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        explain = client.post(
            "/rank-metrics",
            json={
                "casino_id": "C01",
                "metric_col": "coin_in",
                "date_target": "2024-07-19",
            },
        )
        stored = client.get("/explanations/C01/2024-07-19")
    for response, which in ((explain, "source"), (stored, "reporting")):
        assert response.status_code == 503, response.text
        assert response.json()["error"] == f"{which}_unavailable"
        assert SECRET not in response.text
    assert "cannot be reached" in caplog.text
    assert SECRET not in caplog.text


def test_no_secret_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    patterns = {
        "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        "AWS key": re.compile(r"AKIA[0-9A-Z]{16}"),
        "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),
        "password in a URL": re.compile(r"://[\w.-]+:([^@\s/'\"]+)@"),
    }
    # Placeholders a reader must replace, and this file's own test values.
    placeholder = re.compile(r"^(\$\{.*\}|<.*>|\*+|change-me.*|\{.*\})$")
    found = []
    for name in tracked:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for kind, pattern in patterns.items():
            for match in pattern.finditer(text):
                secret = match.group(1) if match.groups() else match.group(0)
                if kind == "password in a URL" and (
                    placeholder.match(secret) or name.startswith("tests/")
                ):
                    continue
                found.append(f"{name}: {kind} {match.group(0)!r}")
    assert found == []


# ------------------------------------------------------ HTTP: what is missing


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security-root")
    outside = tmp_path_factory.mktemp("security-outside")
    frame = pd.DataFrame({"day": ["2024-07-19"], "coin_in": [1.0]})
    frame.to_csv(outside / "secret.csv", index=False)
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)
    (root / "data").mkdir()
    frame.to_csv(root / "data" / "ok.csv", index=False)
    return root


class _Marker:
    """Loading a pickle of this object creates a file: proof that it was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.fixture(scope="module")
def guarded(data_root: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(
        data_root=data_root,
        api_token=TOKEN,
        allowed_hosts=["127.0.0.1"],
        max_body_bytes=4096,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _call(path: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": path,
        "metric_col": "coin_in",
        "date_col": "day",
        "date_target": "2024-07-19",
        **extra,
    }


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        pytest.param(
            "linked-folder/secret.csv", 403, "refused_path", id="dir-link-out"
        ),
        pytest.param("%2e%2e/secret.csv", 404, "missing_file", id="encoded-dotdot"),
        pytest.param("data/./../../secret.csv", 403, "refused_path", id="dot-dotdot"),
        pytest.param(
            "http://127.0.0.1@evil.example/a.csv", 403, "refused_host", id="userinfo"
        ),
        pytest.param(
            "http://evil.example#@127.0.0.1/a.csv", 403, "refused_host", id="fragment"
        ),
        pytest.param("http://[::1]/a.csv", 403, "refused_host", id="ipv6-loopback"),
        pytest.param("http://2130706433/a.csv", 403, "refused_host", id="decimal-ip"),
        pytest.param("gopher://127.0.0.1/a.csv", 403, "refused_path", id="gopher"),
    ],
)
def test_more_paths_and_urls_are_refused(
    path: str, status: int, code: str, guarded: TestClient
) -> None:
    response = guarded.post("/rank-metrics", json=_call(path), headers=AUTH)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_pickle_named_csv_is_parsed_as_text_never_loaded(
    data_root: Path, guarded: TestClient, tmp_path: Path
) -> None:
    marker = tmp_path / "pickle-was-loaded"
    (data_root / "data" / "disguised.csv").write_bytes(pickle.dumps(_Marker(marker)))
    response = guarded.post(
        "/rank-metrics", json=_call("data/disguised.csv"), headers=AUTH
    )
    assert 400 <= response.status_code < 500, response.text
    assert not marker.exists()


def test_chunked_body_over_the_limit_is_refused(guarded: TestClient) -> None:
    def body() -> Iterator[bytes]:
        # No Content-Length: the guard must count what arrives.
        yield b'{"path": "data/ok.csv", "metric_col": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    response = guarded.post(
        "/rank-metrics",
        content=body(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "body_too_large"


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("GET", "/singlerankmetrics"),
        ("POST", "/assess-change"),
        ("GET", "/rank_segments"),
        ("POST", "/ranksegments"),
        ("GET", "/explanations/C01/2024-07-19"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}"}, id="prefix"),
        pytest.param({"Authorization": f"bearer{TOKEN}"}, id="no-space"),
        pytest.param({"X-Api-Token": TOKEN}, id="other-header"),
    ],
)
def test_every_route_wants_the_token(
    method: str, route: str, headers: dict[str, str], guarded: TestClient
) -> None:
    response = guarded.request(
        method,
        route,
        params={"token": TOKEN},
        json=_call("data/ok.csv"),
        headers=headers,
    )
    assert response.status_code == 401, response.text
    assert TOKEN not in response.text
