"""PNG charts drawn from explanation payloads."""

from __future__ import annotations

import io
from typing import Any

import matplotlib.image
import pytest

from analytics.service._charts import MAX_BARS, _waterfall_steps, render_png

DATES = {"date_target": "2019-07-17", "date_base": "2019-07-10"}

PAYLOADS: dict[str, dict[str, Any]] = {
    "metrics": {
        "module": "rank_metrics",
        "method": "bestranks",
        "dates": DATES,
        "kpi": {"metric": "coinIn", "delta": 100.0},
        "rows": [
            {"metric": "gamesPlayed", "score": 9.0, "norm_delta": 3.0},
            {"metric": "avgBet", "score": -1.0, "norm_delta": -0.3},
        ],
    },
    "significance": {
        "module": "assess_change",
        "parameters": {"threshold": 3.5},
        "dates": DATES,
        "rows": [
            {"metric": "coinIn", "robust_z": 5.2, "significant": True},
            {"metric": "flat", "robust_z": None, "significant": None},
        ],
    },
    "segments": {
        "module": "rank_segments",
        "dates": DATES,
        "rows": [
            {"segment": "zone=Z2", "share_of_change": 0.9, "is_root_cause": True},
            {"segment": "zone=Z1", "share_of_change": 0.1, "is_root_cause": False},
        ],
    },
    "empty": {"module": "rank_segments", "rows": []},
}


def _image(png: bytes) -> Any:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_each_module_draws_a_png(name: str) -> None:
    png = render_png(PAYLOADS[name])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _ = _image(png).shape
    assert width == 800
    assert height >= 160


def test_waterfall_is_drawn() -> None:
    png = render_png(PAYLOADS["metrics"], chart="waterfall")
    assert png.startswith(b"\x89PNG")


def test_waterfall_uses_contributions_and_closes_on_the_kpi_delta() -> None:
    payload = {
        "kpi": {"delta": 100.0},
        "rows": [
            {"metric": "gamesPlayed", "contribution": 80.0, "norm_delta": 3.0},
            {"metric": "weather", "contribution": None, "norm_delta": 2.0},
            {"metric": "avgBet", "contribution": 15.0, "norm_delta": 1.0},
        ],
    }
    steps, unit = _waterfall_steps(payload)
    assert steps == [
        ("gamesPlayed", 80.0),
        ("avgBet", 15.0),
        ("rest of the change", 5.0),
    ]
    assert "KPI units" in unit


def test_waterfall_without_contributions_uses_norm_delta() -> None:
    steps, unit = _waterfall_steps(PAYLOADS["metrics"])
    assert steps == [("gamesPlayed", 3.0), ("avgBet", -0.3)]
    assert "norm_delta" in unit


def test_bars_are_capped() -> None:
    rows = [{"metric": f"m{i}", "score": float(i)} for i in range(3 * MAX_BARS)]
    few = render_png({"module": "rank_metrics", "rows": rows[:MAX_BARS]})
    many = render_png({"module": "rank_metrics", "rows": rows})
    assert _image(few).shape == _image(many).shape


def test_unknown_module_is_refused() -> None:
    with pytest.raises(ValueError, match="no chart for module 'other'"):
        render_png({"module": "other", "rows": []})
