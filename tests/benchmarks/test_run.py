"""Smoke test of the benchmark runner on tiny sizes (no timings are asserted)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks import run, scenarios
from benchmarks.data import wide_frame


def test_notebook_baseline_ranks_like_bestranks() -> None:
    import analytics

    frame = wide_frame(n_metrics=8, start="2024-01-01", end="2024-06-30", seed=3)
    ours = analytics.rank_metrics(
        frame,
        metric_col="coin_in",
        date_col="day",
        date_target="2024-06-19",
        method="bestranks",
    ).table
    theirs = scenarios.notebook_rank(frame, kpi="coin_in", day="2024-06-19")
    assert list(ours["metric"]) == list(theirs.index)
    pd.testing.assert_series_equal(
        ours["score"].reset_index(drop=True),
        theirs["score"].reset_index(drop=True),
        check_names=False,
        rtol=1e-9,
    )


def test_wide_frame_has_the_asked_shape() -> None:
    frame = wide_frame(n_metrics=5, start="2024-01-01", end="2024-01-31", seed=1)
    assert frame.shape == (31, 7)
    assert (frame.drop(columns="day") > 0).all().all()


def test_runner_writes_a_table_for_one_quick_scenario(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    status = run.main(["--quick", "--only", "explain_one", "--output", str(output)])
    assert status == 0
    text = output.read_text()
    assert "| 1 one explanation | rank_metrics bestranks, median |" in text
    assert "logical cores" in text
    assert "Load average" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "yes"),
        (False, "NO"),
        (12345.6, "12,346"),
        (0.01234, "0.0123"),
    ],
    ids=["none", "true", "false", "large", "small"],
)
def test_cells_are_formatted_for_reading(value: object, expected: str) -> None:
    assert run._cell(value) == expected
