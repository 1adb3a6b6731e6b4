"""Tests of the seeded root-cause-localization case generator."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analytics.errors import ParameterError
from analytics.synthetic.cube import generate_cube_case, segment_mask

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


def test_root_cause_leaves_move_by_one_relative_amount() -> None:
    case = generate_cube_case(9, n_leaves=4000, noise_level=0.0, n_root_causes=2)
    leaves = case.leaves[case.leaves["predict"] > 0]
    ratio = (leaves["real"] / leaves["predict"]).to_numpy()
    outside = np.ones(len(leaves), dtype=bool)
    for segment, magnitude in zip(case.root_causes, case.magnitudes, strict=True):
        mask = segment_mask(leaves, segment)
        assert_allclose(ratio[mask], 1.0 + magnitude)
        outside &= ~mask
    assert_allclose(ratio[outside], 1.0)
    assert all(0.2 <= abs(m) <= 0.95 for m in case.magnitudes)


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
