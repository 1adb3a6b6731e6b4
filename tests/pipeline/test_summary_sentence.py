"""The daily summary's plain-English sentence (analytics.pipeline.compute)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from analytics.pipeline.compute import summary_sentence

FRIDAY, BASE = dt.date(2019, 7, 19), dt.date(2019, 7, 12)
DROP = {"delta": -5.0e5, "pct_change": -0.123, "significant": True}


def _sentence(root: dict[str, Any] | None, **change: Any) -> str:
    return summary_sentence(
        kpi="coin_in",
        date_target=FRIDAY,
        date_base=BASE,
        change={**DROP, **change},
        top_metrics=[{"metric": "avg_bet", "delta": -0.2, "pct_change": -0.18}],
        root=root,
    )


def test_full_sentence() -> None:
    assert _sentence({"segment": "zone=Z2", "share_of_change": 0.62}) == (
        "coin_in fell 12.3% against the previous Friday (2019-07-12), an unusual "
        "drop; most moved with it: avg_bet (down 18.0%); largest root cause: "
        "zone=Z2 (62% of the change)."
    )


@pytest.mark.parametrize(
    ("share", "phrase"),
    [
        pytest.param(
            0.07,
            "no single part of the floor stands out (the largest root cause, "
            "zone=Z2, holds 7% of the change).",
            id="small-share",
        ),
        pytest.param(
            -0.3, "largest root cause: zone=Z2 (against the overall move).", id="neg"
        ),
        pytest.param(float("nan"), "largest root cause: zone=Z2.", id="unknown"),
        pytest.param(0.2, "largest root cause: zone=Z2 (20% of the change).", id="20"),
    ],
)
def test_root_phrase(share: float, phrase: str) -> None:
    assert _sentence({"segment": "zone=Z2", "share_of_change": share}).endswith(phrase)


def test_no_root_and_no_change() -> None:
    sentence = _sentence(None, delta=0.0)
    assert sentence.startswith("coin_in did not change against the previous Friday")
    assert "root cause" not in sentence


def test_ordinary_rise() -> None:
    sentence = _sentence(None, delta=1.0e5, pct_change=0.05, significant=False)
    assert sentence.startswith("coin_in rose 5.0% against the previous Friday")
    assert "within its usual range" in sentence
