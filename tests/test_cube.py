"""Tests of the seeded root-cause-localization case generator."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics.errors import ParameterError
from analytics.synthetic.cube import (
    DIFFICULTIES,
    CubeDifficulty,
    generate_cube_case,
    leaf_noise_sd,
    resolve_difficulty,
    segment_mask,
)

SEGMENT = re.compile(r"^[a-e]=[a-e]\d+(&[a-e]=[a-e]\d+)*$")


def test_same_seed_gives_the_same_case() -> None:
    first = generate_cube_case(11, n_leaves=3000)
    second = generate_cube_case(11, n_leaves=3000)
    pd.testing.assert_frame_equal(first.leaves, second.leaves)
    assert first.label == second.label
    assert first.magnitudes == second.magnitudes


def test_other_seed_gives_another_case() -> None:
    first = generate_cube_case(11, n_leaves=3000)
    second = generate_cube_case(12, n_leaves=3000)
    assert not first.leaves["real"].equals(second.leaves["real"])


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
def test_label_format_and_dimension_order(seed: int) -> None:
    case = generate_cube_case(seed, n_leaves=3000)
    assert case.label == ";".join(case.root_causes)
    for segment in case.root_causes:
        assert SEGMENT.match(segment), segment
        names = [part.split("=")[0] for part in segment.split("&")]
        assert names == sorted(names)
        for part in segment.split("&"):
            name, member = part.split("=")
            assert member.startswith(name)


@pytest.mark.parametrize(
    ("n_leaves", "n_dims"),
    [(20_000, 4), (20_000, 5), (5_000, 4)],
    ids=["20k-4d", "20k-5d", "5k-4d"],
)
def test_cube_shape(n_leaves: int, n_dims: int) -> None:
    case = generate_cube_case(3, n_leaves=n_leaves, n_dims=n_dims)
    assert case.dimensions == tuple("abcde"[:n_dims])
    members = [case.leaves[d].nunique() for d in case.dimensions]
    assert all(5 <= m <= 40 for m in members)
    assert len(case.leaves) == int(np.prod(members))
    assert 0.5 * n_leaves <= len(case.leaves) <= 1.6 * n_leaves
    assert not case.leaves.duplicated(list(case.dimensions)).any()


@pytest.mark.parametrize("depth", [1, 2, 3], ids=lambda d: f"depth{d}")
@pytest.mark.parametrize("count", [1, 2, 3], ids=lambda c: f"{c}rc")
def test_root_causes_are_disjoint_at_the_asked_depth(depth: int, count: int) -> None:
    case = generate_cube_case(5, n_leaves=4000, depth=depth, n_root_causes=count)
    assert len(case.root_causes) == count
    assert all(s.count("&") == depth - 1 for s in case.root_causes)
    masks = [segment_mask(case.leaves, s) for s in case.root_causes]
    assert int(np.sum(masks, axis=0).max()) == 1


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_root_cause_leaves_move_by_one_relative_amount(difficulty: str) -> None:
    case = generate_cube_case(
        9, n_leaves=4000, noise_level=0.0, n_root_causes=2, difficulty=difficulty
    )
    leaves = case.leaves[case.leaves["predict"] > 0]
    ratio = (leaves["real"] / leaves["predict"]).to_numpy()
    outside = np.ones(len(leaves), dtype=bool)
    for segment, magnitude in zip(case.root_causes, case.magnitudes, strict=True):
        mask = segment_mask(leaves, segment)
        assert_allclose(ratio[mask], 1.0 + magnitude)
        outside &= ~mask
    assert_allclose(ratio[outside], 1.0)
    low, high = DIFFICULTIES[difficulty].magnitude_range
    assert all(low <= abs(m) <= min(high, 0.95) for m in case.magnitudes)


def test_noise_touches_every_leaf() -> None:
    case = generate_cube_case(9, n_leaves=4000, noise_level=0.05)
    leaves = case.leaves[case.leaves["predict"] > 0]
    relative = leaves["real"] / leaves["predict"]
    assert (relative != 1.0).all()


def test_ratio_case_moves_the_ratio_not_only_the_volume() -> None:
    case = generate_cube_case(4, n_leaves=4000, ratio=True, noise_level=0.0)
    leaves = case.leaves
    assert case.kind == "ratio"
    assert {"numerator_base", "denominator_target"} <= set(leaves.columns)
    ratio_base = leaves["numerator_base"] / leaves["denominator_base"]
    ratio_target = leaves["numerator_target"] / leaves["denominator_target"]
    moved = (ratio_target / ratio_base).to_numpy()
    for segment, magnitude in zip(case.root_causes, case.magnitudes, strict=True):
        mask = segment_mask(leaves, segment) & np.isfinite(moved)
        assert_allclose(moved[mask], 1.0 + magnitude)
    volume = (leaves["denominator_target"] / leaves["denominator_base"]).dropna()
    assert volume.max() > 1.25  # the distractor segment gained volume


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_dims": 3}, "n_dims must be in 4..5, got 3"),
        ({"n_root_causes": 4}, "n_root_causes must be in 1..3, got 4"),
        ({"depth": 0}, "depth must be in 1..3, got 0"),
        ({"n_leaves": 10}, "n_leaves must be in 1000..500000, got 10"),
        ({"noise_level": 0.9}, "noise_level must be in 0..0.5, got 0.9"),
        ({"depth": 1.5}, "depth must be a whole number, got 1.5"),
    ],
    ids=["dims", "count", "depth", "leaves", "noise", "float-depth"],
)
def test_bad_parameters(options: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        generate_cube_case(1, **options)  # type: ignore[arg-type]


def test_default_difficulty_is_standard() -> None:
    case = generate_cube_case(3, n_leaves=2000)
    assert case.difficulty == "standard"
    assert 0.0 <= case.noise_level <= 0.25


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_drawn_parameters_stay_in_the_difficulty(difficulty: str) -> None:
    setting = DIFFICULTIES[difficulty]
    for seed in range(8):
        case = generate_cube_case(seed, n_leaves=2000, difficulty=difficulty)
        assert setting.noise_range[0] <= case.noise_level <= setting.noise_range[1]
        extra = case.noise_level if setting.magnitude_plus_noise else 0.0
        low, high = (bound + extra for bound in setting.magnitude_range)
        assert all(low - 1e-12 <= abs(m) <= high + 1e-12 for m in case.magnitudes)


def test_easy_setting_has_equal_noise_on_every_leaf() -> None:
    case = generate_cube_case(5, n_leaves=20_000, noise_level=0.1, difficulty="easy")
    leaves = case.leaves[case.leaves["predict"] > 0].copy()
    for segment in case.root_causes:
        leaves = leaves[~segment_mask(leaves, segment)]
    relative = (leaves["real"] / leaves["predict"] - 1.0).to_numpy()
    small = (leaves["predict"] < leaves["predict"].quantile(0.2)).to_numpy()
    large = (leaves["predict"] > leaves["predict"].quantile(0.8)).to_numpy()
    assert_allclose(relative[small].std(), 0.1, rtol=0.1)
    assert_allclose(relative[large].std(), 0.1, rtol=0.1)


def test_standard_setting_makes_small_leaves_noisier() -> None:
    case = generate_cube_case(5, n_leaves=20_000, noise_level=0.1)
    leaves = case.leaves[case.leaves["predict"] > 0].copy()
    for segment in case.root_causes:
        leaves = leaves[~segment_mask(leaves, segment)]
    relative = (leaves["real"] / leaves["predict"] - 1.0).to_numpy()
    large = (leaves["predict"] > leaves["predict"].quantile(0.9)).to_numpy()
    small = (leaves["predict"] < leaves["predict"].quantile(0.01)).to_numpy()
    # The largest tenth sits between 1/4 and 1/sqrt(about 3) of the median's noise.
    assert 0.025 < relative[large].std() < 0.07
    # The smallest leaves hit the clip: 3 x 10 %, less what clipping at 0 removes.
    assert 0.2 < relative[small].std() < 0.31


def test_leaf_noise_sd_by_hand() -> None:
    base = np.array([0.0, 1.0, 25.0, 100.0, 400.0, 1e6])  # median of positives 100
    hetero = leaf_noise_sd(base, 0.1, heteroscedastic=True)
    assert_allclose(hetero, [0.3, 0.3, 0.2, 0.1, 0.05, 0.025])
    equal = leaf_noise_sd(base, 0.1, heteroscedastic=False)
    assert_allclose(equal, 0.1)
    clipped = leaf_noise_sd(base, 0.1, heteroscedastic=True, clip=(0.5, 1.5))
    assert_allclose(clipped, [0.15, 0.15, 0.15, 0.1, 0.05, 0.05])


def test_easy_setting_reproduces_the_first_generator() -> None:
    # The first generator drew 0..8 % noise and 20..80 % + noise moves; easy
    # keeps its random stream, so these figures are the first generator's.
    # Figures recorded from the first generator (commit 3cd867a), seed 7.
    case = generate_cube_case(7, n_leaves=2000, difficulty="easy")
    assert case.label == "a=a4;a=a3&b=b3&c=c1"
    assert_allclose(case.magnitudes, [0.8198230037756777, 0.6125347518347972])
    assert_allclose(case.noise_level, 0.07177710407756605)
    assert_allclose(case.leaves["real"].sum(), 317610.2810389054)


def test_custom_difficulty() -> None:
    setting = CubeDifficulty(
        name="quiet",
        noise_range=(0.0, 0.0),
        heteroscedastic=False,
        magnitude_range=(0.5, 0.5),
        magnitude_plus_noise=False,
        zero_rate_range=(0.0, 0.0),
    )
    case = generate_cube_case(2, n_leaves=2000, n_root_causes=1, difficulty=setting)
    assert case.difficulty == "quiet"
    assert case.noise_level == 0.0
    assert_allclose(np.abs(case.magnitudes), [0.5])
    assert (case.leaves["predict"] > 0).all()


@pytest.mark.parametrize(
    ("difficulty", "message"),
    [
        ("medium", "difficulty must be one of ['easy', 'hard', 'standard']"),
        (
            CubeDifficulty("bad", (0.3, 0.1), True, (0.1, 0.2), True, (0.0, 0.1)),
            "CubeDifficulty.noise_range must be (low, high)",
        ),
        (
            CubeDifficulty("bad", (0.0, 0.1), True, (0.1, 0.2), True, (0.0, 0.95)),
            "CubeDifficulty.zero_rate_range must be (low, high)",
        ),
    ],
    ids=["unknown-name", "noise-reversed", "zero-rate-too-high"],
)
def test_bad_difficulty(difficulty: object, message: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        generate_cube_case(1, n_leaves=2000, difficulty=difficulty)  # type: ignore[arg-type]


def test_resolve_difficulty_passes_a_setting_through() -> None:
    assert resolve_difficulty(DIFFICULTIES["hard"]) is DIFFICULTIES["hard"]
    assert resolve_difficulty("easy").heteroscedastic is False
