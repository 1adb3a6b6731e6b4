"""Reading and writing tables: each format, each refusal, the demo files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InputError, ParameterError
from analytics.io.files import read_table, write_demo_files, write_table
from analytics.synthetic.casino import SyntheticCasinoData, generate_casinos, to_cents


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": ["2024-01-01", "2024-01-02"],
            "zone": ["main_north", "high_limit"],
            "coin_in": [4523123.45, 4012345.67],
            "games_played": [3800000, 3400000],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".pq", ".json", ".jsonl"])
def test_round_trip_per_format(
    tmp_path: Path, frame: pd.DataFrame, suffix: str
) -> None:
    path = write_table(frame, tmp_path / f"table{suffix}")
    back = read_table(path)
    assert list(back.columns) == list(frame.columns)
    assert back["day"].astype(str).tolist() == ["2024-01-01", "2024-01-02"]
    assert back["coin_in"].tolist() == [4523123.45, 4012345.67]
    assert back["games_played"].tolist() == [3800000, 3400000]


def test_reads_json_in_column_layout(tmp_path: Path) -> None:
    path = tmp_path / "columns.json"
    path.write_text(json.dumps({"day": {"0": "2024-01-01"}, "coin_in": {"0": 12.5}}))
    assert read_table(path)["coin_in"].tolist() == [12.5]


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "DAILY.CSV"
    path.write_text("day,coin_in\n2024-01-01,1.5\n")
    assert read_table(path).shape == (1, 2)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, r"does not exist"),
        ("empty.csv", b"", r"is empty \(0 bytes\)"),
        ("header.csv", b"day,coin_in\n", r"holds no rows"),
        (
            "broken.parquet",
            b"not a parquet file at all",
            r"could not be read as Parquet",
        ),
        ("broken.json", b"{not json", r"could not be read as JSON"),
        ("broken.csv", b'a,b\n1,2\n"unclosed,3\n', r"could not be read as CSV"),
        ("table.xlsx", b"PK", r"unsupported extension '\.xlsx'; supported: \.csv"),
        ("noext", b"a\n1\n", r"unsupported extension '\(none\)'"),
    ],
    ids=[
        "missing",
        "empty",
        "header-only",
        "bad-parquet",
        "bad-json",
        "bad-csv",
        "xlsx",
        "no-extension",
    ],
)
def test_read_errors(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        _write(path, content)
    with pytest.raises(InputError, match=message):
        read_table(path)


@pytest.mark.parametrize("suffix", [".pkl", ".pickle"])
def test_pickle_is_refused_with_the_reason(
    tmp_path: Path, frame: pd.DataFrame, suffix: str
) -> None:
    path = tmp_path / f"table{suffix}"
    frame.to_pickle(path)
    with pytest.raises(InputError, match=r"pickle runs arbitrary code"):
        read_table(path)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "looks.csv"
    folder.mkdir()
    with pytest.raises(InputError, match=r"is not a file"):
        read_table(folder)


def test_errors_chain_the_parser_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.json", b"{not json")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert isinstance(caught.value.__cause__, ValueError)


def test_write_table_refuses_unknown_extension(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    with pytest.raises(InputError, match=r"unsupported extension '\.txt'"):
        write_table(frame, tmp_path / "table.txt")


@pytest.fixture(scope="module")
def demo() -> SyntheticCasinoData:
    return generate_casinos(n_casinos=2, start="2024-01-01", end="2024-05-31", seed=1)


@pytest.mark.parametrize("file_format", ["csv", "parquet", "json"])
def test_demo_files_round_trip(
    tmp_path: Path, demo: SyntheticCasinoData, file_format: str
) -> None:
    written = write_demo_files(demo, tmp_path / "demo", file_format=file_format)
    assert sorted(written) == ["causes", "daily", "segments", "tiers"]
    daily = read_table(written["daily"])
    original = demo.daily
    assert len(daily) == len(original)
    np.testing.assert_array_equal(
        to_cents(daily["coin_in"]), to_cents(original["coin_in"])
    )
    assert pd.to_datetime(daily["day"]).dt.normalize().equals(original["day"])
    segments = read_table(written["segments"])
    assert set(segments["denomination"].astype(str).unique()) >= {
        "0.01",
        "1.00",
        "multi",
    }
    assert len(read_table(written["causes"])) == len(demo.causes)


def test_demo_files_refuse_unknown_format(
    tmp_path: Path, demo: SyntheticCasinoData
) -> None:
    with pytest.raises(ParameterError, match=r"file_format='xlsx' is not supported"):
        write_demo_files(demo, tmp_path, file_format="xlsx")
