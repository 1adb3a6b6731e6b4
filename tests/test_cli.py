"""The casino-explain command line, run through typer's CliRunner on generated data."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from typer.testing import CliRunner, Result

from analytics.cli import app
from analytics.synthetic.casino import (
    CAUSE_KINDS,
    SyntheticCasinoData,
    generate_casinos,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def data() -> SyntheticCasinoData:
    return generate_casinos(n_casinos=2, start="2024-01-01", end="2024-07-31", seed=2)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, data: SyntheticCasinoData) -> Path:
    from analytics.io.files import write_demo_files

    folder = tmp_path_factory.mktemp("cli")
    write_demo_files(data, folder)
    return folder


@pytest.fixture(scope="module")
def target(data: SyntheticCasinoData) -> str:
    """The last planted cause of casino C01, as an ISO date."""
    causes = data.causes.loc[data.causes["casino_id"] == "C01"]
    return str(causes["day"].iloc[-1].date().isoformat())


def _run(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def _rows(as_dict: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = as_dict.get("rows")
    return list(rows if rows is not None else as_dict["metrics"])


def _coin_in_on(data: SyntheticCasinoData, day: str) -> float:
    daily = data.daily_for("C01").set_index("day")
    return float(daily.loc[pd.Timestamp(day), "coin_in"])


COMMANDS = {
    "rank-metrics": "daily.csv",
    "assess-change": "daily.csv",
    "rank-segments": "segments.csv",
}


def _args(command: str, files: Path, target: str, *extra: str) -> list[str | Path]:
    return [
        command,
        files / COMMANDS[command],
        "--where",
        "casino_id=C01",
        "--date-target",
        target,
        *extra,
    ]


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize("command", list(COMMANDS))
def test_table_output(command: str, files: Path, target: str) -> None:
    result = _run(*_args(command, files, target))
    assert result.exit_code == 0, result.output
    module = command.replace("-", "_")
    assert f"{module}: coin_in on {target}" in result.stdout
    key = "segment" if command == "rank-segments" else "metric"
    assert key in result.stdout.splitlines()[2]  # the header row


@pytest.mark.parametrize("command", list(COMMANDS))
def test_json_output_parses(
    command: str, files: Path, target: str, data: SyntheticCasinoData
) -> None:
    result = _run(*_args(command, files, target, "--format", "json"))
    assert result.exit_code == 0, result.output
    as_dict = json.loads(result.stdout)
    assert target in result.stdout
    if command == "assess-change":
        kpi = next(r for r in _rows(as_dict) if r["metric"] == "coin_in")
    else:
        kpi = as_dict["kpi"]
    assert_allclose(kpi["value_target"], _coin_in_on(data, target), rtol=1e-9)


@pytest.mark.parametrize(
    ("command", "key"),
    [
        ("rank-metrics", "metric"),
        ("assess-change", "metric"),
        ("rank-segments", "segment"),
    ],
)
def test_csv_output_parses(command: str, key: str, files: Path, target: str) -> None:
    result = _run(*_args(command, files, target, "--format", "csv"))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert key in table.columns
    assert len(table) > 0


def test_parquet_input(tmp_path: Path, data: SyntheticCasinoData, target: str) -> None:
    path = tmp_path / "daily.parquet"
    data.daily_for("C01").to_parquet(path)
    result = _run("rank-metrics", path, "--date-target", target, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "coin_in_carded" in result.stdout


# ------------------------------------------------------------------ options


def test_method_option_changes_the_order(files: Path, target: str) -> None:
    args = _args(
        "rank-metrics", files, target, "--method", "absranks", "--format", "csv"
    )
    result = _run(*args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    moved = table["norm_delta"].abs().to_numpy()
    assert (np.diff(moved) <= 1e-12).all()


def test_metrics_accepts_commas_and_repeats(files: Path, target: str) -> None:
    extra = ("--metrics", "visits,avg_bet", "--metrics", "free_play", "--format", "csv")
    result = _run(*_args("rank-metrics", files, target, *extra))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert set(table["metric"]) <= {"visits", "avg_bet", "free_play"}
    assert len(table) >= 2


def test_threshold_option(files: Path, target: str) -> None:
    extra = ("--threshold", "1000", "--format", "csv")
    result = _run(*_args("assess-change", files, target, *extra))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert not table["significant"].astype(bool).any()


def test_dimensions_and_depth_options(files: Path, target: str) -> None:
    dims = "zone,denomination,game_type"
    extra = ("--dimensions", dims, "--dimensions", "player_tier", "--max-depth", "1")
    result = _run(*_args("rank-segments", files, target, *extra, "--format", "csv"))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert not table["segment"].str.contains("&").any()
    assert (table["depth"] == 1).all()


def test_a_subset_of_dimensions_must_be_aggregated_first(
    files: Path, target: str
) -> None:
    result = _run(*_args("rank-segments", files, target, "--dimensions", "zone"))
    _assert_one_line_error(result, "share a date and segment")


def test_ratio_kpi_options(files: Path, target: str) -> None:
    extra = (
        "--numerator",
        "actual_win",
        "--denominator",
        "coin_in",
        "--format",
        "json",
    )
    result = _run(*_args("rank-segments", files, target, *extra))
    assert result.exit_code == 0, result.output
    as_dict = json.loads(result.stdout)
    assert as_dict["parameters"]["numerator"] == "actual_win"
    assert as_dict["parameters"]["denominator"] == "coin_in"


def test_holidays_option(files: Path, target: str) -> None:
    base = (pd.Timestamp(target) - pd.Timedelta(days=7)).date().isoformat()
    extra = ("--holidays", f"2024-01-01,{base}", "--format", "json")
    result = _run(*_args("assess-change", files, target, *extra))
    assert result.exit_code == 0, result.output
    as_dict = json.loads(result.stdout)
    assert as_dict["parameters"]["holidays"] == ["2024-01-01", base]
    assert any("holiday" in note for note in as_dict["notes"])


# ------------------------------------------------------------------- errors


def _assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_bad_column_is_one_line_exit_2(files: Path, target: str) -> None:
    result = _run(*_args("rank-metrics", files, target, "--metric-col", "nope"))
    _assert_one_line_error(result, "'nope' not in the data")


def test_bad_date_is_one_line_exit_2(files: Path) -> None:
    result = _run(*_args("assess-change", files, "2031-01-01"))
    _assert_one_line_error(result, "'2031-01-01' is not in the data")


def test_missing_file(tmp_path: Path) -> None:
    result = _run(
        "rank-metrics", tmp_path / "nothing.csv", "--date-target", "2024-05-01"
    )
    _assert_one_line_error(result, "does not exist")


def test_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "daily.pkl"
    pd.DataFrame({"day": ["2024-01-01"]}).to_pickle(path)
    result = _run("rank-metrics", path, "--date-target", "2024-05-01")
    _assert_one_line_error(result, "arbitrary code")


def test_several_casinos_need_a_filter(files: Path, target: str) -> None:
    result = _run("rank-metrics", files / "daily.csv", "--date-target", target)
    _assert_one_line_error(result, "select one with --where COLUMN=VALUE")


@pytest.mark.parametrize(
    ("where", "fragment"),
    [("casino_id", "must look like COLUMN=VALUE"), ("casino_id=C99", "C99")],
    ids=["no-equals", "no-rows"],
)
def test_bad_where(files: Path, target: str, where: str, fragment: str) -> None:
    args = ["rank-metrics", files / "daily.csv", "--where", where]
    result = _run(*args, "--date-target", target)
    _assert_one_line_error(result, fragment)


def test_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for command in ("rank-metrics", "assess-change", "rank-segments", "demo-files"):
        assert command in result.stdout


# --------------------------------------------------------------------- demo


def test_demo_json(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    args = ("--directory", folder, "--casinos", "1", "--end", "2024-05-31")
    result = _run("demo-files", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(p.name for p in folder.iterdir()) == [
        "causes.csv",
        "daily.csv",
        "segments.csv",
        "tiers.csv",
    ]
    (case,) = report["cases"]
    truth = generate_casinos(n_casinos=1, end="2024-05-31").causes
    assert case["date_target"] == truth["day"].iloc[-1].date().isoformat()
    assert case["planted_cause"]["kind"] in CAUSE_KINDS
    assert case["summary"].startswith(case["kpi"])
    assert case["summary"].endswith(".")


def test_demo_table(tmp_path: Path) -> None:
    args = ("--directory", tmp_path, "--casinos", "1", "--end", "2024-05-31")
    result = _run("demo-files", *args, "--file-format", "parquet")
    assert result.exit_code == 0, result.output
    assert "C01:" in result.stdout
    assert "planted cause:" in result.stdout
    assert (tmp_path / "segments.parquet").exists()


def test_demo_refuses_csv_output(tmp_path: Path) -> None:
    result = _run("demo-files", "--directory", tmp_path, "--format", "csv")
    _assert_one_line_error(result, "--format csv is not available for demo")


def test_csv_output_quotes_cells_a_spreadsheet_would_run(
    tmp_path: Path, files: Path, target: str
) -> None:
    daily = pd.read_csv(files / "daily.csv")
    trap = '=HYPERLINK("http://attacker.example","click")'
    daily = daily.rename(columns={"games_played": trap})
    path = tmp_path / "daily.csv"
    daily.to_csv(path, index=False)

    result = _run(*_args("rank-metrics", tmp_path, target, "--format", "csv"))

    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output))
    assert not table["metric"].str.startswith("=").any()
    assert f"'{trap}" in set(table["metric"])
