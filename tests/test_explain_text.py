"""The one-sentence summary built from the three results' to_dict() outputs."""

from __future__ import annotations

from typing import Any

import pytest

from analytics._explain_text import describe_change, explain_in_words

DATES = {"date_target": "2024-06-14", "date_base": "2024-06-07", "history_dates": []}


@pytest.mark.parametrize(
    ("pct", "delta", "expected"),
    [
        (-0.1234, -5.0, "coin_in fell 12.3%"),
        (0.05, 5.0, "coin_in rose 5.0%"),
        (0.0001, 1.0, "coin_in was flat"),
        (12.5, 1.0, "coin_in rose 1250%"),
        (None, 2.0, "coin_in rose from zero"),
        (float("nan"), -2.0, "coin_in fell from zero"),
        (None, 0.0, "coin_in did not change"),
    ],
    ids=["fall", "rise", "flat", "huge", "from-zero-up", "nan-down", "no-change"],
)
def test_describe_change(pct: float | None, delta: float, expected: str) -> None:
    assert describe_change("coin_in", pct, delta) == expected


def _metrics() -> dict[str, Any]:
    return {
        "module": "rank_metrics",
        "parameters": {"metric_col": "coin_in"},
        "dates": DATES,
        "kpi": {"metric": "coin_in", "pct_change": -0.123, "delta": -5.0e5},
        "rows": [
            {"metric": "hvac_kwh", "rank": 3, "score": -0.4, "pct_change": 0.9},
            {"metric": "visits", "rank": 1, "score": 9.0, "pct_change": -0.205},
            {"metric": "games_played", "rank": 2, "score": 7.0, "pct_change": -0.18},
        ],
    }


def _significance(significant: bool, z: float | None) -> dict[str, Any]:
    row = {"metric": "coin_in", "robust_z": z, "significant": significant}
    return {"rows": [row | {"reason": None if z is not None else "MAD is 0"}]}


def _segments(*shares: float) -> dict[str, Any]:
    names = ["player_tier=gold", "zone=patio&game_type=video_reels"]
    rows = [
        {"segment": n, "rank": i + 1, "share_of_change": s, "is_root_cause": True}
        for i, (n, s) in enumerate(zip(names, shares, strict=False))
    ]
    return {"rows": rows}


def test_full_sentence() -> None:
    sentence = explain_in_words(
        _metrics(), _significance(True, -4.14), _segments(0.61, 0.3)
    )
    assert sentence == (
        "coin_in fell 12.3% against last Friday, an unusual drop (robust z -4.1); "
        "it moved with: visits fell 20.5%, games_played fell 18.0%; on the floor "
        "it sits in player_tier=gold (61% of the change) and "
        "zone=patio & game_type=video_reels (30% of the change)."
    )


def test_ordinary_change_and_no_root_cause() -> None:
    sentence = explain_in_words(_metrics(), _significance(False, 1.24), {"rows": []})
    assert ", within the usual range (robust z +1.2);" in sentence
    assert sentence.endswith("no single part of the floor stands out.")


def test_undefined_z_says_why() -> None:
    sentence = explain_in_words(_metrics(), _significance(False, None))
    assert "with no history scale to judge it (MAD is 0)" in sentence


def test_segment_against_the_total() -> None:
    sentence = explain_in_words(_metrics(), _significance(False, 0.5), _segments(-0.8))
    assert "player_tier=gold (against the overall move)" in sentence


def test_base_other_than_a_week_before() -> None:
    metrics = _metrics() | {"dates": {**DATES, "date_base": "2024-06-01"}}
    assert " against 2024-06-01;" in explain_in_words(metrics, {"rows": []})


def test_kpi_name_falls_back_to_the_parameters() -> None:
    metrics = _metrics()
    metrics["kpi"] = {"pct_change": 0.02, "delta": 1.0}
    sentence = explain_in_words(metrics, _significance(False, 0.3))
    assert sentence.startswith(
        "coin_in rose 2.0% against last Friday, within the usual"
    )
