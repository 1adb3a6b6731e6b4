"""The synthetic casino generator: exact sums, determinism, magnitudes, causes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics.errors import InputError, ParameterError
from analytics.synthetic.casino import (
    ADDITIVE_MEASURES,
    CAUSE_KINDS,
    DEFAULT_DIMENSIONS,
    MONEY_MEASURES,
    PLAYER_COUNTS,
    SyntheticCasinoData,
    generate_casinos,
    to_cents,
)

KEYS = ["casino_id", "day"]


@pytest.fixture(scope="module")
def data() -> SyntheticCasinoData:
    return generate_casinos(n_casinos=2, start="2024-01-01", end="2024-12-31", seed=7)


@pytest.fixture(scope="module")
def quiet() -> SyntheticCasinoData:
    """No planted causes: the natural variation only."""
    return generate_casinos(
        n_casinos=3, start="2024-01-01", end="2024-12-31", causes=False
    )


def _cents(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column]
    return to_cents(values) if column in MONEY_MEASURES else values.to_numpy()


# ---------------------------------------------------------------- consistency


@pytest.mark.parametrize("measure", ADDITIVE_MEASURES)
def test_daily_is_the_exact_sum_of_segments(
    data: SyntheticCasinoData, measure: str
) -> None:
    assert data.segments is not None
    leaves = data.segments.assign(value=_cents(data.segments, measure))
    summed = leaves.groupby(KEYS, sort=True)["value"].sum()
    daily = data.daily.set_index(KEYS).sort_index()
    assert summed.index.equals(daily.index)
    np.testing.assert_array_equal(summed.to_numpy(), _cents(daily, measure))


@pytest.mark.parametrize("table", ["daily", "segments"])
def test_money_identities_hold_exactly_in_cents(
    data: SyntheticCasinoData, table: str
) -> None:
    frame = getattr(data, table)
    cents = {m: to_cents(frame[m]) for m in MONEY_MEASURES}
    np.testing.assert_array_equal(
        cents["coin_in"], cents["coin_in_carded"] + cents["coin_in_uncarded"]
    )
    np.testing.assert_array_equal(
        cents["actual_win"], cents["coin_in"] - cents["coin_out"] - cents["jackpots"]
    )


@pytest.mark.parametrize("table", ["daily", "segments"])
def test_money_is_whole_cents_and_counts_are_integers(
    data: SyntheticCasinoData, table: str
) -> None:
    frame = getattr(data, table)
    for money in MONEY_MEASURES:
        np.testing.assert_array_equal(to_cents(frame[money]) / 100.0, frame[money])
    for count in ("games_played", "minutes_played", "unit_days"):
        assert frame[count].dtype == np.int64
    assert (frame[["coin_in", "coin_out", "jackpots", "games_played"]] >= 0).all().all()


def test_ratios_are_recomputed_from_the_sums(data: SyntheticCasinoData) -> None:
    d = data.daily
    assert_allclose(d["avg_bet"], d["coin_in"] / d["games_played"], rtol=1e-12)
    assert_allclose(d["hold_pct"], d["actual_win"] / d["coin_in"], rtol=1e-12)
    assert_allclose(d["theo_hold"], d["theo_win"] / d["coin_in"], rtol=1e-12)
    assert_allclose(d["wpupd"], d["actual_win"] / d["unit_days"], rtol=1e-12)
    assert_allclose(
        d["occupancy"], d["minutes_played"] / (d["unit_days"] * 1440), rtol=1e-12
    )
    assert_allclose(d["carded_share"], d["coin_in_carded"] / d["coin_in"], rtol=1e-12)


def test_player_counts_live_at_tier_grain(data: SyntheticCasinoData) -> None:
    assert data.segments is not None
    assert not set(PLAYER_COUNTS) & set(data.segments.columns)
    summed = data.tiers.groupby(KEYS, sort=True)[list(PLAYER_COUNTS)].sum()
    daily = data.daily.set_index(KEYS).sort_index()[list(PLAYER_COUNTS)]
    pd.testing.assert_frame_equal(summed, daily, check_dtype=False)
    assert (data.tiers["rated_player_days"] <= data.tiers["visits"]).all()
    uncarded = data.tiers["player_tier"] == "uncarded"
    assert (data.tiers.loc[uncarded, "rated_player_days"] == 0).all()


def test_one_row_per_casino_day_and_leaf(data: SyntheticCasinoData) -> None:
    assert data.segments is not None
    assert not data.daily.duplicated(KEYS).any()
    leaf = [*KEYS, *data.dimensions]
    assert not data.segments.duplicated(leaf).any()
    per_day = data.segments.groupby(KEYS).size()
    assert per_day.nunique() == 1  # the same leaves every day
    assert 200 <= per_day.iloc[0] <= 840


def test_segment_and_cause_columns(data: SyntheticCasinoData) -> None:
    assert data.segments is not None
    assert data.dimensions == ("zone", "denomination", "game_type", "player_tier")
    for dim in data.dimensions:
        assert set(data.segments[dim].unique()) <= set(DEFAULT_DIMENSIONS[dim])
    assert "multi" in set(data.segments["denomination"].unique())
    assert {"temperature_f", "hvac_kwh"} <= set(data.daily.columns)
    assert list(data.causes.columns) == [
        "casino_id",
        "day",
        "kind",
        "root_metric",
        "driver_metric",
        "root_segments",
        "magnitude",
        "detail",
    ]


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_data() -> None:
    first = generate_casinos(n_casinos=1, end="2024-05-31", seed=3)
    second = generate_casinos(n_casinos=1, end="2024-05-31", seed=3)
    for table in ("daily", "segments", "tiers", "causes"):
        pd.testing.assert_frame_equal(getattr(first, table), getattr(second, table))


def test_different_seed_gives_different_data() -> None:
    first = generate_casinos(n_casinos=1, end="2024-05-31", seed=3)
    second = generate_casinos(n_casinos=1, end="2024-05-31", seed=4)
    assert not np.array_equal(first.daily["coin_in"], second.daily["coin_in"])


def test_a_casino_does_not_depend_on_how_many_are_generated() -> None:
    one = generate_casinos(n_casinos=1, end="2024-05-31", seed=5)
    three = generate_casinos(n_casinos=3, end="2024-05-31", seed=5)
    pd.testing.assert_frame_equal(
        one.daily, three.daily_for("C01").assign(casino_id="C01")[one.daily.columns]
    )


def test_skipping_segments_leaves_daily_unchanged() -> None:
    full = generate_casinos(n_casinos=2, end="2024-05-31", seed=9)
    lean = generate_casinos(
        n_casinos=2, end="2024-05-31", seed=9, include_segments=False
    )
    assert lean.segments is None
    pd.testing.assert_frame_equal(full.daily, lean.daily)
    pd.testing.assert_frame_equal(full.causes, lean.causes)


# ----------------------------------------------------------------- magnitudes


def test_floor_size_and_productivity_in_domain_ranges(
    quiet: SyntheticCasinoData,
) -> None:
    d = quiet.daily
    units = d.groupby("casino_id")["unit_days"].first()
    assert units.between(900, 2200).all()
    per_unit = (d["coin_in"] / d["unit_days"]).groupby(d["casino_id"]).mean()
    assert per_unit.between(2700, 3300).all(), per_unit
    means = d.groupby("casino_id")[
        ["avg_bet", "theo_hold", "wpupd", "occupancy", "carded_share"]
    ].mean()
    assert means["avg_bet"].between(1.0, 1.6).all()
    assert means["theo_hold"].between(0.07, 0.095).all()
    assert means["wpupd"].between(200, 300).all()
    assert means["occupancy"].between(0.15, 0.30).all()
    assert means["carded_share"].between(0.60, 0.75).all()


def test_day_of_week_pattern(quiet: SyntheticCasinoData) -> None:
    d = quiet.daily
    by_weekday = d.groupby(d["day"].dt.day_of_week)["coin_in"].mean()
    relative = by_weekday / by_weekday.mean()
    expected = np.array([0.85, 0.86, 0.90, 0.95, 1.18, 1.38, 1.05])
    assert_allclose(relative.to_numpy(), expected / expected.mean(), atol=0.04)


def test_same_weekday_changes_are_of_ordinary_size(quiet: SyntheticCasinoData) -> None:
    changes = []
    for _, one in quiet.daily.groupby("casino_id"):
        coin_in = one.set_index("day")["coin_in"]
        changes.append((coin_in / coin_in.shift(7) - 1).abs().dropna())
    change = pd.concat(changes)
    assert 0.03 <= change.median() <= 0.09
    assert 0.09 <= change.quantile(0.9) <= 0.20


def test_hold_by_denomination(quiet: SyntheticCasinoData) -> None:
    assert quiet.segments is not None
    sums = quiet.segments.groupby("denomination")[["theo_win", "coin_in"]].sum()
    hold = sums["theo_win"] / sums["coin_in"]
    assert 0.09 <= hold["0.01"] <= 0.11
    assert 0.04 <= hold["5.00"] <= 0.06
    assert 0.04 <= hold["25.00"] <= 0.06


def test_luck_follows_the_per_spin_formula(quiet: SyntheticCasinoData) -> None:
    assert quiet.segments is not None
    leaves = quiet.segments.loc[quiet.segments["games_played"] > 0]
    spin_scale = leaves["coin_in"] ** 2 / leaves["games_played"]
    scale = 6.8 * np.sqrt(
        spin_scale.groupby([leaves["casino_id"], leaves["day"]]).sum()
    )
    daily = quiet.daily.set_index(KEYS)
    z = (daily["actual_win"] - daily["theo_win"]) / scale
    robust_sd = 1.4826 * np.median(np.abs(z - np.median(z)))
    assert 0.85 <= robust_sd <= 1.3
    # Jackpots give the win a heavy lower tail.
    assert z.min() < -3.5


# --------------------------------------------------------------------- causes


def test_causes_are_spaced_and_after_the_warm_up(data: SyntheticCasinoData) -> None:
    for _, causes in data.causes.groupby("casino_id"):
        gaps = causes["day"].diff().dt.days.dropna()
        assert (gaps >= 14).all()
        assert (
            causes["day"] >= pd.Timestamp("2024-01-01") + pd.Timedelta(days=98)
        ).all()
    assert set(data.causes["kind"]) == set(CAUSE_KINDS)


def test_no_causes_or_chosen_kinds() -> None:
    none = generate_casinos(n_casinos=1, end="2024-08-31", causes=False)
    assert none.causes.empty
    assert list(none.causes.columns)[:3] == ["casino_id", "day", "kind"]
    weather = generate_casinos(n_casinos=1, end="2024-08-31", causes=["bad_weather"])
    assert set(weather.causes["kind"]) == {"bad_weather"}


def _segment_rows(segments: pd.DataFrame, root: str) -> pd.Series:
    """Rows of the leaves inside any of the ';'-joined segments (all rows if '')."""
    inside = pd.Series(root == "", index=segments.index)
    for segment in filter(None, root.split(";")):
        match = pd.Series(True, index=segments.index)
        for part in segment.split("&"):
            dim, _, member = part.partition("=")
            match &= segments[dim] == member
        inside |= match
    return inside


def _ratio(frame: pd.DataFrame, column: str, day: pd.Timestamp) -> float:
    at = frame.groupby("day")[column].sum()
    return float(at[day] / at[day - pd.Timedelta(days=7)])


@pytest.mark.parametrize("seed", [7, 11], ids=["seed7", "seed11"])
def test_planted_causes_are_visible(seed: int) -> None:
    data = generate_casinos(n_casinos=2, end="2024-12-31", seed=seed)
    assert data.segments is not None
    for cause in data.causes.itertuples():
        leaves = data.segments.loc[data.segments["casino_id"] == cause.casino_id]
        root = leaves.loc[_segment_rows(leaves, cause.root_segments)]
        day = cause.day
        if cause.kind == "free_play_promotion":
            assert _ratio(root, "free_play", day) > 2.0
            assert _ratio(root, "coin_in", day) > 1.1
        elif cause.kind == "machines_down":
            assert_allclose(
                _ratio(root, "unit_days", day), 1 + cause.magnitude, atol=0.02
            )
        elif cause.kind == "big_jackpot":
            at = root.groupby("day")[["jackpots", "actual_win"]].sum().loc[day]
            assert at["jackpots"] >= 60_000
            assert at["actual_win"] < 0
        elif cause.kind == "bad_weather":
            tiers = data.tiers.loc[data.tiers["casino_id"] == cause.casino_id]
            assert _ratio(tiers, "visits", day) < 0.9
            assert _ratio(root, "coin_in", day) < 0.95
        elif cause.kind == "new_game_install":
            assert _ratio(root, "unit_days", day) > 1.2
            assert _ratio(root, "coin_in", day) > 1.5
        else:  # high roller
            assert _ratio(root, "coin_in", day) > 2.5
            bet = _ratio(root, "coin_in", day) / _ratio(root, "games_played", day)
            assert bet > 1.5


# ------------------------------------------------------------------ accessors


def test_one_casino_accessors(data: SyntheticCasinoData) -> None:
    daily = data.daily_for("C02")
    assert "casino_id" not in daily.columns
    assert len(daily) == 366
    assert data.casino_ids == ["C01", "C02"]
    with pytest.raises(ParameterError, match=r"casino_id='C09' is not in the data"):
        data.segments_for("C09")
    lean = generate_casinos(n_casinos=1, end="2024-02-29", include_segments=False)
    with pytest.raises(ParameterError, match="include_segments=True"):
        lean.segments_for("C01")


def test_custom_dimensions() -> None:
    dims = {
        "zone": ["floor", "high_limit"],
        "denomination": ["0.01", "1.00", "5.00"],
        "game_type": ["video_reels", "mechanical_reels"],
        "player_tier": ["uncarded", "club", "elite"],
    }
    data = generate_casinos(n_casinos=1, end="2024-06-30", dimensions=dims)
    assert data.segments is not None
    for dim, members in dims.items():
        assert set(data.segments[dim].unique()) <= set(members)
    summed = data.segments.groupby("day")["coin_in"].sum()
    assert_allclose(summed.to_numpy(), data.daily["coin_in"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_casinos": 0}, r"n_casinos must be at least 1, got 0"),
        ({"n_casinos": True}, r"n_casinos must be a whole number, got True"),
        ({"start": "2024-05-01", "end": "2024-04-01"}, r"end='2024-04-01' is before"),
        ({"start": "someday"}, r"start='someday' is not a date"),
        ({"causes": ["alien_landing"]}, r"unknown kind\(s\) \['alien_landing'\]"),
        ({"dimensions": {"zone": ["a", "b"]}}, r"dimensions must map exactly"),
        (
            {"dimensions": {**DEFAULT_DIMENSIONS, "denomination": ["0.01", "0.02"]}},
            r"unknown member\(s\) \['0.02'\]",
        ),
        (
            {"dimensions": {**DEFAULT_DIMENSIONS, "zone": ["only"]}},
            r"needs at least 2 distinct members",
        ),
    ],
    ids=[
        "zero-casinos",
        "bool-count",
        "end-before-start",
        "bad-date",
        "bad-kind",
        "missing-dims",
        "bad-denomination",
        "one-zone",
    ],
)
def test_bad_parameters_are_refused(options: dict[str, object], message: str) -> None:
    # A bad date is a DateError, the others ParameterError: both are InputErrors.
    with pytest.raises(InputError, match=message):
        generate_casinos(**options)  # type: ignore[arg-type]


def test_many_casinos_without_segments_have_full_daily_rows() -> None:
    big = generate_casinos(
        n_casinos=20, start="2024-01-01", end="2024-12-31", include_segments=False
    )
    assert len(big.daily) == 20 * 366
    assert big.daily["casino_id"].nunique() == 20
