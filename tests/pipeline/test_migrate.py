"""Tests of analytics.pipeline.migrate: the reporting schema up and down."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from analytics.errors import ParameterError
from analytics.pipeline.migrate import (
    HEAD,
    current_revision,
    downgrade,
    main,
    reporting_url,
    upgrade,
)

TABLES = {
    "runs",
    "metric_rankings",
    "change_significance",
    "segment_breakdown",
    "root_cause_segments",
    "daily_summary",
}
VIEWS = {
    "v_daily_summary",
    "v_metric_rankings",
    "v_change_significance",
    "v_segment_breakdown",
    "v_root_causes",
    "v_run_status",
}


def _catalog(url: str, schema: str | None) -> tuple[set[str], set[str]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names(schema=schema)) - {"alembic_version"}
        return tables, set(inspector.get_view_names(schema=schema))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_and_downgrade_on_an_empty_database(postgres_url: str) -> None:
    assert current_revision(postgres_url) is None
    upgrade(postgres_url)
    assert current_revision(postgres_url) == HEAD
    assert _catalog(postgres_url, "explain") == (TABLES, VIEWS)

    downgrade(postgres_url, revision="0001")
    assert _catalog(postgres_url, "explain") == (TABLES, set())
    downgrade(postgres_url)
    assert _catalog(postgres_url, "explain") == (set(), set())
    assert current_revision(postgres_url) is None

    upgrade(postgres_url)
    assert current_revision(postgres_url) == HEAD


@pytest.mark.postgres
def test_bi_role_reads_views_only(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = sa.create_engine(postgres_url)
    query = sa.text(
        "SELECT has_table_privilege('casino_explain_bi', :name, 'SELECT'), "
        "has_table_privilege('casino_explain_bi', :name, 'INSERT')"
    )
    try:
        with engine.connect() as conn:
            login = conn.execute(
                sa.text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"),
                {"r": "casino_explain_bi"},
            ).scalar_one()
            view = conn.execute(query, {"name": "explain.v_daily_summary"}).one()
            table = conn.execute(query, {"name": "explain.daily_summary"}).one()
    finally:
        engine.dispose()
    assert login is False
    assert tuple(view) == (True, False)
    assert tuple(table) == (False, False)


def test_sqlite_upgrade_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reporting.db'}"
    upgrade(url)
    assert _catalog(url, None) == (TABLES, VIEWS)
    downgrade(url)
    assert _catalog(url, None) == (set(), set())


def test_command_line_upgrades_and_prints_the_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["upgrade", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == HEAD
    assert main(["downgrade", "base", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "(empty)"


def test_reporting_url_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASINO_EXPLAIN_REPORTING_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_CASINO_REPORTING", raising=False)
    with pytest.raises(ParameterError, match="no reporting database given"):
        reporting_url(None)
    monkeypatch.setenv("AIRFLOW_CONN_CASINO_REPORTING", "sqlite:///x.db")
    assert reporting_url(None) == "sqlite:///x.db"
