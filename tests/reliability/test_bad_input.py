"""Malformed input through every door: the core, the command line and HTTP.

One table of cases, each stating its expected outcome once: either a refusal (an
exception of the project naming the problem; exit code 2 and one ``error:`` line
on the command line; a 4xx answer whose ``detail`` names the problem over HTTP)
or an answer whose content is checked. A case may differ per door, e.g. a file
too large for the service's limit is refused over HTTP but read by the command
line. No case may produce a 500.

Data travels to the command line and the service as a file (CSV unless the case
says otherwise); the core door reads the same file through
:func:`analytics.io.files.read_table`, or takes the case's Python object
directly when the case is about Python types.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from numpy.testing import assert_allclose
from typer.testing import CliRunner

import analytics
from analytics.cli import app as cli_app
from analytics.errors import (
    ColumnError,
    DateError,
    DegenerateInputWarning,
    DuplicateKeyError,
    InputError,
    InsufficientHistoryError,
    ParameterError,
)
from analytics.io.files import read_table
from analytics.service import ServiceSettings, create_app

TARGET = "2019-07-17"  # a Wednesday
BASE = "2019-07-10"
FILE_LIMIT = 1024 * 1024  # the service's max_file_bytes in these tests
LONG_NAME = "m" * 5000

Data = pd.DataFrame | bytes | object


# ------------------------------------------------------------------ the data


def daily(weeks: int = 20, seed: int = 3) -> pd.DataFrame:
    """A clean wide daily table ending on TARGET: coin_in = games x avg_bet."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=TARGET, periods=7 * weeks, freq="D")
    games = np.round(3_000_000 * rng.normal(1.0, 0.03, len(days)))
    avg_bet = rng.normal(1.30, 0.02, len(days))
    return pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "coin_in": np.round(games * avg_bet, 2),
            "games_played": games,
            "avg_bet": avg_bet,
        }
    )


def segments(seed: int = 5) -> pd.DataFrame:
    """A clean long table: 15 days x 2 zones x 2 denominations, zone Z2 up on D."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=TARGET, periods=15, freq="D")
    rows = []
    for day in days:
        for zone in ("Z1", "Z2"):
            for denomination in ("0.01", "1.00"):
                value = 100_000 * rng.lognormal(0.0, 0.05)
                if day == days[-1] and zone == "Z2":
                    value *= 1.5
                games = round(value / 1.3)
                rows.append(
                    (day.strftime("%Y-%m-%d"), zone, denomination, value, games)
                )
    return pd.DataFrame(
        rows, columns=["day", "zone", "denomination", "coin_in", "games_played"]
    )


def _with(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    frame = frame.copy()
    if not isinstance(value, float | int):
        frame[column] = frame[column].astype(object)
    frame.loc[frame.index[row], column] = value
    return frame


def _dates_as(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    days = pd.to_datetime(frame["day"])
    return frame.assign(day=days.dt.strftime(fmt))


def _without_days(frame: pd.DataFrame, *days: str) -> pd.DataFrame:
    return frame.loc[~frame["day"].isin(days)].reset_index(drop=True)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _huge() -> bytes:
    # 77 years of days: about 1.7 MB, well over the service's file limit.
    frame = daily(weeks=4000)
    return _csv(frame)


def _dst_offsets() -> pd.DataFrame:
    # Local midnights written with their UTC offset: -05:00 in winter, -04:00 in
    # summer, as an export from a database in America/New_York would write them.
    frame = daily()
    local = pd.to_datetime(frame["day"]).dt.tz_localize("America/New_York")
    return frame.assign(day=local.map(lambda stamp: stamp.isoformat()))


def _offset(suffix: str) -> pd.DataFrame:
    frame = daily()
    return frame.assign(day=frame["day"] + suffix)


# -------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Refused:
    """The input is refused with ``error`` whose message matches ``match``."""

    error: type[Exception]
    match: str
    status: int = 422


@dataclass(frozen=True)
class Answered:
    """The input is answered; ``check`` inspects the JSON-ready answer."""

    check: Callable[[Mapping[str, Any]], None]
    warns: bool = False


Expect = Refused | Answered


@dataclass(frozen=True)
class Case:
    """One malformed input and its expected outcome per door."""

    data: Callable[[], Data]
    params: Mapping[str, Any]
    expect: Expect
    module: str = "rank_metrics"
    suffix: str = ".csv"
    doors: tuple[str, ...] = ("core", "cli", "http")
    per_door: Mapping[str, Expect] = field(default_factory=dict)

    def expected(self, door: str) -> Expect:
        return self.per_door.get(door, self.expect)


def metrics_call(**extra: Any) -> dict[str, Any]:
    return {"metric_col": "coin_in", "date_col": "day", "date_target": TARGET, **extra}


def segments_call(**extra: Any) -> dict[str, Any]:
    return {
        "metric_col": "coin_in",
        "date_col": "day",
        "date_target": TARGET,
        "dimensions": ["zone", "denomination"],
        **extra,
    }


# ------------------------------------------------------------ answer checks


def _ranked(answer: Mapping[str, Any]) -> set[str]:
    return {row["metric"] for row in answer["rows"] if row.get("rank") is not None}


def _dates_are_the_usual(answer: Mapping[str, Any]) -> None:
    assert answer["dates"]["date_target"] == TARGET
    assert answer["dates"]["date_base"] == BASE
    assert _ranked(answer) == {"games_played", "avg_bet"}


def _text_column_skipped(answer: Mapping[str, Any]) -> None:
    assert "not numeric" in answer["skipped"]["notes"]
    assert _ranked(answer) == {"games_played", "avg_bet"}


def _empty_column_skipped(answer: Mapping[str, Any]) -> None:
    assert "no value" in answer["skipped"]["empty"]
    assert _ranked(answer) == {"games_played", "avg_bet"}


def _text_metric_skipped(answer: Mapping[str, Any]) -> None:
    assert "not numeric" in answer["skipped"]["games_played"]
    assert _ranked(answer) == {"avg_bet"}


def _kpi_z_undefined(answer: Mapping[str, Any]) -> None:
    kpi = next(row for row in answer["rows"] if row["metric"] == "coin_in")
    assert kpi["robust_z"] is None
    assert kpi["reason"]


def _missing_at_target_skipped(answer: Mapping[str, Any]) -> None:
    assert "no value at the target date" in answer["skipped"]["games_played"]
    assert _ranked(answer) == {"avg_bet"}


def _history_has_gaps(answer: Mapping[str, Any]) -> None:
    history = answer["dates"]["history_dates"]
    assert len(history) == 10
    assert not {"2019-06-19", "2019-06-12", "2019-05-01"} & set(history)
    assert history[0] == BASE


def _pct_change_against_magnitude(answer: Mapping[str, Any]) -> None:
    # pct_change = delta / |value(B)|: a fall of a negative value stays negative.
    kpi = answer["kpi"]
    assert kpi["value_base"] < 0
    expected = (kpi["value_target"] - kpi["value_base"]) / abs(kpi["value_base"])
    assert_allclose(kpi["pct_change"], expected, rtol=1e-12)
    assert_allclose(kpi["delta"], kpi["value_target"] - kpi["value_base"], rtol=1e-12)


def _kpi_did_not_move(answer: Mapping[str, Any]) -> None:
    assert any("did not move" in note for note in answer["notes"])
    assert all(row["score"] in (0.0, None) for row in answer["rows"])


def _kpi_flat_in_history(answer: Mapping[str, Any]) -> None:
    assert any("constant over the history" in note for note in answer["notes"])


def _kpi_named(name: str) -> Callable[[Mapping[str, Any]], None]:
    def check(answer: Mapping[str, Any]) -> None:
        assert answer["kpi"]["metric"] == name
        assert answer["rows"]

    return check


def _metric_present(name: str) -> Callable[[Mapping[str, Any]], None]:
    def check(answer: Mapping[str, Any]) -> None:
        assert name in _ranked(answer)

    return check


def _segment_text_kept(text: str) -> Callable[[Mapping[str, Any]], None]:
    def check(answer: Mapping[str, Any]) -> None:
        members = {row["member"] for row in answer["breakdown"]}
        assert text in members
        segments_found = {row["segment"] for row in answer["rows"]}
        assert f"zone={text}" in segments_found

    return check


def _surprise_undefined_for_negatives(answer: Mapping[str, Any]) -> None:
    assert any("surprise is undefined" in note for note in answer["notes"])
    assert all(row["surprise"] is None for row in answer["breakdown"])
    total = sum(
        row["delta"] for row in answer["breakdown"] if row["dimension"] == "zone"
    )
    assert total < 0  # the loss grew


def _segments_flat(answer: Mapping[str, Any]) -> None:
    assert any("did not move" in note for note in answer["notes"])
    assert not any(row["is_root_cause"] for row in answer["rows"])


def _missing_member_named(answer: Mapping[str, Any]) -> None:
    members = {row["member"] for row in answer["breakdown"]}
    assert "(missing)" in members or "Z1" in members


def _significance_answered(answer: Mapping[str, Any]) -> None:
    kpi = next(row for row in answer["rows"] if row["metric"] == "coin_in")
    assert kpi["robust_z"] is not None


# ---------------------------------------------------------------- the table

CORE = ("core",)
CASES: dict[str, Case] = {
    # -- wrong types (Python callers only)
    "data-not-a-frame": Case(
        lambda: daily().to_dict("records"),
        metrics_call(),
        Refused(InputError, "expected a pandas DataFrame, got list"),
        doors=CORE,
    ),
    "date-target-a-list": Case(
        daily,
        metrics_call(date_target=[TARGET]),
        Refused(DateError, r"date_target=\['2019-07-17'\] is not a date"),
        doors=CORE,
    ),
    "history-weeks-text": Case(
        daily,
        metrics_call(history_weeks="13"),
        Refused(ParameterError, "history_weeks must be a whole number, got '13'"),
        doors=CORE,
    ),
    "dimensions-a-string": Case(
        segments,
        segments_call(dimensions="zone"),
        Refused(ParameterError, "dimensions must be a list of column names"),
        module="rank_segments",
        doors=CORE,
    ),
    "kpi-boolean": Case(
        lambda: daily().assign(coin_in=lambda f: f["coin_in"] > 3.9e6),
        metrics_call(),
        Refused(ColumnError, "KPI column 'coin_in' must be numeric, got dtype bool"),
    ),
    # -- wrong parameter values
    "unknown-method": Case(
        daily,
        metrics_call(method="magicranks"),
        Refused(ParameterError, "method='magicranks' is not known"),
    ),
    "history-weeks-zero": Case(
        daily,
        metrics_call(history_weeks=0),
        Refused(ParameterError, "history_weeks must be at least 1"),
        per_door={"http": Refused(Exception, "history_weeks: .*greater than")},
    ),
    "threshold-negative": Case(
        daily,
        metrics_call(threshold=-1.0),
        Refused(ParameterError, "threshold must be a positive"),
        module="assess_change",
        per_door={"http": Refused(Exception, "threshold: .*greater than 0")},
    ),
    "kpi-is-the-date-column": Case(
        daily,
        metrics_call(metric_col="day"),
        Refused(InputError, "'day'"),
    ),
    # -- missing and extra columns
    "kpi-column-missing": Case(
        lambda: daily().drop(columns="coin_in"),
        metrics_call(),
        Refused(ColumnError, "'coin_in' not in the data; available columns: day"),
    ),
    "date-column-missing": Case(
        lambda: daily().rename(columns={"day": "date"}),
        metrics_call(),
        Refused(ColumnError, "date column.*'day' not in the data"),
    ),
    "listed-metric-missing": Case(
        daily,
        metrics_call(metrics=["games_played", "weather"]),
        Refused(ColumnError, "'weather' not in the data"),
    ),
    "dimension-missing": Case(
        segments,
        segments_call(dimensions=["zone", "floor"]),
        Refused(ColumnError, "dimension column.*'floor' not in the data"),
        module="rank_segments",
    ),
    "extra-text-column": Case(
        lambda: daily().assign(notes="busy day"),
        metrics_call(),
        Answered(_text_column_skipped),
    ),
    "extra-empty-column": Case(
        lambda: daily().assign(empty=np.nan),
        metrics_call(),
        Answered(_empty_column_skipped),
    ),
    # A CSV cannot hold two columns of one name: pandas renames the second
    # 'coin_in.1', so files are answered (the copy ranks as a metric).
    "duplicate-column-names": Case(
        lambda: daily().set_axis(["day", "coin_in", "coin_in", "avg_bet"], axis=1),
        metrics_call(),
        Refused(ColumnError, r"column name\(s\) \['coin_in'\] appear more than once"),
        per_door={
            "cli": Answered(_metric_present("coin_in.1")),
            "http": Answered(_metric_present("coin_in.1")),
        },
    ),
    "semicolon-separated": Case(
        lambda: daily().to_csv(index=False, sep=";").encode(),
        metrics_call(),
        Refused(ColumnError, "'day' not in the data; available columns: day;coin_in"),
    ),
    # -- duplicate days
    "duplicate-day": Case(
        lambda: pd.concat([daily(), daily().tail(1)], ignore_index=True),
        metrics_call(),
        Refused(DuplicateKeyError, "2 rows share a date \\(first: '2019-07-17'\\)"),
    ),
    "same-day-two-spellings": Case(
        lambda: pd.concat(
            [daily(), daily().tail(1).assign(day=TARGET + " 00:00:00")],
            ignore_index=True,
        ),
        metrics_call(),
        Refused(DuplicateKeyError, "share a date"),
    ),
    "duplicate-segment-row": Case(
        lambda: pd.concat([segments(), segments().tail(1)], ignore_index=True),
        segments_call(),
        Refused(DuplicateKeyError, "2 rows share a date and segment"),
        module="rank_segments",
    ),
    # -- gaps around D or B
    "target-day-missing": Case(
        lambda: _without_days(daily(), TARGET),
        metrics_call(),
        Refused(DateError, "date_target='2019-07-17' is not in the data"),
    ),
    "base-day-missing": Case(
        lambda: _without_days(daily(), BASE),
        metrics_call(),
        Refused(DateError, "date_base='2019-07-10' is not in the data"),
    ),
    "base-after-target": Case(
        daily,
        metrics_call(date_base="2019-07-24"),
        Refused(DateError, "date_base='2019-07-24' must be before"),
    ),
    "gaps-in-history": Case(
        lambda: _without_days(daily(), "2019-06-19", "2019-06-12", "2019-05-01"),
        metrics_call(),
        Answered(_history_has_gaps),
    ),
    "too-little-history": Case(
        lambda: daily(weeks=4),
        metrics_call(),
        Refused(InsufficientHistoryError, "only 3 same-weekday date"),
    ),
    "single-day": Case(
        lambda: daily().tail(1),
        metrics_call(),
        Refused(DateError, "date_base='2019-07-10' is not in the data"),
    ),
    # -- NaN and infinities
    "kpi-empty-on-target": Case(
        lambda: _with(daily(), -1, "coin_in", np.nan),
        metrics_call(),
        Refused(ColumnError, "'coin_in' has no value \\(NaN\\) at date_target"),
    ),
    "kpi-empty-on-base": Case(
        lambda: _with(daily(), -8, "coin_in", np.nan),
        metrics_call(),
        Refused(ColumnError, "no value \\(NaN\\) at date_base='2019-07-10'"),
    ),
    "metric-empty-on-target": Case(
        lambda: _with(daily(), -1, "games_played", np.nan),
        metrics_call(),
        Answered(_missing_at_target_skipped),
    ),
    "kpi-infinite": Case(
        lambda: _with(daily(), -1, "coin_in", np.inf),
        metrics_call(),
        Refused(ColumnError, "'coin_in' hold infinite values"),
    ),
    "metric-minus-infinity": Case(
        lambda: _with(daily(), -8, "avg_bet", -np.inf),
        metrics_call(),
        Refused(ColumnError, "'avg_bet' hold infinite values"),
    ),
    "segment-measure-infinite": Case(
        lambda: _with(segments(), -1, "coin_in", np.inf),
        segments_call(),
        Refused(ColumnError, "'coin_in' holds infinite values"),
        module="rank_segments",
    ),
    "segment-measure-empty": Case(
        lambda: _with(segments(), -1, "coin_in", np.nan),
        segments_call(),
        Refused(ColumnError, "'coin_in' has 1 empty value"),
        module="rank_segments",
    ),
    # -- negative money
    "negative-kpi": Case(
        lambda: daily().assign(coin_in=lambda f: -f["coin_in"]),
        metrics_call(),
        Answered(_pct_change_against_magnitude),
    ),
    "negative-segment-values": Case(
        lambda: segments().assign(coin_in=lambda f: -f["coin_in"]),
        segments_call(),
        Answered(_surprise_undefined_for_negatives),
        module="rank_segments",
    ),
    "ratio-denominator-zero": Case(
        lambda: segments().assign(games_played=0),
        {
            **segments_call(metric_col="coin_per_game"),
            "numerator": "coin_in",
            "denominator": "games_played",
        },
        Refused(ColumnError, "denominator column 'games_played' sums to 0"),
        module="rank_segments",
    ),
    # -- text in numeric columns
    "kpi-thousands-separator": Case(
        lambda: _with(daily(), 3, "coin_in", "4,523,123.45"),
        metrics_call(),
        Refused(ColumnError, "KPI column 'coin_in' must be numeric"),
    ),
    "kpi-currency-sign": Case(
        lambda: daily().assign(coin_in=lambda f: "$" + f["coin_in"].astype(str)),
        metrics_call(),
        Refused(ColumnError, "KPI column 'coin_in' must be numeric"),
    ),
    "metric-with-text-cell": Case(
        lambda: _with(daily(), 3, "games_played", "lots"),
        metrics_call(),
        Answered(_text_metric_skipped),
    ),
    "segment-measure-text": Case(
        lambda: _with(segments(), 2, "coin_in", "n/a?"),
        segments_call(),
        Refused(ColumnError, "'coin_in' must be numeric"),
        module="rank_segments",
    ),
    # -- dates in odd formats and time zones
    "dates-us-format": Case(
        lambda: _dates_as(daily(), "%m/%d/%Y"),
        metrics_call(),
        Answered(_dates_are_the_usual),
    ),
    "dates-with-times": Case(
        lambda: daily().assign(day=lambda f: f["day"] + " 06:00:00"),
        metrics_call(),
        Answered(_dates_are_the_usual),
    ),
    "date-target-odd-format": Case(
        daily,
        metrics_call(date_target="07/17/2019"),
        Answered(_dates_are_the_usual),
    ),
    "dates-in-utc": Case(
        lambda: _offset("T00:00:00Z"),
        metrics_call(),
        Answered(_dates_are_the_usual),
    ),
    # Offsets are converted to UTC before the day is taken (docs/guarantees.md):
    # local midnights east of Greenwich fall on the day before, and the refusal
    # shows the shifted range.
    "dates-with-one-offset": Case(
        lambda: _offset("T00:00:00+02:00"),
        metrics_call(),
        Refused(DateError, "'2019-07-17' is not in the data.*to 2019-07-16"),
    ),
    "dates-with-dst-offsets": Case(
        _dst_offsets,
        metrics_call(),
        Refused(DateError, "date column 'day' holds values that are not dates"),
    ),
    "date-cell-not-a-date": Case(
        lambda: _with(daily(), 5, "day", "someday"),
        metrics_call(),
        Refused(DateError, "date column 'day' holds values that are not dates"),
    ),
    "date-cell-empty": Case(
        lambda: _with(daily(), 5, "day", None),
        metrics_call(),
        Refused(DateError, "date column 'day' has 1 empty value"),
    ),
    "dates-as-epoch-seconds": Case(
        lambda: daily().assign(day=lambda f: pd.to_datetime(f["day"]).astype("int64")),
        metrics_call(),
        Refused(DuplicateKeyError, "share a date \\(first: '1970-01-"),
    ),
    "date-target-impossible": Case(
        daily,
        metrics_call(date_target="2019-02-30"),
        Refused(DateError, "date_target='2019-02-30' is not a date"),
    ),
    # -- degenerate KPIs
    "kpi-never-moves": Case(
        lambda: daily().assign(coin_in=4_000_000.0),
        metrics_call(),
        Answered(_kpi_did_not_move, warns=True),
    ),
    "kpi-flat-in-history": Case(
        lambda: daily().assign(
            coin_in=lambda f: np.where(f["day"] == TARGET, 4_100_000.0, 4_000_000.0)
        ),
        metrics_call(),
        Answered(_kpi_flat_in_history, warns=True),
    ),
    "segments-never-move": Case(
        lambda: segments().assign(coin_in=1000.0),
        segments_call(),
        Answered(_segments_flat, warns=True),
        module="rank_segments",
    ),
    "significance-on-flat-kpi": Case(
        lambda: daily().assign(coin_in=4_000_000.0),
        metrics_call(),
        Answered(_kpi_z_undefined),
        module="assess_change",
    ),
    # -- files
    "empty-file": Case(
        lambda: b"",
        metrics_call(),
        Refused(InputError, "is empty \\(0 bytes\\)"),
    ),
    "header-only": Case(
        lambda: b"day,coin_in,games_played\n",
        metrics_call(),
        Refused(InputError, "holds no rows"),
    ),
    "huge-file": Case(
        _huge,
        metrics_call(),
        Answered(_dates_are_the_usual),
        per_door={"http": Refused(Exception, "limit is 1048576 bytes", status=413)},
    ),
    "latin-1-text": Case(
        lambda: (
            daily().assign(note="Großer Saal").to_csv(index=False).encode("latin-1")
        ),
        metrics_call(),
        Refused(InputError, "could not be read as CSV: 'utf-8' codec"),
    ),
    "utf-16-text": Case(
        lambda: daily().to_csv(index=False).encode("utf-16"),
        metrics_call(),
        Refused(InputError, "could not be read as CSV"),
    ),
    "utf-8-byte-order-mark": Case(
        lambda: daily().to_csv(index=False).encode("utf-8-sig"),
        metrics_call(),
        Answered(_dates_are_the_usual),
    ),
    "unterminated-quote": Case(
        lambda: b'day,coin_in\n"2019-07-17,1\n',
        metrics_call(),
        Refused(InputError, "could not be read as CSV"),
    ),
    "parquet-that-is-csv": Case(
        lambda: _csv(daily()),
        metrics_call(),
        Refused(InputError, "could not be read as Parquet"),
        suffix=".parquet",
    ),
    "json-scalar": Case(
        lambda: b"42",
        metrics_call(),
        Refused(InputError, "could not be read as JSON|holds no rows"),
        suffix=".json",
    ),
    "pickle-file": Case(
        lambda: b"\x80\x04K\x01.",
        metrics_call(),
        Refused(InputError, "pickle"),
        suffix=".pkl",
    ),
    # -- formula injection, long and unicode names
    "formula-in-kpi": Case(
        lambda: _with(daily(), 3, "coin_in", '=HYPERLINK("http://evil.example","x")'),
        metrics_call(),
        Refused(ColumnError, "KPI column 'coin_in' must be numeric"),
    ),
    # A formula-like member is plain text: kept as written, never evaluated; the
    # answers are JSON and tables (docs/guarantees.md on spreadsheet exports).
    "formula-in-dimension": Case(
        lambda: segments().replace({"zone": {"Z1": '=HYPERLINK("http://e.x","x")'}}),
        segments_call(),
        Answered(_segment_text_kept('=HYPERLINK("http://e.x","x")')),
        module="rank_segments",
    ),
    "very-long-metric-name": Case(
        lambda: daily().assign(**{LONG_NAME: lambda f: f["games_played"] * 2.0}),
        metrics_call(),
        Answered(_metric_present(LONG_NAME)),
    ),
    "very-long-kpi-name": Case(
        lambda: daily().rename(columns={"coin_in": "k" * 300}),
        metrics_call(metric_col="k" * 300),
        Answered(_kpi_named("k" * 300)),
        per_door={"http": Refused(Exception, "metric_col: .*at most 256")},
    ),
    "unicode-names": Case(
        lambda: daily().rename(
            columns={"coin_in": "Münzeinwurf_€", "games_played": "🎰_spins"}
        ),
        metrics_call(metric_col="Münzeinwurf_€"),
        Answered(_metric_present("🎰_spins")),
    ),
    "unicode-members": Case(
        lambda: segments().replace({"zone": {"Z2": "Großer Saal 大厅"}}),
        segments_call(),
        Answered(_segment_text_kept("Großer Saal 大厅")),
        module="rank_segments",
    ),
    "dimension-cell-empty": Case(
        lambda: _with(segments(), 0, "zone", None),
        segments_call(),
        Answered(_missing_member_named),
        module="rank_segments",
    ),
    "history-with-holes-in-a-metric": Case(
        lambda: _with(_with(daily(), -15, "avg_bet", np.nan), -22, "avg_bet", np.nan),
        metrics_call(),
        Answered(_significance_answered),
        module="assess_change",
    ),
}


def _params() -> Iterator[Any]:
    for name, case in CASES.items():
        for door in case.doors:
            yield pytest.param(case, door, id=f"{name}-{door}")


# ---------------------------------------------------------------- the doors


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


@pytest.fixture(scope="module")
def client(data_root: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(data_root=data_root, max_file_bytes=FILE_LIMIT)
    # raise_server_exceptions=False: a 500 must be seen as an answer.
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        yield http


def _file_for(case: Case, folder: Path, name: str) -> Path:
    data = case.data()
    path = folder / f"{name}{case.suffix}"
    path.write_bytes(data if isinstance(data, bytes) else _csv(data))  # type: ignore[arg-type]
    return path


def _json(answer: Mapping[str, Any]) -> dict[str, Any]:
    # What every door hands out: strict JSON, NaN as null.
    parsed: dict[str, Any] = json.loads(json.dumps(answer, default=str))
    return parsed


def _run_core(case: Case, folder: Path, name: str) -> dict[str, Any]:
    data = case.data()
    if isinstance(data, bytes):
        data = read_table(_file_for(case, folder, name))
    function = getattr(analytics, case.module)
    return _json(function(data, **case.params).to_dict())


def _cli_args(case: Case, path: Path) -> list[str]:
    args = [case.module.replace("_", "-"), str(path), "--format", "json"]
    for key, value in case.params.items():
        text = ",".join(value) if isinstance(value, list) else str(value)
        args += [f"--{key.replace('_', '-')}", text]
    return args


def check_core(case: Case, folder: Path, name: str) -> None:
    expect = case.expected("core")
    if isinstance(expect, Refused):
        with pytest.raises(expect.error, match=expect.match):
            _run_core(case, folder, name)
    elif expect.warns:
        with pytest.warns(DegenerateInputWarning):
            expect.check(_run_core(case, folder, name))
    else:
        expect.check(_run_core(case, folder, name))


def check_cli(case: Case, folder: Path, name: str) -> None:
    expect = case.expected("cli")
    path = _file_for(case, folder, name)
    with warnings.catch_warnings():
        # The command line turns warnings into 'note:' lines itself.
        warnings.simplefilter("ignore", DegenerateInputWarning)
        result = CliRunner().invoke(cli_app, _cli_args(case, path))
    if isinstance(expect, Refused):
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        assert re.search(expect.match, lines[0]), lines[0]
        assert not result.stdout.strip()
    else:
        assert result.exit_code == 0, result.output
        expect.check(json.loads(result.stdout))


def check_http(case: Case, client: TestClient, folder: Path, name: str) -> None:
    expect = case.expected("http")
    path = _file_for(case, folder, name)
    body = {"path": path.name, **case.params}
    response = client.post(f"/{case.module.replace('_', '-')}", json=body)
    assert response.status_code != 500, response.text
    if isinstance(expect, Refused):
        assert response.status_code == expect.status, response.text
        answer = response.json()
        assert set(answer) == {"error", "parameter", "detail"}
        assert re.search(expect.match, answer["detail"]), answer["detail"]
        assert str(folder) not in response.text  # server paths stay hidden
    else:
        assert response.status_code == 200, response.text
        expect.check(response.json())


def test_there_are_at_least_forty_distinct_cases() -> None:
    assert len(CASES) >= 40
    doors = [door for case in CASES.values() for door in case.doors]
    assert min(doors.count(door) for door in ("core", "cli", "http")) >= 40


@pytest.mark.parametrize(("case", "door"), list(_params()))
def test_malformed_input(
    case: Case,
    door: str,
    request: pytest.FixtureRequest,
    client: TestClient,
    tmp_path: Path,
    data_root: Path,
) -> None:
    name = re.sub(r"[^a-z0-9-]", "-", request.node.callspec.id.lower())
    if door == "core":
        check_core(case, tmp_path, name)
    elif door == "cli":
        check_cli(case, tmp_path, name)
    else:
        check_http(case, client, data_root, name)
