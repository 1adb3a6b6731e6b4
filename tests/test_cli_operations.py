"""The operational commands of the CLI: db migrations and the bulk backfill.

They run against real SQLite files; the pipeline's own tests cover PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from analytics.cli import app
from analytics.pipeline.demo import load_source_tables
from analytics.synthetic.casino import generate_casinos

runner = CliRunner()


def _run(*args: object, env: dict[str, str] | None = None) -> object:
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture
def source_url(tmp_path: Path) -> str:
    data = generate_casinos(n_casinos=2, start="2024-01-01", end="2024-06-30", seed=3)
    url = f"sqlite:///{tmp_path / 'source.db'}"
    engine = sa.create_engine(url)
    load_source_tables(
        engine, {"casino_daily": data.daily, "casino_segment_daily": data.segments}
    )
    engine.dispose()
    return url


def test_db_upgrade_current_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reporting.db'}"

    assert _run("db", "current", "--url", url).output.strip() == "none"

    upgraded = _run("db", "upgrade", "--url", url)
    assert upgraded.exit_code == 0, upgraded.output
    head = _run("db", "current", "--url", url).output.strip()
    assert head not in ("", "none")
    assert "daily_summary" in sa.inspect(sa.create_engine(url)).get_table_names()

    downgraded = _run("db", "downgrade", "--url", url, "--revision", "base")
    assert downgraded.exit_code == 0, downgraded.output
    assert _run("db", "current", "--url", url).output.strip() == "none"


def test_db_upgrade_without_a_url_names_the_variables(tmp_path: Path) -> None:
    result = _run("db", "upgrade", env={"CASINO_EXPLAIN_REPORTING_URL": ""})
    assert result.exit_code == 2
    assert "no reporting database given" in result.output


def test_backfill_writes_every_day_once_and_reruns_in_place(
    tmp_path: Path, source_url: str
) -> None:
    reporting = f"sqlite:///{tmp_path / 'reporting.db'}"
    assert _run("db", "upgrade", "--url", reporting).exit_code == 0
    args = ["backfill", "--from", "2024-06-10", "--to", "2024-06-12"]
    args += ["--source-url", source_url, "--url", reporting]

    first = _run(*args)
    assert first.exit_code == 0, first.output
    assert "2 casino(s), 6 answers written, 0 failed" in first.output
    second = _run(*args)
    assert second.exit_code == 0, second.output

    summary = pd.read_sql_table("daily_summary", sa.create_engine(reporting))
    keys = summary[["casino_id", "date_target", "kpi"]].astype(str)
    assert len(summary) == 6
    assert not keys.duplicated().any()
    assert set(summary["casino_id"].astype(str)) == {"C01", "C02"}


def test_backfill_without_a_source_is_one_clear_line(tmp_path: Path) -> None:
    reporting = f"sqlite:///{tmp_path / 'reporting.db'}"
    result = _run(
        "backfill",
        "--from",
        "2024-06-10",
        "--to",
        "2024-06-12",
        "--url",
        reporting,
        env={"CASINO_EXPLAIN_SOURCE_URL": ""},
    )
    assert result.exit_code == 2
    assert "no source database given" in result.output
    assert "Traceback" not in result.output


def test_backfill_with_the_range_reversed_is_refused(
    tmp_path: Path, source_url: str
) -> None:
    reporting = f"sqlite:///{tmp_path / 'reporting.db'}"
    assert _run("db", "upgrade", "--url", reporting).exit_code == 0
    result = _run(
        "backfill",
        "--from",
        "2024-06-12",
        "--to",
        "2024-06-10",
        "--source-url",
        source_url,
        "--url",
        reporting,
    )
    assert result.exit_code == 2
    assert "before" in result.output
