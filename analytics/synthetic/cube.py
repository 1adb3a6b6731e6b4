"""Seeded root-cause-localization cases shaped like the public benchmarks.

The public benchmarks of multidimensional root-cause localization (the Squeeze
and RiskLoc data) hold, per case, one row per leaf of a cube (one column per
dimension, ``real`` = observed, ``predict`` = expected) and a label naming the
injected root-cause segments, e.g. ``"b=b10&c=c4;a=a2&b=b12"``. This module
generates equivalent cases of its own:

* a full cube of 4 or 5 dimensions named ``a``, ``b``, ... with 5 to 40 members
  each (``a1``, ``a2``, ...), about 20,000 leaves by default;
* expected leaf values from a heavy-tailed Weibull distribution (shape 0.5 to 1),
  with a share of leaves at zero (0 to 20 %);
* relative Gaussian noise on every leaf (level drawn in 0 to 8 % per case);
* 1 to 3 disjoint root-cause segments at depth 1 to 3 whose leaves all move by
  the same relative amount (a fall or a rise of 20 % to 80 % of the leaf value,
  plus the noise level, so an anomaly is never buried in the noise).

With ``ratio=True`` a case explains a ratio KPI (e.g. average bet = coin_in /
games_played): every leaf has a denominator and a ratio; the root causes move the
ratio, and a distractor segment moves only the volume (the denominator), which
a localizer of the ratio must ignore.

The same seed always gives the same case.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Literal

import numpy as np
import pandas as pd

from analytics.errors import ParameterError

__all__ = ["CubeCase", "generate_cube_case", "segment_mask"]

DIMENSION_NAMES = "abcde"
MIN_MEMBERS = 5
MAX_MEMBERS = 40
MAGNITUDE_RANGE = (0.2, 0.8)
NOISE_RANGE = (0.0, 0.08)
ZERO_RATE_RANGE = (0.0, 0.2)
WEIBULL_SHAPE_RANGE = (0.5, 1.0)


@dataclass(frozen=True)
class CubeCase:
    """One generated localization case.

    Attributes
    ----------
    leaves : pandas.DataFrame
        One row per leaf: the dimension columns, then ``real`` (observed on the
        target day) and ``predict`` (expected, the base day). Ratio cases add
        ``numerator_base``, ``denominator_base``, ``numerator_target`` and
        ``denominator_target``; there ``real`` and ``predict`` are the target
        numerator and the numerator expected at the base ratio.
    dimensions : tuple of str
        The dimension columns, in segment-string order.
    root_causes : tuple of str
        The injected segments, parts in dimension order (``"a=a2&b=b12"``).
    magnitudes : tuple of float
        The relative move of each root cause (-0.4 = a 40 % fall).
    noise_level : float
        Standard deviation of the relative noise on every leaf.
    kind : {"additive", "ratio"}
        Which KPI the case explains.
    seed : int
        The seed that reproduces the case.
    """

    leaves: pd.DataFrame
    dimensions: tuple[str, ...]
    root_causes: tuple[str, ...]
    magnitudes: tuple[float, ...]
    noise_level: float
    kind: Literal["additive", "ratio"]
    seed: int

    @property
    def label(self) -> str:
        """The root causes joined the public way: ``"b=b10&c=c4;a=a2&b=b12"``."""
        return ";".join(self.root_causes)


def _check_whole(value: int, *, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ParameterError(f"{name} must be in {low}..{high}, got {value!r}")


def _member_counts(rng: np.random.Generator, n_dims: int, n_leaves: int) -> list[int]:
    """Draw 5..40 members per dimension with a product close to ``n_leaves``."""
    typical = n_leaves ** (1.0 / n_dims)
    counts = np.exp(np.log(typical) + rng.normal(0.0, 0.3, size=n_dims))
    # Rescale so the product hits the target, then round and clip.
    counts *= (n_leaves / np.prod(counts)) ** (1.0 / n_dims)
    rounded = np.clip(np.rint(counts), MIN_MEMBERS, MAX_MEMBERS).astype(int)
    return [int(c) for c in rounded]


def _full_cube(dimensions: tuple[str, ...], counts: list[int]) -> pd.DataFrame:
    members = [
        [f"{name}{i}" for i in range(1, count + 1)]
        for name, count in zip(dimensions, counts, strict=True)
    ]
    return pd.DataFrame(list(product(*members)), columns=list(dimensions))


def segment_mask(leaves: pd.DataFrame, segment: str) -> np.ndarray:
    """Return the boolean mask of the leaves under ``segment`` (``"a=a1&b=b2"``)."""
    mask = np.ones(len(leaves), dtype=bool)
    for part in segment.split("&"):
        column, member = part.split("=", 1)
        mask &= (leaves[column] == member).to_numpy()
    return mask


def _draw_segment(
    rng: np.random.Generator,
    cube: pd.DataFrame,
    dimensions: tuple[str, ...],
    depth: int,
) -> str:
    chosen = sorted(rng.choice(len(dimensions), size=depth, replace=False))
    parts = []
    for index in chosen:
        name = dimensions[index]
        members = cube[name].unique()
        parts.append(f"{name}={members[rng.integers(len(members))]}")
    return "&".join(parts)


def _draw_root_causes(
    rng: np.random.Generator,
    cube: pd.DataFrame,
    base: np.ndarray,
    *,
    dimensions: tuple[str, ...],
    depths: list[int],
) -> tuple[list[str], np.ndarray]:
    """Draw disjoint segments that each hold at least one non-zero leaf."""
    taken = np.zeros(len(cube), dtype=bool)
    segments: list[str] = []
    for depth in depths:
        for _attempt in range(200):
            segment = _draw_segment(rng, cube, dimensions, depth)
            mask = segment_mask(cube, segment)
            if not (mask & taken).any() and (base[mask] > 0).any():
                break
        else:
            raise ParameterError(
                f"could not place {len(depths)} disjoint root causes at depths "
                f"{depths!r}; use fewer root causes or a larger cube"
            )
        segments.append(segment)
        taken |= mask
    return segments, taken


def _noisy(
    rng: np.random.Generator, values: np.ndarray, noise_level: float
) -> np.ndarray:
    noise = rng.normal(0.0, noise_level, size=values.shape)
    return np.maximum(values * (1.0 + noise), 0.0)


def _draw_magnitudes(
    rng: np.random.Generator, count: int, noise_level: float
) -> np.ndarray:
    size = rng.uniform(*MAGNITUDE_RANGE, size=count) + noise_level
    sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    # A fall cannot exceed 100 %.
    return np.where(sign < 0, -np.minimum(size, 0.95), size)


def generate_cube_case(
    seed: int,
    *,
    n_leaves: int = 20_000,
    n_dims: int | None = None,
    n_root_causes: int | None = None,
    depth: int | None = None,
    noise_level: float | None = None,
    ratio: bool = False,
) -> CubeCase:
    """Generate one seeded root-cause-localization case.

    Parameters
    ----------
    seed : int
        Seed of the random generator; the same seed gives the same case.
    n_leaves : int
        Approximate number of leaves (1,000 to 500,000); the cube is full.
    n_dims : int, optional
        4 or 5 dimensions; drawn when omitted.
    n_root_causes : int, optional
        1 to 3 injected segments; drawn when omitted.
    depth : int, optional
        Depth (number of fixed dimensions, 1 to 3) of every injected segment;
        drawn per segment when omitted.
    noise_level : float, optional
        Relative noise on every leaf (standard deviation, 0 to 0.5); drawn in
        0 to 0.08 when omitted.
    ratio : bool
        Generate a ratio-KPI case (numerator and denominator per leaf).

    Returns
    -------
    CubeCase
        The leaf table, the dimensions and the injected root causes.

    Examples
    --------
    >>> case = generate_cube_case(7, n_leaves=2000, n_root_causes=2, depth=1)
    >>> len(case.root_causes), case.label.count(";")
    (2, 1)
    """
    _check_whole(n_leaves, name="n_leaves", low=1_000, high=500_000)
    rng = np.random.default_rng(seed)
    n_dims = int(rng.integers(4, 6)) if n_dims is None else n_dims
    _check_whole(n_dims, name="n_dims", low=4, high=5)
    count = int(rng.integers(1, 4)) if n_root_causes is None else n_root_causes
    _check_whole(count, name="n_root_causes", low=1, high=3)
    if depth is not None:
        _check_whole(depth, name="depth", low=1, high=3)
    if noise_level is None:
        noise_level = float(rng.uniform(*NOISE_RANGE))
    elif not 0.0 <= noise_level <= 0.5:
        raise ParameterError(f"noise_level must be in 0..0.5, got {noise_level!r}")

    dimensions = tuple(DIMENSION_NAMES[:n_dims])
    cube = _full_cube(dimensions, _member_counts(rng, n_dims, n_leaves))
    shape = float(rng.uniform(*WEIBULL_SHAPE_RANGE))
    zero_rate = float(rng.uniform(*ZERO_RATE_RANGE))
    base = rng.weibull(shape, size=len(cube)) * 100.0
    base[rng.random(len(cube)) < zero_rate] = 0.0

    depths = [int(rng.integers(1, 4)) if depth is None else depth for _ in range(count)]
    segments, _ = _draw_root_causes(
        rng, cube, base, dimensions=dimensions, depths=depths
    )
    magnitudes = _draw_magnitudes(rng, count, noise_level)
    factor = np.ones(len(cube))
    for segment, magnitude in zip(segments, magnitudes, strict=True):
        factor[segment_mask(cube, segment)] = 1.0 + magnitude

    if ratio:
        leaves = _ratio_leaves(rng, cube, base, factor, noise_level, dimensions)
    else:
        leaves = cube.assign(real=_noisy(rng, base * factor, noise_level), predict=base)
    return CubeCase(
        leaves=leaves,
        dimensions=dimensions,
        root_causes=tuple(segments),
        magnitudes=tuple(float(m) for m in magnitudes),
        noise_level=float(noise_level),
        kind="ratio" if ratio else "additive",
        seed=int(seed),
    )


def _ratio_leaves(
    rng: np.random.Generator,
    cube: pd.DataFrame,
    base: np.ndarray,
    factor: np.ndarray,
    noise_level: float,
    dimensions: tuple[str, ...],
) -> pd.DataFrame:
    """Leaves of a ratio KPI: the root causes move the ratio, a distractor the volume.

    The base denominator is ``base`` (e.g. games played); each leaf has its own
    base ratio (e.g. average bet, lognormal around 1.3). On the target day the
    denominator moves by noise and, in one random depth-1 segment, by a volume
    shift of 30 % to 60 % that leaves the ratio unchanged.
    """
    denominator_base = base
    ratio_base = np.exp(rng.normal(np.log(1.3), 0.5, size=len(cube)))
    volume = np.ones(len(cube))
    distractor = _draw_segment(rng, cube, dimensions, 1)
    volume[segment_mask(cube, distractor)] = 1.0 + rng.uniform(0.3, 0.6)
    denominator_target = _noisy(rng, denominator_base * volume, noise_level)
    ratio_target = ratio_base * factor * (1.0 + rng.normal(0.0, noise_level, len(cube)))
    ratio_target = np.maximum(ratio_target, 0.0)
    numerator_base = ratio_base * denominator_base
    numerator_target = ratio_target * denominator_target
    return cube.assign(
        numerator_base=numerator_base,
        denominator_base=denominator_base,
        numerator_target=numerator_target,
        denominator_target=denominator_target,
    )
