"""Seeded root-cause-localization cases shaped like the public benchmarks.

The public benchmarks of multidimensional root-cause localization (the Squeeze
and RiskLoc data) hold, per case, one row per leaf of a cube (one column per
dimension, ``real`` = observed, ``predict`` = expected) and a label naming the
injected root-cause segments, e.g. ``"b=b10&c=c4;a=a2&b=b12"``. This module
generates equivalent cases of its own:

* a full cube of 4 or 5 dimensions named ``a``, ``b``, ... with 5 to 40 members
  each (``a1``, ``a2``, ...), about 20,000 leaves by default;
* expected leaf values from a heavy-tailed Weibull distribution (shape 0.5 to 1),
  with a share of leaves at zero;
* relative Gaussian noise on every leaf, its level drawn per case; optionally
  *heteroscedastic*: a leaf's relative standard deviation is
  ``c * sqrt(median_base / base)``, clipped to ``[c / 4, 3 c]``, so small leaves
  are much noisier than large ones, as on a casino floor where a bank of $5
  machines with a dozen players swings far more than the penny floor;
* 1 to 3 disjoint root-cause segments at depth 1 to 3 whose leaves all move by
  the same relative amount (a fall or a rise, its size drawn per segment).

How hard a case is comes from a named :class:`CubeDifficulty` in
:data:`DIFFICULTIES`:

``easy``
    noise 0 to 8 %, equal for all leaves; moves of 20 to 80 % plus the noise
    level; 0 to 20 % zero leaves (the generator's first version).
``standard``
    noise 0 to 25 % at the median leaf, heteroscedastic; moves of 10 to 80 %
    plus the noise level; 0 to 25 % zero leaves. The public RiskLoc synthetic
    sets draw the same noise range with equal noise for all leaves and moves of
    20 to 100 % plus the noise level, so this is at least as hard.
``hard``
    noise 10 to 30 % at the median leaf, heteroscedastic; moves of only 10 to
    40 %, with nothing added for the noise; 0 to 25 % zero leaves. Some
    root causes here are genuinely lost in the noise.

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

__all__ = [
    "DIFFICULTIES",
    "CubeCase",
    "CubeDifficulty",
    "generate_cube_case",
    "leaf_noise_sd",
    "resolve_difficulty",
    "segment_mask",
]

DIMENSION_NAMES = "abcde"
MIN_MEMBERS = 5
MAX_MEMBERS = 40
WEIBULL_SHAPE_RANGE = (0.5, 1.0)
# A fall cannot exceed 100 %.
MAX_FALL = 0.95


@dataclass(frozen=True)
class CubeDifficulty:
    """How hard a generated case is.

    Attributes
    ----------
    name : str
        The setting's name (``"easy"``, ``"standard"``, ``"hard"`` or your own).
    noise_range : tuple of float
        Range of the case's noise level ``c``: the relative standard deviation
        of a leaf of median size (0.1 = 10 %), drawn uniformly per case.
    heteroscedastic : bool
        When true a leaf's relative standard deviation is
        ``c * sqrt(median_base / base)`` clipped to ``noise_clip`` times ``c``;
        when false every leaf has ``c``.
    noise_clip : tuple of float
        Bounds of the heteroscedastic factor (default 1/4 to 3).
    magnitude_range : tuple of float
        Range of a root cause's relative move (0.3 = a 30 % rise or fall),
        drawn uniformly per root cause.
    magnitude_plus_noise : bool
        Add the noise level to the drawn move (as the public generators do, so
        a move is never smaller than the noise).
    zero_rate_range : tuple of float
        Range of the share of leaves whose expected value is 0.
    """

    name: str
    noise_range: tuple[float, float]
    heteroscedastic: bool
    magnitude_range: tuple[float, float]
    magnitude_plus_noise: bool
    zero_rate_range: tuple[float, float]
    noise_clip: tuple[float, float] = (0.25, 3.0)


DIFFICULTIES: dict[str, CubeDifficulty] = {
    "easy": CubeDifficulty(
        name="easy",
        noise_range=(0.0, 0.08),
        heteroscedastic=False,
        magnitude_range=(0.2, 0.8),
        magnitude_plus_noise=True,
        zero_rate_range=(0.0, 0.2),
    ),
    "standard": CubeDifficulty(
        name="standard",
        noise_range=(0.0, 0.25),
        heteroscedastic=True,
        magnitude_range=(0.1, 0.8),
        magnitude_plus_noise=True,
        zero_rate_range=(0.0, 0.25),
    ),
    "hard": CubeDifficulty(
        name="hard",
        noise_range=(0.1, 0.3),
        heteroscedastic=True,
        magnitude_range=(0.1, 0.4),
        magnitude_plus_noise=False,
        zero_rate_range=(0.0, 0.25),
    ),
}


def resolve_difficulty(difficulty: str | CubeDifficulty) -> CubeDifficulty:
    """Return the :class:`CubeDifficulty` named ``difficulty`` (or it, if given).

    Examples
    --------
    >>> resolve_difficulty("hard").magnitude_range
    (0.1, 0.4)
    """
    if isinstance(difficulty, CubeDifficulty):
        _check_difficulty(difficulty)
        return difficulty
    if isinstance(difficulty, str) and difficulty in DIFFICULTIES:
        return DIFFICULTIES[difficulty]
    raise ParameterError(
        f"difficulty must be one of {sorted(DIFFICULTIES)!r} or a CubeDifficulty, "
        f"got {difficulty!r}"
    )


def _check_difficulty(difficulty: CubeDifficulty) -> None:
    ranges = {
        "noise_range": (difficulty.noise_range, 0.0, 0.5),
        "magnitude_range": (difficulty.magnitude_range, 0.0, 2.0),
        "zero_rate_range": (difficulty.zero_rate_range, 0.0, 0.9),
        "noise_clip": (difficulty.noise_clip, 0.01, 100.0),
    }
    for name, (bounds, low, high) in ranges.items():
        if not (len(bounds) == 2 and low <= bounds[0] <= bounds[1] <= high):
            raise ParameterError(
                f"CubeDifficulty.{name} must be (low, high) with "
                f"{low} <= low <= high <= {high}, got {bounds!r}"
            )


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
        Standard deviation of the relative noise of a leaf of median size (of
        every leaf when the noise is not heteroscedastic).
    kind : {"additive", "ratio"}
        Which KPI the case explains.
    seed : int
        The seed that reproduces the case.
    difficulty : str
        The name of the :class:`CubeDifficulty` used.
    """

    leaves: pd.DataFrame
    dimensions: tuple[str, ...]
    root_causes: tuple[str, ...]
    magnitudes: tuple[float, ...]
    noise_level: float
    kind: Literal["additive", "ratio"]
    seed: int
    difficulty: str

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


def leaf_noise_sd(
    base: np.ndarray,
    noise_level: float,
    *,
    heteroscedastic: bool,
    clip: tuple[float, float] = (0.25, 3.0),
) -> np.ndarray:
    """Relative noise standard deviation of each leaf.

    Parameters
    ----------
    base : numpy.ndarray
        Expected leaf values (any unit; only their ratio to the median of the
        positive values matters).
    noise_level : float
        Relative standard deviation of a leaf of median size.
    heteroscedastic : bool
        Scale by ``sqrt(median / base)`` (clipped to ``clip``) or not.

    Returns
    -------
    numpy.ndarray
        One standard deviation per leaf (``noise_level * clip[1]`` for leaves
        at 0, which stay at 0 under relative noise anyway).

    Examples
    --------
    >>> base = np.array([1.0, 25.0, 100.0, 400.0, 1e6])  # median 100
    >>> leaf_noise_sd(base, 0.1, heteroscedastic=True).round(3).tolist()
    [0.3, 0.2, 0.1, 0.05, 0.025]
    """
    if not heteroscedastic:
        return np.full(base.shape, float(noise_level))
    positive = base[base > 0]
    median = float(np.median(positive)) if positive.size else 1.0
    safe = np.where(base > 0, base, median * 1e-12)
    factor = np.clip(np.sqrt(median / safe), *clip)
    sd: np.ndarray = noise_level * factor
    return sd


def _noisy(rng: np.random.Generator, values: np.ndarray, sd: np.ndarray) -> np.ndarray:
    noise = rng.normal(0.0, 1.0, size=values.shape) * sd
    noisy: np.ndarray = np.maximum(values * (1.0 + noise), 0.0)
    return noisy


def _draw_magnitudes(
    rng: np.random.Generator,
    count: int,
    noise_level: float,
    difficulty: CubeDifficulty,
) -> np.ndarray:
    size = rng.uniform(*difficulty.magnitude_range, size=count)
    if difficulty.magnitude_plus_noise:
        size = size + noise_level
    sign = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    return np.where(sign < 0, -np.minimum(size, MAX_FALL), size)


def generate_cube_case(
    seed: int,
    *,
    n_leaves: int = 20_000,
    n_dims: int | None = None,
    n_root_causes: int | None = None,
    depth: int | None = None,
    noise_level: float | None = None,
    ratio: bool = False,
    difficulty: str | CubeDifficulty = "standard",
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
        Relative noise of a leaf of median size (standard deviation, 0 to
        0.5); drawn from the difficulty's ``noise_range`` when omitted.
    ratio : bool
        Generate a ratio-KPI case (numerator and denominator per leaf).
    difficulty : str or CubeDifficulty
        ``"easy"``, ``"standard"`` (default) or ``"hard"`` (see
        :data:`DIFFICULTIES`), or a :class:`CubeDifficulty` of your own.

    Returns
    -------
    CubeCase
        The leaf table, the dimensions and the injected root causes.

    Examples
    --------
    >>> case = generate_cube_case(7, n_leaves=2000, n_root_causes=2, depth=1)
    >>> len(case.root_causes), case.label.count(";"), case.difficulty
    (2, 1, 'standard')
    """
    setting = resolve_difficulty(difficulty)
    _check_whole(n_leaves, name="n_leaves", low=1_000, high=500_000)
    rng = np.random.default_rng(seed)
    n_dims = int(rng.integers(4, 6)) if n_dims is None else n_dims
    _check_whole(n_dims, name="n_dims", low=4, high=5)
    count = int(rng.integers(1, 4)) if n_root_causes is None else n_root_causes
    _check_whole(count, name="n_root_causes", low=1, high=3)
    if depth is not None:
        _check_whole(depth, name="depth", low=1, high=3)
    if noise_level is None:
        noise_level = float(rng.uniform(*setting.noise_range))
    elif not 0.0 <= noise_level <= 0.5:
        raise ParameterError(f"noise_level must be in 0..0.5, got {noise_level!r}")

    dimensions = tuple(DIMENSION_NAMES[:n_dims])
    cube = _full_cube(dimensions, _member_counts(rng, n_dims, n_leaves))
    shape = float(rng.uniform(*WEIBULL_SHAPE_RANGE))
    zero_rate = float(rng.uniform(*setting.zero_rate_range))
    base = rng.weibull(shape, size=len(cube)) * 100.0
    base[rng.random(len(cube)) < zero_rate] = 0.0

    depths = [int(rng.integers(1, 4)) if depth is None else depth for _ in range(count)]
    segments, _ = _draw_root_causes(
        rng, cube, base, dimensions=dimensions, depths=depths
    )
    magnitudes = _draw_magnitudes(rng, count, noise_level, setting)
    factor = np.ones(len(cube))
    for segment, magnitude in zip(segments, magnitudes, strict=True):
        factor[segment_mask(cube, segment)] = 1.0 + magnitude

    sd = leaf_noise_sd(
        base,
        noise_level,
        heteroscedastic=setting.heteroscedastic,
        clip=setting.noise_clip,
    )
    if ratio:
        leaves = _ratio_leaves(rng, cube, base, factor, sd, dimensions)
    else:
        leaves = cube.assign(real=_noisy(rng, base * factor, sd), predict=base)
    return CubeCase(
        leaves=leaves,
        dimensions=dimensions,
        root_causes=tuple(segments),
        magnitudes=tuple(float(m) for m in magnitudes),
        noise_level=float(noise_level),
        kind="ratio" if ratio else "additive",
        seed=int(seed),
        difficulty=setting.name,
    )


def _ratio_leaves(
    rng: np.random.Generator,
    cube: pd.DataFrame,
    base: np.ndarray,
    factor: np.ndarray,
    sd: np.ndarray,
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
    denominator_target = _noisy(rng, denominator_base * volume, sd)
    ratio_target = ratio_base * factor * (1.0 + rng.normal(0.0, 1.0, len(cube)) * sd)
    ratio_target = np.maximum(ratio_target, 0.0)
    numerator_base = ratio_base * denominator_base
    numerator_target = ratio_target * denominator_target
    return cube.assign(
        numerator_base=numerator_base,
        denominator_base=denominator_base,
        numerator_target=numerator_target,
        denominator_target=denominator_target,
    )
