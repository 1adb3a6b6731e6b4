"""Tests of rank_segments, the leaf-level localizer and its evaluation."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import analytics
from analytics._segments import (
    _member_sums,
    localize_root_causes,
    rank_segments,
    ratio_leaf_values,
    surprise_terms,
)
from analytics._segments_search import (
    NoiseModel,
    _Lattice,
    _merge_siblings,
    find_segments,
)
from analytics.errors import (
    ColumnError,
    DateError,
    DegenerateInputWarning,
    DuplicateKeyError,
    InputError,
    ParameterError,
)
from analytics.evaluation.segments import (
    count_matches,
    evaluate_segments,
    f1_score,
    localize_case,
    summarize,
)
from analytics.synthetic.cube import generate_cube_case

BASE, TARGET = "2019-07-10", "2019-07-17"


def _tiny_cube() -> pd.DataFrame:
    """Two zones x two denominations; zone Z2 halves on the target day."""
    return pd.DataFrame(
        {
            "day": [BASE] * 4 + [TARGET] * 4,
            "zone": ["Z1", "Z1", "Z2", "Z2"] * 2,
            "denomination": ["0.01", "1.00"] * 4,
            "coin_in": [100.0, 200.0, 300.0, 400.0, 100.0, 200.0, 150.0, 200.0],
        }
    )


def _js_term(p: float, q: float) -> float:
    middle = (p + q) / 2
    left = p * math.log2(p / middle) if p > 0 else 0.0
    right = q * math.log2(q / middle) if q > 0 else 0.0
    return 0.5 * (left + right)


def _floor(seed: int, *, moved: dict[str, float] | None = None) -> pd.DataFrame:
    """A long table: 4 zones x 3 denominations x 5 game types, two days."""
    rng = np.random.default_rng(seed)
    leaves = pd.MultiIndex.from_product(
        [
            ["Z1", "Z2", "Z3", "Z4"],
            ["0.01", "0.25", "1.00"],
            [f"G{i}" for i in range(5)],
        ],
        names=["zone", "denomination", "game_type"],
    ).to_frame(index=False)
    base = rng.lognormal(8.0, 1.0, len(leaves))
    target = base * (1.0 + rng.normal(0.0, 0.01, len(leaves)))
    for zone, factor in (moved or {}).items():
        target[(leaves["zone"] == zone).to_numpy()] *= factor
    return pd.concat(
        [
            leaves.assign(day=BASE, coin_in=base, games_played=base / 1.3),
            leaves.assign(day=TARGET, coin_in=target, games_played=target / 1.3),
        ],
        ignore_index=True,
    )


class TestBreakdown:
    def test_values_and_shares_by_hand(self) -> None:
        result = rank_segments(
            _tiny_cube(),
            "coin_in",
            dimensions=["zone", "denomination"],
            date_target=TARGET,
        )
        table = result.breakdown.set_index(["dimension", "member"])
        assert_allclose(table["value_base"], [300.0, 700.0, 400.0, 600.0])
        assert_allclose(table["value_target"], [300.0, 350.0, 250.0, 400.0])
        assert_allclose(table["delta"], [0.0, -350.0, -150.0, -200.0])
        assert_allclose(table["share_of_change"], [0.0, 1.0, 150 / 350, 200 / 350])
        assert result.kpi["delta"] == -350.0
        assert_allclose(result.kpi["pct_change"], -0.35)

    def test_surprise_by_hand(self) -> None:
        result = rank_segments(
            _tiny_cube(),
            "coin_in",
            dimensions=["zone", "denomination"],
            date_target=TARGET,
        )
        expected = [
            _js_term(300 / 1000, 300 / 650),
            _js_term(700 / 1000, 350 / 650),
            _js_term(400 / 1000, 250 / 650),
            _js_term(600 / 1000, 400 / 650),
        ]
        assert_allclose(result.breakdown["surprise"], expected)

    def test_surprise_terms_in_bits(self) -> None:
        # p = (1/2, 1/2), q = (1, 0): the middle is (3/4, 1/4).
        terms = surprise_terms(np.array([50.0, 50.0]), np.array([100.0, 0.0]))
        first = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 1.0 * math.log2(1.0 / 0.75))
        assert_allclose(terms, [first, 0.25])

    def test_surprise_undefined_for_negative_values(self) -> None:
        terms = surprise_terms(np.array([-5.0, 10.0]), np.array([3.0, 4.0]))
        assert np.isnan(terms).all()

    def test_leaf_missing_on_one_day_counts_as_zero(self) -> None:
        frame = _tiny_cube().iloc[:-1]  # Z2 / 1.00 absent on the target day
        result = rank_segments(
            frame, "coin_in", dimensions=["zone", "denomination"], date_target=TARGET
        )
        row = result.breakdown.set_index(["dimension", "member"]).loc[("zone", "Z2")]
        assert row["value_target"] == 150.0
        assert row["delta"] == -550.0


class TestRootCauses:
    def test_finds_the_zone_that_moved(self) -> None:
        result = rank_segments(
            _floor(1, moved={"Z3": 0.6}),
            "coin_in",
            dimensions=["zone", "denomination", "game_type"],
            date_target=TARGET,
        )
        assert result.root_causes == ("zone=Z3",)
        first = result.table.iloc[0]
        assert first["rank"] == 1
        assert bool(first["is_root_cause"])
        assert first["share_of_change"] > 0.9
        assert list(result.table.columns) == [
            "segment",
            "depth",
            "value_base",
            "value_target",
            "delta",
            "share_of_change",
            "score",
            "rank",
            "is_root_cause",
        ]

    def test_segment_parts_follow_the_order_of_dimensions(self) -> None:
        frame = _floor(2)
        target = (frame["day"] == TARGET) & (frame["zone"] == "Z2")
        frame.loc[target & (frame["denomination"] == "1.00"), "coin_in"] *= 0.3
        result = rank_segments(
            frame,
            "coin_in",
            dimensions=["denomination", "game_type", "zone"],
            date_target=TARGET,
        )
        assert result.root_causes == ("denomination=1.00&zone=Z2",)
        assert result.table.iloc[0]["depth"] == 2

    def test_quiet_floor_has_no_root_cause(self) -> None:
        result = rank_segments(
            _floor(3),
            "coin_in",
            dimensions=["zone", "denomination", "game_type"],
            date_target=TARGET,
        )
        assert result.root_causes == ()
        assert any("no segment stands out" in note for note in result.notes)

    def test_localizer_on_a_generated_case(self) -> None:
        case = generate_cube_case(21, n_leaves=6000, n_root_causes=2, depth=2)
        found = localize_root_causes(case.leaves, list(case.dimensions))
        assert set(found.root_causes) == set(case.root_causes)
        assert_allclose(found.noise_scale, case.noise_level, rtol=0.3, atol=2e-3)

    def test_localizer_default_dimensions(self) -> None:
        case = generate_cube_case(22, n_leaves=3000, n_root_causes=1, depth=1)
        found = localize_root_causes(case.leaves, max_depth=2)
        assert found.root_causes == case.root_causes


def _mixed_floor(seed: int) -> pd.DataFrame:
    """10 x 10 x 10 leaves: c=c0 tiny (volume about 1, 50 % noise), the rest
    large (about 1000, 2 % noise); b=b3 falls by 30 %."""
    rng = np.random.default_rng(seed)
    leaves = pd.MultiIndex.from_product(
        [[f"{name}{i}" for i in range(10)] for name in "abc"], names=list("abc")
    ).to_frame(index=False)
    tiny = (leaves["c"] == "c0").to_numpy()
    predict = np.where(tiny, 1.0, 1000.0) * rng.uniform(0.8, 1.2, len(leaves))
    noise = rng.normal(0.0, 1.0, len(leaves)) * np.where(tiny, 0.5, 0.02)
    real = np.maximum(predict * (1.0 + noise), 0.0)
    real[(leaves["b"] == "b3").to_numpy()] *= 0.7
    return leaves.assign(real=real, predict=predict)


class TestNoiseAndShare:
    @pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
    def test_size_aware_ignores_noisy_tiny_leaves(self, seed: int) -> None:
        found = localize_root_causes(_mixed_floor(seed), min_share=0.0)
        assert found.root_causes == ("b=b3",)

    @pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
    def test_one_noise_level_reports_tiny_leaves(self, seed: int) -> None:
        found = localize_root_causes(
            _mixed_floor(seed), min_share=0.0, size_aware=False
        )
        assert any(segment.endswith("c=c0") for segment in found.root_causes)

    def test_min_share_drops_an_immaterial_segment(self) -> None:
        leaves = _mixed_floor(0)
        moved = ((leaves["a"] == "a1") & (leaves["b"] == "b5")).to_numpy()
        # 9 large leaves (and a tiny one) rise 10 %: about 900 of a change near
        # 28,000, so a share near 3 %.
        leaves.loc[moved, "real"] = leaves.loc[moved, "predict"] * 1.1
        kept = localize_root_causes(leaves, min_share=0.0).root_causes
        assert set(kept) == {"b=b3", "a=a1&b=b5"}
        assert localize_root_causes(leaves, min_share=0.05).root_causes == ("b=b3",)

    def test_noise_model_interpolates_in_log_log(self) -> None:
        model = NoiseModel(
            volumes=(1.0, 100.0), variances=(0.25, 0.0025), reference_volume=10.0
        )
        # Halfway in log volume is halfway in log variance: 0.025 at 10.
        assert_allclose(
            model.variance(np.array([0.5, 1.0, 10.0, 100.0, 1e4, 0.0])),
            [0.25, 0.25, 0.025, 0.0025, 0.0025, 0.25],
        )
        assert_allclose(model.scale, math.sqrt(0.025))

    def test_noise_model_with_one_band(self) -> None:
        model = NoiseModel(volumes=(5.0,), variances=(0.01,), reference_volume=5.0)
        assert_allclose(model.variance(np.array([1.0, 1e6])), [0.01, 0.01])

    def test_noise_scale_of_a_standard_case(self) -> None:
        case = generate_cube_case(31, n_leaves=8000, noise_level=0.15, n_root_causes=1)
        found = localize_root_causes(case.leaves, list(case.dimensions))
        # noise_scale is the relative noise of a leaf of median size.
        assert_allclose(found.noise_scale, 0.15, rtol=0.2)

    def test_rank_segments_passes_min_share(self) -> None:
        result = rank_segments(
            _floor(1, moved={"Z3": 0.6}),
            "coin_in",
            dimensions=["zone", "denomination", "game_type"],
            date_target=TARGET,
            min_share=0.2,
        )
        assert result.parameters["min_share"] == 0.2
        assert result.root_causes == ("zone=Z3",)

    @pytest.mark.parametrize(
        "value", [-0.1, 1.0, "0.1", True], ids=["negative", "one", "text", "bool"]
    )
    def test_bad_min_share(self, value: object) -> None:
        with pytest.raises(ParameterError, match="min_share must be a number in"):
            _call(_tiny_cube(), min_share=value)
        with pytest.raises(ParameterError, match=re.escape(f"got {value!r}")):
            localize_root_causes(
                _mixed_floor(0),
                min_share=value,  # type: ignore[arg-type]
            )


def _three_by_three(moved_rest: float) -> tuple[_Lattice, np.ndarray, np.ndarray]:
    """Leaves a0..a2 x b0..b2 of weight 100; a0/b0 and a0/b1 moved by 0.5."""
    codes = np.array([(a, b) for a in range(3) for b in range(3)], dtype=np.intp)
    lattice = _Lattice(codes, np.array([3, 3]), max_depth=2)
    change = np.zeros(9)
    change[[0, 1]] = 0.5
    change[2] = moved_rest  # a0/b2, the rest of the parent a=a0
    weight = np.full(9, 100.0)
    return lattice, weight, weight * change


class TestParsimony:
    def test_siblings_become_their_parent_when_it_moved_as_one(self) -> None:
        lattice, weight, weighted_change = _three_by_three(0.4)
        # Cuboid (0, 1) groups are a * 3 + b: a0/b0 = 0, a0/b1 = 1.
        chosen = [((0, 1), 0, 25.0), ((0, 1), 1, 25.0)]
        merged = _merge_siblings(chosen, lattice, weight, weighted_change)
        # Parent a=a0: weight 300, change 140, gain 140**2 / 300.
        assert len(merged) == 1
        assert merged[0][:2] == ((0,), 0)
        assert_allclose(merged[0][2], 140.0**2 / 300.0)

    @pytest.mark.parametrize(
        "rest", [0.0, -0.4, 0.1], ids=["still", "opposite", "weak"]
    )
    def test_siblings_stay_when_the_rest_did_not_move_alike(self, rest: float) -> None:
        lattice, weight, weighted_change = _three_by_three(rest)
        chosen = [((0, 1), 0, 25.0), ((0, 1), 1, 25.0)]
        assert _merge_siblings(chosen, lattice, weight, weighted_change) == chosen

    @pytest.mark.parametrize(
        ("rest", "absorbed"), [(0.4, True), (-0.8, False)], ids=["alike", "opposite"]
    )
    def test_a_root_cause_absorbs_its_descendants(
        self, rest: float, absorbed: bool
    ) -> None:
        lattice, weight, weighted_change = _three_by_three(rest)
        # a0/b0 was found first, then the parent a=a0 (its remainder moved too).
        chosen = [((0, 1), 0, 25.0), ((1,), 2, 30.0), ((0,), 0, 16.0)]
        merged = _merge_siblings(chosen, lattice, weight, weighted_change)
        if absorbed:
            assert merged == [((0,), 0, 16.0), ((1,), 2, 30.0)]
        else:
            assert merged == chosen


class TestRatio:
    def test_contributions_by_hand(self) -> None:
        frame = pd.DataFrame(
            {
                "day": [BASE, BASE, TARGET, TARGET],
                "zone": ["Z1", "Z2", "Z1", "Z2"],
                "coin_in": [10.0, 30.0, 40.0, 60.0],
                "games_played": [10.0, 10.0, 20.0, 20.0],
            }
        )
        result = rank_segments(
            frame,
            dimensions=["zone"],
            date_target=TARGET,
            numerator="coin_in",
            denominator="games_played",
        )
        # R_F = 40 / 20 = 2, R_A = 100 / 40 = 2.5.
        # Z1: [(40 - 2*20) - (10 - 2*10)] / 40 = 0.25; Z2: [(60 - 40) - (30 - 20)] / 40.
        breakdown = result.breakdown
        assert_allclose(breakdown["contribution"], [0.25, 0.25])
        assert_allclose(breakdown["share_of_change"], [0.5, 0.5])
        assert_allclose(breakdown["value_base"], [1.0, 3.0])
        assert_allclose(breakdown["value_target"], [2.0, 3.0])
        assert result.kpi["metric"] == "coin_in/games_played"
        assert_allclose(result.kpi["delta"], 0.5)

    @pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
    def test_split_sums_exactly_to_the_ratio_change(self, seed: int) -> None:
        frame = _floor(seed, moved={"Z1": 1.4})
        rng = np.random.default_rng(seed)
        frame["games_played"] *= rng.uniform(0.5, 1.5, len(frame))
        result = rank_segments(
            frame,
            "avg_bet",
            dimensions=["zone", "denomination", "game_type"],
            date_target=TARGET,
            numerator="coin_in",
            denominator="games_played",
        )
        change = result.kpi["value_target"] - result.kpi["value_base"]
        sums = result.breakdown.groupby("dimension")["contribution"].sum()
        assert_allclose(sums.to_numpy(), change, rtol=1e-12)
        shares = result.breakdown.groupby("dimension")["share_of_change"].sum()
        assert_allclose(shares.to_numpy(), 1.0, rtol=1e-12)

    def test_localizes_the_ratio_not_the_volume(self) -> None:
        frame = _floor(4)
        on_target = frame["day"] == TARGET
        # Zone Z1 doubles its volume at the same average bet: not a ratio cause.
        frame.loc[on_target & (frame["zone"] == "Z1"), ["coin_in", "games_played"]] *= 2
        # Zone Z4's average bet rises by half.
        frame.loc[on_target & (frame["zone"] == "Z4"), "coin_in"] *= 1.5
        result = rank_segments(
            frame,
            dimensions=["zone", "denomination", "game_type"],
            date_target=TARGET,
            numerator="coin_in",
            denominator="games_played",
        )
        assert result.root_causes == ("zone=Z4",)
        assert "contribution" in result.table.columns

    def test_ratio_leaf_values(self) -> None:
        real, predict = ratio_leaf_values(
            np.array([10.0, 30.0, 0.0]),
            np.array([10.0, 10.0, 0.0]),
            np.array([40.0, 60.0, 9.0]),
            np.array([20.0, 20.0, 3.0]),
        )
        assert_allclose(real, [40.0, 60.0, 9.0])
        # The new leaf is expected at the floor's base ratio, 40 / 20 = 2.
        assert_allclose(predict, [20.0, 60.0, 6.0])


class TestDegenerate:
    def test_total_did_not_move(self) -> None:
        frame = _tiny_cube()
        frame.loc[4:, "coin_in"] = [300.0, 200.0, 100.0, 400.0]  # same 1000 total
        with pytest.warns(DegenerateInputWarning, match="did not move"):
            result = rank_segments(
                frame,
                "coin_in",
                dimensions=["zone", "denomination"],
                date_target=TARGET,
            )
        assert result.breakdown["share_of_change"].isna().all()
        assert result.table["share_of_change"].isna().all()
        assert any("did not move" in note for note in result.notes)
        assert result.to_dict()["rows"][0]["share_of_change"] is None

    def test_to_dict_is_json_ready(self) -> None:
        result = rank_segments(
            _floor(5, moved={"Z2": 0.5}),
            "coin_in",
            dimensions=["zone", "denomination", "game_type"],
            date_target=TARGET,
        )
        payload = result.to_dict()
        text = json.dumps(payload, allow_nan=False)
        assert payload["module"] == "rank_segments"
        assert payload["dates"]["date_base"] == BASE
        assert payload["parameters"]["max_depth"] == 3
        assert payload["rows"][0]["segment"] == "zone=Z2"
        assert len(payload["breakdown"]) == 4 + 3 + 5
        assert "NaN" not in text

    def test_public_door(self) -> None:
        assert analytics.rank_segments is rank_segments
        assert analytics.RankSegmentsResult.__name__ == "RankSegmentsResult"


def _call(frame: pd.DataFrame, **options: object) -> None:
    arguments: dict[str, object] = {
        "dimensions": ["zone", "denomination"],
        "date_target": TARGET,
    }
    arguments.update(options)
    metric = arguments.pop("metric_col", "coin_in")
    rank_segments(frame, metric, **arguments)  # type: ignore[arg-type]


class TestErrors:
    @pytest.mark.parametrize(
        ("options", "error", "message"),
        [
            ({"dimensions": ["zone", "floor"]}, ColumnError, "'floor' not in the data"),
            ({"metric_col": "coin_out"}, ColumnError, "'coin_out' not in the data"),
            ({"date_target": "2019-07-18"}, DateError, "'2019-07-18' is not in"),
            ({"date_base": "2019-07-03"}, DateError, "date_base='2019-07-03' is not"),
            ({"date_base": "2019-07-24"}, DateError, "must be before"),
            (
                {"max_depth": 0},
                ParameterError,
                "max_depth must be in 1..2 (the number of dimensions), got 0",
            ),
            (
                {"max_depth": 3},
                ParameterError,
                "1..2 (the number of dimensions), got 3",
            ),
            ({"numerator": "coin_in"}, ParameterError, "both numerator and denom"),
            ({"metric_col": None}, ParameterError, "give metric_col"),
            ({"dimensions": []}, ParameterError, "at least one column"),
            ({"dimensions": "zone"}, ParameterError, "must be a list"),
            ({"dimensions": ["zone", "zone"]}, ParameterError, "must not repeat"),
            ({"dimensions": ["zone", "coin_in"]}, ParameterError, "also the date"),
        ],
        ids=[
            "unknown-dimension",
            "missing-measure",
            "target-absent",
            "base-absent",
            "base-after-target",
            "depth-0",
            "depth-too-deep",
            "numerator-alone",
            "no-kpi",
            "no-dimensions",
            "dimensions-string",
            "repeated-dimension",
            "dimension-is-measure",
        ],
    )
    def test_bad_arguments(
        self, options: dict[str, object], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=re.escape(message)):
            _call(_tiny_cube(), **options)

    def test_empty_frame(self) -> None:
        with pytest.raises(InputError, match="empty"):
            _call(_tiny_cube().iloc[:0])

    def test_non_numeric_measure(self) -> None:
        frame = _tiny_cube().astype({"coin_in": str})
        with pytest.raises(ColumnError, match="'coin_in' must be numeric"):
            _call(frame)

    def test_duplicate_date_and_segment(self) -> None:
        frame = pd.concat([_tiny_cube(), _tiny_cube().iloc[[0]]])
        with pytest.raises(DuplicateKeyError, match="share a date and segment"):
            _call(frame)

    def test_negative_denominator(self) -> None:
        frame = _tiny_cube().assign(games_played=[5.0, -1.0, 5.0, 5.0] * 2)
        with pytest.raises(ColumnError, match="'games_played' has 2 negative"):
            _call(frame, numerator="coin_in", denominator="games_played")

    def test_empty_measure_on_a_compared_day(self) -> None:
        frame = _tiny_cube()
        frame.loc[5, "coin_in"] = np.nan
        with pytest.raises(ColumnError, match="1 empty value"):
            _call(frame)

    def test_localizer_rejects_duplicate_leaves(self) -> None:
        leaves = pd.DataFrame(
            {"a": ["x", "x"], "real": [1.0, 2.0], "predict": [1.0, 1.0]}
        )
        with pytest.raises(DuplicateKeyError, match="repeat a segment"):
            localize_root_causes(leaves, ["a"])

    def test_localizer_rejects_non_finite_values(self) -> None:
        leaves = pd.DataFrame(
            {"a": ["x", "y"], "real": [1.0, np.inf], "predict": [1.0, 1.0]}
        )
        with pytest.raises(ColumnError, match="'real' holds NaN or infinite"):
            localize_root_causes(leaves, ["a"])


def _assert_same_result(
    left: analytics.RankSegmentsResult, right: analytics.RankSegmentsResult
) -> None:
    pd.testing.assert_frame_equal(left.breakdown, right.breakdown, check_exact=True)
    pd.testing.assert_frame_equal(left.table, right.table, check_exact=True)
    assert left.kpi == right.kpi
    assert left.notes == right.notes


class TestPlainPath:
    """A plain table (datetime64 dates) is validated in NumPy; others by pandas."""

    @pytest.mark.parametrize("ratio", [False, True], ids=["additive", "ratio"])
    def test_datetime_and_text_dates_agree(self, ratio: bool) -> None:
        frame = _floor(6, moved={"Z2": 0.7})
        frame.loc[3, "zone"] = None  # a missing member, "(missing)"
        frame = frame.drop(index=[5, 70])  # leaves absent on one day
        frame["games_played"] *= np.linspace(0.8, 1.2, len(frame))
        options: dict[str, object] = {
            "dimensions": ["zone", "denomination", "game_type"],
            "date_target": TARGET,
        }
        if ratio:
            options.update(numerator="coin_in", denominator="games_played")
        dated = frame.assign(day=pd.to_datetime(frame["day"]))
        _assert_same_result(
            rank_segments(frame, "coin_in", **options),  # type: ignore[arg-type]
            rank_segments(dated, "coin_in", **options),  # type: ignore[arg-type]
        )

    def test_errors_name_the_same_problem(self) -> None:
        frame = _tiny_cube().assign(day=lambda f: pd.to_datetime(f["day"]))
        with pytest.raises(DuplicateKeyError, match="2 rows share a date and segment"):
            _call(pd.concat([frame, frame.iloc[[0]]]))
        frame.loc[5, "coin_in"] = np.nan
        with pytest.raises(ColumnError, match=r"1 empty value.*2019-07-17"):
            _call(frame)

    @pytest.mark.parametrize("n_leaves", [40, 3000], ids=["small", "large"])
    def test_member_sums_match_pandas(self, n_leaves: int) -> None:
        # Summed as pandas' groupby sums, to the last bit, on any leaf order.
        rng = np.random.default_rng(n_leaves)
        values = rng.lognormal(8.0, 2.0, (2, n_leaves))
        for codes in (
            np.sort(rng.integers(0, 5, n_leaves)),
            rng.integers(0, 5, n_leaves),
        ):
            expected = pd.DataFrame(values.T).groupby(codes).sum().to_numpy().T
            got = _member_sums(codes, 5, values)
            assert np.array_equal(got, expected)

    def test_find_segments_is_localize_root_causes(self) -> None:
        case = generate_cube_case(23, n_leaves=3000, n_root_causes=2)
        dims = list(case.dimensions)
        found = localize_root_causes(case.leaves, dims)
        codes = np.column_stack(
            [pd.factorize(case.leaves[d], sort=True)[0] for d in dims]
        )
        labels = [np.sort(case.leaves[d].unique()).astype(object) for d in dims]
        rows = find_segments(
            codes,
            labels,
            dims,
            case.leaves["real"].to_numpy(dtype=np.float64),
            case.leaves["predict"].to_numpy(dtype=np.float64),
            max_depth=3,
            min_share=0.01,
        )
        assert rows.segments == tuple(found.candidates["segment"])
        assert rows.scores == tuple(found.candidates["score"])


@st.composite
def _two_days(draw: st.DrawFn) -> pd.DataFrame:
    zones = draw(st.integers(1, 4))
    denominations = draw(st.integers(1, 3))
    count = zones * denominations
    value = st.floats(0.0, 1e6, allow_nan=False)
    base = draw(st.lists(value, min_size=count, max_size=count))
    target = draw(st.lists(value, min_size=count, max_size=count))
    keys = pd.MultiIndex.from_product(
        [[f"Z{i}" for i in range(zones)], [f"D{i}" for i in range(denominations)]],
        names=["zone", "denomination"],
    ).to_frame(index=False)
    return pd.concat(
        [keys.assign(day=BASE, coin_in=base), keys.assign(day=TARGET, coin_in=target)],
        ignore_index=True,
    )


def _quiet_rank(frame: pd.DataFrame) -> analytics.RankSegmentsResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateInputWarning)
        return rank_segments(
            frame,
            "coin_in",
            dimensions=["zone", "denomination"],
            date_target=TARGET,
            max_depth=1,
        )


@settings(max_examples=25, deadline=None)
@given(_two_days())
def test_member_deltas_sum_to_the_total_delta(frame: pd.DataFrame) -> None:
    result = _quiet_rank(frame)
    sums = result.breakdown.groupby("dimension")["delta"].sum()
    assert_allclose(sums.to_numpy(), result.kpi["delta"], rtol=1e-9, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(_two_days())
def test_swapping_the_days_flips_the_signs(frame: pd.DataFrame) -> None:
    swapped = frame.assign(day=frame["day"].map({BASE: TARGET, TARGET: BASE}))
    forward, backward = _quiet_rank(frame), _quiet_rank(swapped)
    assert_allclose(backward.kpi["delta"], -forward.kpi["delta"], atol=1e-6)
    assert_allclose(backward.breakdown["delta"], -forward.breakdown["delta"], atol=1e-6)
    assert_allclose(
        backward.breakdown["surprise"].fillna(-1.0),
        forward.breakdown["surprise"].fillna(-1.0),
        atol=1e-12,
    )


class TestEvaluation:
    def test_count_matches_is_exact_string_comparison(self) -> None:
        assert count_matches(["a=a1&b=b2"], ["b=b2&a=a1"]) == (0, 1, 1)
        assert count_matches(["a=a1", "c=c2"], ["a=a1", "c=c2"]) == (2, 0, 0)

    def test_f1_by_hand(self) -> None:
        assert_allclose(f1_score(9, 1, 2), 18 / 21)
        assert math.isnan(f1_score(0, 0, 0))

    def test_summary_sums_counts_before_the_ratio(self) -> None:
        per_case = pd.DataFrame(
            {
                "seed": [1, 2],
                "depth": [1, 1],
                "n_root_causes": [1, 1],
                "tp": [1, 0],
                "fp": [0, 2],
                "fn": [0, 1],
                "seconds": [0.1, 0.3],
            }
        )
        summary = summarize(per_case)
        assert_allclose(summary["f1"], [2 / 5, 2 / 5])
        assert_allclose(summary["seconds_mean"], [0.2, 0.2])

    def test_localize_case_handles_ratio_cases(self) -> None:
        case = generate_cube_case(8, n_leaves=3000, ratio=True, n_root_causes=1)
        assert localize_case(case) == case.root_causes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("difficulty", "ratio", "least_f1"),
    [
        ("easy", False, 0.97),
        ("standard", False, 0.93),
        ("standard", True, 0.9),
        ("hard", False, 0.85),
        ("hard", True, 0.85),
    ],
    ids=[
        "easy-additive",
        "standard-additive",
        "standard-ratio",
        "hard-additive",
        "hard-ratio",
    ],
)
def test_accuracy_on_generated_cubes(
    difficulty: str, ratio: bool, least_f1: float
) -> None:
    per_case = evaluate_segments(
        cases_per_setting=6,
        n_leaves=20_000,
        ratio=ratio,
        seed=77,
        difficulty=difficulty,
    )
    overall = summarize(per_case).iloc[-1]
    assert overall["cases"] == 54
    assert overall["f1"] >= least_f1
    # Generous: CI machines are shared; docs/accuracy-segments.md has the figures.
    assert overall["seconds_mean"] < 2.0
