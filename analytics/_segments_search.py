"""Multidimensional root-cause localization on an aligned leaf table.

A leaf is one combination of all dimension values, with an expected value
(``predict``, the base day) and an observed one (``real``, the target day). The
search looks for the smallest set of segments (some dimensions fixed, the rest
free) whose leaves, and only whose leaves, moved, each by one common relative
amount. The design, in five steps:

1. **Leaf change.** ``x = (real - predict) / predict`` for leaves with
   ``predict > 0`` (others carry no weight), capped at +-10. A leaf of a
   segment that moved by ``m`` has ``x = m + (1 + m) e``, ``e`` its relative
   noise.
2. **Noise model.** On a casino floor (and in most cubes) small leaves are far
   noisier than large ones, so the relative noise is measured per size band:
   the leaves are split into ten bands (deciles of ``predict``), and in each
   the spread of ``x`` around its neighbourhood (leaves differing in one
   dimension only, which share their root-cause status almost always) is
   measured by the MAD, per dimension, least over dimensions. Between bands
   the variance is interpolated in log-log space (where a Poisson-like
   ``1 / predict`` law is a line). Each leaf then counts by its precision
   ``w = 1 / variance``: a tiny leaf that doubles by chance cannot make a
   segment.
3. **Candidates.** Every segment up to ``max_depth`` is scored by the weighted
   least-squares gain of giving it its own change, ``gain = (sum w x)**2 /
   sum w``; under the noise model and no move it is chi-square(1). A segment
   is *significant* when it beats twice the chi-square(1) quantile at 1 %
   after a Bonferroni correction over all candidates, and *pure* when
   splitting it by any further dimension explains no more than noise would
   (between-child sum of squares, divided by ``(1 + m)**2`` for the segment's
   move ``m`` since relative noise scales with the level, below twice its
   chi-square quantile at 1e-4): an ancestor mixing moved and unmoved leaves
   fails, the true segment and its descendants pass, and among those the true
   segment has the largest score.
4. **Greedy cover.** The pure, significant segment with the largest score is
   taken (ties to the shallower), its leaves are removed from every cuboid's
   sums, and the search repeats until no segment qualifies. Pieces of one
   parent that moved alike are then replaced by the parent (siblings whose
   parent's other leaves moved the same way; descendants found before a
   root cause whose remainder moved the same way).
5. **Minimum share.** A root cause whose own change ``|real - predict|`` is
   below ``min_share`` (default 1 %) of the larger of the total change and
   the root causes' summed changes is dropped: significant but immaterial.

Everything is vectorised with integer group codes and ``numpy.bincount``;
the groups of all cuboids lie side by side, so that a round of the search is a
few array operations whatever the number of cuboids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import special

from analytics._frames import check_columns
from analytics.errors import ColumnError, DuplicateKeyError, InputError, ParameterError

__all__ = [
    "MIN_SHARE",
    "Localization",
    "NoiseModel",
    "SegmentRows",
    "check_finite",
    "check_min_share",
    "find_segments",
    "localize_root_causes",
    "segment_string",
]

SIGNIFICANCE = 0.01
SIGNIFICANCE_SLACK = 2.0
PURITY_LEVEL = 1e-4
PURITY_SLACK = 2.0
MAX_ROOT_CAUSES = 10
NOISE_FLOOR = 1e-3
# Size bands of the noise model (quantiles of the expected leaf value).
NOISE_BANDS = 10
# The purity test treats a fall of more than 95 % as a fall of 95 %.
MIN_LEVEL = 0.05
MIN_SHARE = 0.01
# Chi-square score the rest of a parent must reach to be merged with the
# siblings found (3 standard deviations).
MERGE_EVIDENCE = 9.0
# Segments listed besides the root causes.
N_OTHER_CANDIDATES = 20
# Largest relative change a leaf can show (10 = +1,000 %).
CHANGE_CAP = 10.0
# Dense group codes while the cuboid has at most this many cells per leaf.
DENSE_FACTOR = 8


@dataclass(frozen=True)
class Localization:
    """Root causes found on a leaf table.

    Attributes
    ----------
    root_causes : tuple of str
        The segments, most important first, e.g. ``("a=a1&c=c3", "b=b2")``.
    candidates : pandas.DataFrame
        The root causes and the strongest other segments: ``segment``, ``key``
        (the segment as a tuple of ``(dimension, member)`` pairs), ``depth``,
        ``real``, ``predict``, ``deviation`` (symmetric relative change of the
        segment), ``score`` (gain over noise variance when first scored),
        ``is_root_cause``.
    noise_scale : float
        The estimated relative noise of a leaf (sigma of ``s``).
    """

    root_causes: tuple[str, ...]
    candidates: pd.DataFrame
    noise_scale: float


@dataclass(frozen=True)
class _Cuboid:
    """The segments fixing one set of dimensions, as group codes per leaf."""

    dims: tuple[int, ...]
    group: np.ndarray
    members: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.members.shape[0])


def segment_string(
    dimensions: Sequence[str], dims: Sequence[int], members: Sequence[object]
) -> str:
    """Format a segment the fixed way: ``"zone=Z2&denomination=1.00"``."""
    return "&".join(
        f"{dimensions[d]}={m}" for d, m in sorted(zip(dims, members, strict=True))
    )


def _build_cuboid(
    codes: np.ndarray, sizes: np.ndarray, dims: tuple[int, ...]
) -> _Cuboid:
    shape = tuple(int(sizes[d]) for d in dims)
    flat = np.ravel_multi_index(tuple(codes[:, d] for d in dims), shape)
    # Python's exact product: np.prod costs more than the rest on a small floor.
    n_cells = math.prod(shape)
    if n_cells <= DENSE_FACTOR * codes.shape[0] + 1024:
        cells = np.arange(n_cells)
        group = flat
    else:
        cells, group = np.unique(flat, return_inverse=True)
    members = np.stack(np.unravel_index(cells, shape), axis=1)
    return _Cuboid(dims=dims, group=group.astype(np.intp, copy=False), members=members)


@dataclass(frozen=True)
class _Links:
    """Every candidate's children, for the purity test of all cuboids at once.

    A *link* joins a candidate cuboid to one of its child cuboids (one more
    dimension fixed); it has one bin per group of the candidate. Child group
    ``entry_children[i]`` (an index into the lattice's bins) falls into link
    bin ``entry_bins[i]``; link bin ``b`` belongs to candidate group
    ``parents[b]`` (also a lattice bin).
    """

    entry_bins: np.ndarray
    entry_children: np.ndarray
    parents: np.ndarray


class _Lattice:
    """All cuboids up to ``max_depth + 1`` and the parent-child maps between them.

    The groups of all cuboids are also laid side by side as *bins*, the
    candidates' first: cuboid ``dims`` holds bins ``offsets[dims]`` onwards.
    A search round then scores every candidate in a few array operations
    instead of a few per cuboid, which on a small floor cost more than the
    arithmetic.
    """

    def __init__(self, codes: np.ndarray, sizes: np.ndarray, max_depth: int) -> None:
        n_dims = codes.shape[1]
        # A segment has at most this many children along one dimension.
        self.max_members = int(sizes.max())
        depth_limit = min(max_depth + 1, n_dims)
        self.cuboids: dict[tuple[int, ...], _Cuboid] = {}
        for depth in range(1, depth_limit + 1):
            for dims in combinations(range(n_dims), depth):
                self.cuboids[dims] = _build_cuboid(codes, sizes, dims)
        self.candidates = [c for c in self.cuboids if len(c) <= max_depth]
        counts = [cuboid.n_groups for cuboid in self.cuboids.values()]
        starts = np.concatenate([[0], np.cumsum(counts)])
        self.starts = starts[:-1]
        self.offsets = dict(zip(self.cuboids, self.starts.tolist(), strict=True))
        self.n_candidate_bins = int(starts[len(self.candidates)])
        # Each candidate bin's group within its cuboid.
        self.bin_group = np.arange(self.n_candidate_bins) - np.repeat(
            self.starts[: len(self.candidates)], counts[: len(self.candidates)]
        )
        self.links = self._links(n_dims)

    def _links(self, n_dims: int) -> _Links:
        entry_bins, entry_children, parents = [], [], []
        n_link_bins = 0
        for dims in self.candidates:
            parent = self.cuboids[dims]
            for extra in range(n_dims):
                if extra in dims:
                    continue
                child_dims = tuple(sorted((*dims, extra)))
                child = self.cuboids[child_dims]
                parent_of_child = np.zeros(child.n_groups, dtype=np.intp)
                parent_of_child[child.group] = parent.group
                entry_bins.append(n_link_bins + parent_of_child)
                start = self.offsets[child_dims]
                entry_children.append(np.arange(start, start + child.n_groups))
                start = self.offsets[dims]
                parents.append(np.arange(start, start + parent.n_groups))
                n_link_bins += parent.n_groups
        empty = [np.zeros(0, dtype=np.intp)]
        return _Links(
            entry_bins=np.concatenate(entry_bins or empty),
            entry_children=np.concatenate(entry_children or empty),
            parents=np.concatenate(parents or empty),
        )


def _validate_leaves(
    leaves: pd.DataFrame, dimensions: Sequence[str], real: str, predict: str
) -> None:
    if not isinstance(leaves, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(leaves).__name__}")
    if leaves.empty:
        raise InputError("the leaf table is empty: no rows to localize")
    if not dimensions:
        raise ParameterError("dimensions must name at least one column, got []")
    check_columns(leaves, dimensions, role="dimension")
    check_columns(leaves, [real, predict], role="measure")
    for column in (real, predict):
        values = leaves[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(
            values
        ):
            raise ColumnError(
                f"measure column {column!r} must be numeric, got dtype {values.dtype}"
            )
        check_finite(column, values.to_numpy(dtype=np.float64))
    duplicated = leaves.duplicated(subset=list(dimensions))
    if duplicated.any():
        first = leaves.loc[duplicated, list(dimensions)].iloc[0].tolist()
        raise DuplicateKeyError(
            f"{int(duplicated.sum())} leaves repeat a segment (first: {first!r}); "
            "give one row per combination of the dimensions"
        )


def check_finite(column: str, values: np.ndarray) -> None:
    """Raise ColumnError unless every value of the measure ``column`` is finite."""
    if not np.isfinite(values).all():
        raise ColumnError(f"measure column {column!r} holds NaN or infinite values")


def _leaf_deviation(real: np.ndarray, predict: np.ndarray) -> np.ndarray:
    scale = np.abs(real) + np.abs(predict)
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, 2.0 * (real - predict) / safe, 0.0)


def _relative_change(real: np.ndarray, predict: np.ndarray) -> np.ndarray:
    """``(real - predict) / predict`` where ``predict > 0``, else 0 (weight 0).

    Bounded by ``CHANGE_CAP``: a leaf that grows tenfold from almost nothing
    is evidence of a rise, not of an infinite one.
    """
    positive = predict > 0
    safe = np.where(positive, predict, 1.0)
    with np.errstate(over="ignore"):
        change = np.where(positive, (real - predict) / safe, 0.0)
    return np.clip(change, -CHANGE_CAP, CHANGE_CAP)


@dataclass(frozen=True)
class NoiseModel:
    """Variance of a leaf's relative change as a function of its expected value.

    Measured in size bands: ``volumes`` are the bands' median expected values
    (increasing), ``variances`` the relative noise variance measured in each.
    Between bands the variance is interpolated linearly in log-log space (a
    Poisson-like ``1 / volume`` law is a straight line there); beyond the first
    and last band it stays flat. ``reference_volume`` is the median expected
    value of all leaves.
    """

    volumes: tuple[float, ...]
    variances: tuple[float, ...]
    reference_volume: float

    def variance(self, predict: np.ndarray) -> np.ndarray:
        """Relative noise variance of leaves of expected value ``predict``."""
        floor = NOISE_FLOOR**2
        log_variance = np.log(np.maximum(np.asarray(self.variances), floor))
        if len(self.volumes) == 1:
            return np.full(np.shape(predict), float(np.exp(log_variance[0])))
        safe = np.where(predict > 0, predict, self.volumes[0])
        value = np.interp(np.log(safe), np.log(np.asarray(self.volumes)), log_variance)
        variance: np.ndarray = np.maximum(np.exp(value), floor)
        return variance

    @property
    def scale(self) -> float:
        """Relative noise (standard deviation) of a leaf of median size."""
        reference = np.array([self.reference_volume])
        return float(np.sqrt(self.variance(reference)[0]))


def _cell_codes(codes: np.ndarray, varied: int) -> np.ndarray:
    """Group code per leaf: leaves sharing every dimension but ``varied``."""
    others = [d for d in range(codes.shape[1]) if d != varied]
    if not others:
        return np.zeros(codes.shape[0], dtype=np.intp)
    shape = tuple(int(codes[:, d].max()) + 1 for d in others)
    flat = np.ravel_multi_index(tuple(codes[:, d] for d in others), shape)
    if np.prod(shape, dtype=np.float64) <= DENSE_FACTOR * codes.shape[0] + 1024:
        return np.asarray(flat, dtype=np.intp)
    return np.unique(flat, return_inverse=True)[1].astype(np.intp)


def _cell_residuals(
    codes: np.ndarray, values: np.ndarray, prior: np.ndarray, varied: int
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals from the cell mean, cells = leaves differing only in ``varied``.

    Returns the residuals scaled for the cell size (``sqrt(n / (n - 1))``) and a
    mask of the leaves in cells of at least two.
    """
    cell = _cell_codes(codes, varied)
    weight_sum = np.bincount(cell, prior)
    value_sum = np.bincount(cell, prior * values)
    # A (precision-weighted) cell mean: the few cells that straddle a root
    # cause are outvoted by the MAD below.
    centre = value_sum[cell] / np.where(weight_sum > 0, weight_sum, 1.0)[cell]
    sizes = np.bincount(cell)[cell].astype(np.float64)
    usable = sizes >= 2
    correction = np.sqrt(sizes / np.maximum(sizes - 1.0, 1.0))
    return (values - centre) * correction, usable


def _volume_bands(volume: np.ndarray, n_bands: int) -> np.ndarray:
    if n_bands == 1:
        # A small floor: np.quantile costs more than the rest of the model.
        return np.zeros(volume.size, dtype=np.intp)
    edges = np.quantile(volume, np.linspace(0.0, 1.0, n_bands + 1)[1:-1])
    return np.searchsorted(edges, volume, side="right")


def _band_medians(
    volume: np.ndarray, band: np.ndarray, n_bands: int, reference: float
) -> np.ndarray:
    """The median expected value of each band (one band: the ``reference``)."""
    if n_bands == 1:
        return np.array([reference])
    return np.array([np.median(volume[band == k]) for k in range(n_bands)])


def _noise_model(
    codes: np.ndarray, change: np.ndarray, predict: np.ndarray, *, size_aware: bool
) -> NoiseModel:
    """Measure the relative noise per size band from neighbourhood residuals."""
    positive = predict > 0
    if positive.sum() < 2:
        return NoiseModel((1.0,), (NOISE_FLOOR**2,), 1.0)
    volume, values = predict[positive], change[positive]
    reference = float(np.median(volume))
    n_bands = NOISE_BANDS if size_aware and volume.size >= 50 * NOISE_BANDS else 1
    band = _volume_bands(volume, n_bands)
    prior = volume / (volume + reference)
    # One band may be a small floor: two leaves of a cell already measure it.
    least = 5 if n_bands > 1 else 2
    spreads = np.full((codes.shape[1], n_bands), np.inf)
    leaf_codes = codes[positive]
    for varied in range(codes.shape[1]):
        residual, usable = _cell_residuals(leaf_codes, values, prior, varied)
        for k in range(n_bands):
            chosen = usable & (band == k)
            if chosen.sum() >= least:
                spreads[varied, k] = 1.4826 * np.median(np.abs(residual[chosen]))
    # Cells straddle a root cause only in the dimensions it fixes, so the
    # least spread over dimensions is the cleanest estimate of each band.
    spread = np.min(spreads, axis=0)
    medians = _band_medians(volume, band, n_bands, reference)
    measured = np.isfinite(spread) & (medians > 0)
    if not measured.any():
        fallback = 1.4826 * float(np.median(np.abs(values)))
        return NoiseModel((reference,), (max(fallback, NOISE_FLOOR) ** 2,), reference)
    return NoiseModel(
        volumes=tuple(float(v) for v in medians[measured]),
        variances=tuple(float(v) ** 2 for v in spread[measured]),
        reference_volume=reference,
    )


@dataclass(frozen=True)
class _Scores:
    dims: tuple[int, ...]
    index: np.ndarray
    gain: np.ndarray
    zscore: np.ndarray
    pure: np.ndarray


# The weight and the weighted change of every bin of the lattice.
_Sums = tuple[np.ndarray, np.ndarray]


def _group_sums(
    lattice: _Lattice, weight: np.ndarray, weighted_change: np.ndarray
) -> _Sums:
    sums = []
    for values in (weight, weighted_change):
        sums.append(
            np.concatenate(
                [
                    np.bincount(cuboid.group, values, minlength=cuboid.n_groups)
                    for cuboid in lattice.cuboids.values()
                ]
            )
        )
    return sums[0], sums[1]


def _remove_leaves(
    lattice: _Lattice,
    sums: _Sums,
    removed: np.ndarray,
    weight: np.ndarray,
    weighted_change: np.ndarray,
) -> None:
    """Subtract the removed leaves from every cuboid's sums (cheaper than redoing)."""
    total_weight, total_change = sums
    bins = np.concatenate(
        [
            cuboid.group[removed] + lattice.offsets[dims]
            for dims, cuboid in lattice.cuboids.items()
        ]
    )
    n_cuboids = len(lattice.cuboids)
    np.subtract.at(total_weight, bins, np.tile(weight[removed], n_cuboids))
    np.subtract.at(total_change, bins, np.tile(weighted_change[removed], n_cuboids))
    # Rounding must not leave a removed segment with a tiny weight (relative
    # to its cuboid's largest).
    largest = np.maximum(np.maximum.reduceat(total_weight, lattice.starts), 1.0)
    counts = np.diff(np.append(lattice.starts, total_weight.size))
    total_weight[total_weight < np.repeat(1e-9 * largest, counts)] = 0.0


def _gain(total_weight: np.ndarray, total_change: np.ndarray) -> np.ndarray:
    safe = np.where(total_weight > 0, total_weight, 1.0)
    return np.where(total_weight > 0, total_change**2 / safe, 0.0)


def _purity_limits(lattice: _Lattice) -> np.ndarray:
    """``PURITY_SLACK`` times the chi-square quantile, by degrees of freedom."""
    most = lattice.max_members
    dof = np.arange(0, most + 1, dtype=np.float64)
    limits: np.ndarray = PURITY_SLACK * _chi2_isf(PURITY_LEVEL, np.maximum(dof, 1))
    return limits


def _chi2_isf(level: float, dof: float | np.ndarray) -> np.ndarray:
    """``scipy.stats.chi2.isf(level, dof)``, without its ~0.2 ms of checks per call.

    ``stats.chi2.isf`` computes exactly ``special.chdtri(dof, level)`` for a level
    in (0, 1), the only levels used here.
    """
    quantile: np.ndarray = special.chdtri(dof, level)
    return quantile


def _score_candidates(
    lattice: _Lattice, sums: _Sums, threshold: float, limits: np.ndarray
) -> list[_Scores]:
    """Score every candidate segment (with weight) of the lattice, by cuboid."""
    total_weight, total_change = sums
    gain = _gain(total_weight, total_change)
    candidates = slice(0, lattice.n_candidate_bins)
    weight = total_weight[candidates]
    safe = np.where(weight > 0, weight, 1.0)
    move = total_change[candidates] / safe
    # Significance is judged under the null (no move), so the gain itself is
    # the chi-square score; dividing it by (1 + m)**2 would let a tiny leaf
    # that fell to 0 by chance look like a certain fall.
    pure = gain[candidates] >= threshold
    # Within a moved segment the leaves carry (1 + m) times the noise, which
    # the purity test must allow for (a 90 % fall leaves a tenth of it).
    variance = np.maximum(1.0 + move, MIN_LEVEL) ** 2
    pure[~_pure_links(lattice.links, total_weight, gain, variance, limits)] = False
    index = np.flatnonzero(weight > 0)
    bounds = np.searchsorted(
        index, [*lattice.starts[: len(lattice.candidates)], lattice.n_candidate_bins]
    )
    group, score, clean = lattice.bin_group[index], gain[index], pure[index]
    scores = []
    for position, dims in enumerate(lattice.candidates):
        part = slice(bounds[position], bounds[position + 1])
        scores.append(
            _Scores(
                dims=dims,
                index=group[part],
                gain=score[part],
                zscore=score[part],
                pure=clean[part],
            )
        )
    return scores


def _pure_links(
    links: _Links,
    total_weight: np.ndarray,
    gain: np.ndarray,
    variance: np.ndarray,
    limits: np.ndarray,
) -> np.ndarray:
    """Whether each candidate group passes the purity test of every link."""
    pure = np.ones(variance.size, dtype=bool)
    child_gain = gain[links.entry_children]
    n_bins = links.parents.size
    between = np.bincount(links.entry_bins, child_gain, minlength=n_bins)
    between = np.maximum(between - gain[links.parents], 0.0)
    weighed = total_weight[links.entry_children] > 0
    n_children = np.bincount(links.entry_bins[weighed], minlength=n_bins)
    # Generous on purpose: a parent mixing moved and unmoved leaves exceeds
    # the noise by orders of magnitude, while a misjudged noise scale must not
    # break a true segment into its children.
    limit = limits[np.maximum(n_children - 1, 1)]
    passed = between / variance[links.parents] <= limit
    pure[links.parents[~passed]] = False
    return pure


def _best_candidate(scores: list[_Scores]) -> tuple[_Scores, int] | None:
    best: tuple[_Scores, int] | None = None
    best_key = (-np.inf, 0)
    for score in scores:
        eligible = np.flatnonzero(score.pure)
        if eligible.size == 0:
            continue
        top = int(eligible[np.argmax(score.zscore[eligible])])
        # Ties (within rounding) go to the shallower segment.
        key = (round(float(score.zscore[top]), 9), -len(score.dims))
        if key > best_key:
            best, best_key = (score, top), key
    return best


def _check_options(max_depth: object, n_dims: int, min_share: object) -> None:
    if isinstance(max_depth, bool) or not isinstance(max_depth, int | np.integer):
        raise ParameterError(f"max_depth must be a whole number, got {max_depth!r}")
    if not 1 <= max_depth <= n_dims:
        raise ParameterError(
            f"max_depth must be in 1..{n_dims} (the number of dimensions), "
            f"got {max_depth!r}"
        )
    check_min_share(min_share)


def check_min_share(min_share: object) -> float:
    """Return ``min_share`` as a float, or raise ParameterError unless in [0, 1).

    Examples
    --------
    >>> check_min_share(0.05)
    0.05
    """
    if (
        isinstance(min_share, bool)
        or not isinstance(min_share, int | float | np.floating | np.integer)
        or not 0.0 <= float(min_share) < 1.0
    ):
        raise ParameterError(f"min_share must be a number in [0, 1), got {min_share!r}")
    return float(min_share)


def localize_root_causes(
    leaves: pd.DataFrame,
    dimensions: Sequence[str] | None = None,
    *,
    real: str = "real",
    predict: str = "predict",
    max_depth: int = 3,
    min_share: float = MIN_SHARE,
    size_aware: bool = True,
) -> Localization:
    """Find the smallest set of segments that explains the change of a leaf table.

    Parameters
    ----------
    leaves : pandas.DataFrame
        One row per leaf: the dimension columns and two numeric columns, the
        observed value ``real`` (target day) and the expected value ``predict``
        (base day), in the KPI's unit (e.g. dollars of coin_in).
    dimensions : sequence of str, optional
        The dimension columns, in the order used in segment strings. Default:
        every column except ``real`` and ``predict``.
    real, predict : str
        Names of the observed and expected columns.
    max_depth : int
        Deepest segment considered (number of fixed dimensions), 1 to
        ``len(dimensions)``.
    min_share : float
        Smallest share of the change a root cause must carry, in [0, 1): its
        ``|real - predict|`` against the larger of the total's and the sum over
        the root causes found (default 0.01). Smaller segments are significant
        but not worth a casino manager's time; they stay in the candidates.
    size_aware : bool
        Model the noise as larger on small leaves (relative variance
        ``a + b / predict``, fitted per size band) and weigh leaves by their
        precision; with ``False`` every leaf has the same relative noise.

    Returns
    -------
    Localization
        The root-cause segments and the strongest candidates with their scores.

    Examples
    --------
    >>> import pandas as pd
    >>> leaves = pd.DataFrame({
    ...     "zone": ["Z1", "Z1", "Z2", "Z2"] * 3,
    ...     "denom": ["0.01", "1.00"] * 6,
    ...     "bank": [f"B{i // 4}" for i in range(12)],
    ...     "predict": [100.0, 200.0, 150.0, 120.0] * 3,
    ... })
    >>> leaves["real"] = leaves["predict"] * ([1.0, 1.0, 0.5, 0.5] * 3)
    >>> localize_root_causes(leaves, ["zone", "denom", "bank"]).root_causes
    ('zone=Z2',)
    """
    if dimensions is None:
        dimensions = [c for c in leaves.columns if c not in (real, predict)]
    dimensions = list(dimensions)
    _validate_leaves(leaves, dimensions, real, predict)
    _check_options(max_depth, len(dimensions), min_share)

    labels = []
    codes = np.empty((len(leaves), len(dimensions)), dtype=np.intp)
    for position, name in enumerate(dimensions):
        codes[:, position], uniques = pd.factorize(leaves[name], sort=True)
        labels.append(np.asarray(uniques, dtype=object))
    values = _LeafValues(
        real=leaves[real].to_numpy(dtype=np.float64),
        predict=leaves[predict].to_numpy(dtype=np.float64),
    )
    rows = find_segments(
        codes,
        labels,
        dimensions,
        values.real,
        values.predict,
        max_depth=int(max_depth),
        min_share=float(min_share),
        size_aware=size_aware,
    )
    return _assemble(rows, values)


@dataclass(frozen=True)
class SegmentRows:
    """The segments found on a leaf table, root causes first.

    Attributes
    ----------
    segments : tuple of str
        The segments, e.g. ``"zone=Z2&denomination=1.00"``: the root causes,
        most important first, then the strongest other candidates.
    keys : tuple
        Each segment as a tuple of ``(dimension, member)`` pairs.
    depths : tuple of int
        The number of fixed dimensions of each segment.
    masks : tuple of numpy.ndarray
        Each segment's leaves, as a boolean mask over the leaf table.
    scores : tuple of float
        Each segment's gain over the noise variance when first scored.
    is_root_cause : tuple of bool
        Whether the segment is in the root-cause set.
    noise_scale : float
        The estimated relative noise of a leaf of median size.
    """

    segments: tuple[str, ...]
    keys: tuple[tuple[tuple[str, object], ...], ...]
    depths: tuple[int, ...]
    masks: tuple[np.ndarray, ...]
    scores: tuple[float, ...]
    is_root_cause: tuple[bool, ...]
    noise_scale: float


def find_segments(
    codes: np.ndarray,
    labels: Sequence[np.ndarray],
    dimensions: Sequence[str],
    real: np.ndarray,
    predict: np.ndarray,
    *,
    max_depth: int,
    min_share: float,
    size_aware: bool = True,
) -> SegmentRows:
    """Localize root causes on leaves given as member codes, without a DataFrame.

    The search behind :func:`localize_root_causes`, for a caller that has
    validated its leaves itself (``rank_segments``): on a small floor building
    and checking a leaf table costs more than the search. ``codes[i, j]`` is
    leaf ``i``'s member of ``dimensions[j]`` as an index into ``labels[j]``,
    the dimension's member names in sorted order; the leaves are distinct and
    ``real`` and ``predict`` (float64) are finite. Nothing is checked here.
    """
    sizes = np.array([len(u) for u in labels], dtype=np.intp)
    values = _LeafValues(real=real, predict=predict)
    lattice = _Lattice(codes, sizes, int(max_depth))
    noise = _noise_model(
        codes,
        _relative_change(values.real, values.predict),
        values.predict,
        size_aware=size_aware,
    )
    chosen, first_scores = _search(lattice, values, noise)
    chosen = _drop_small(chosen, lattice, values, float(min_share))
    return _segment_rows(
        chosen, first_scores, lattice, list(labels), list(dimensions), noise.scale
    )


@dataclass(frozen=True)
class _LeafValues:
    real: np.ndarray
    predict: np.ndarray


def _search(
    lattice: _Lattice, values: _LeafValues, noise: NoiseModel
) -> tuple[list[tuple[tuple[int, ...], int, float]], list[_Scores]]:
    change = _relative_change(values.real, values.predict)
    # Precision weights: a leaf counts by the inverse of its noise variance.
    weight = np.where(values.predict > 0, 1.0 / noise.variance(values.predict), 0.0)
    weighted_change = weight * change
    n_candidates = sum(lattice.cuboids[d].n_groups for d in lattice.candidates)
    # Twice the Bonferroni quantile: the noise model is itself an estimate and
    # real noise has heavier tails than the Gaussian the quantile assumes.
    bonferroni = _chi2_isf(SIGNIFICANCE / max(n_candidates, 1), 1)
    threshold = SIGNIFICANCE_SLACK * float(bonferroni)

    sums = _group_sums(lattice, weight, weighted_change)
    limits = _purity_limits(lattice)
    chosen: list[tuple[tuple[int, ...], int, float]] = []
    first_scores: list[_Scores] | None = None
    while len(chosen) < MAX_ROOT_CAUSES:
        scores = _score_candidates(lattice, sums, threshold, limits)
        if first_scores is None:
            first_scores = scores
        best = _best_candidate(scores)
        if best is None:
            break
        score, position = best
        group = int(score.index[position])
        chosen.append((score.dims, group, float(score.zscore[position])))
        removed = np.flatnonzero(lattice.cuboids[score.dims].group == group)
        _remove_leaves(lattice, sums, removed, weight, weighted_change)
    chosen = _merge_siblings(chosen, lattice, weight, weighted_change)
    return chosen, first_scores or []


_Chosen = tuple[tuple[int, ...], int, float]


def _merge_siblings(
    chosen: list[_Chosen],
    lattice: _Lattice,
    weight: np.ndarray,
    weighted_change: np.ndarray,
) -> list[_Chosen]:
    """Prefer a parent to pieces of it that moved the same way.

    Two cases: siblings (segments of one cuboid equal but in one dimension)
    chosen separately because their parent failed the purity test, when the
    parent's other leaves moved the same way (at least half as much, and
    clearly); and a root cause chosen after some of its own descendants (its
    remainder still moved), when they moved in the same direction. In both the
    parent is the simpler explanation.
    """
    merged = True
    while merged:
        merged = False
        for dims, group, _ in chosen:
            replacement = _absorb_descendants(
                chosen, dims, group, lattice, weighted_change
            ) or _sibling_parent(chosen, dims, group, lattice, weight, weighted_change)
            if replacement is not None:
                chosen, merged = replacement, True
                break
    return chosen


def _absorb_descendants(
    chosen: list[_Chosen],
    dims: tuple[int, ...],
    group: int,
    lattice: _Lattice,
    weighted_change: np.ndarray,
) -> list[_Chosen] | None:
    members = lattice.cuboids[dims].members[group]
    inside = [
        row
        for row in chosen
        if len(row[0]) > len(dims)
        and set(dims) <= set(row[0])
        and all(
            lattice.cuboids[row[0]].members[row[1]][row[0].index(d)] == m
            for d, m in zip(dims, members, strict=True)
        )
    ]
    if not inside:
        return None
    # The parent was chosen for its remainder: the direction that counts.
    remainder = _segment_sum(dims, group, lattice, weighted_change) - sum(
        _segment_sum(d, g, lattice, weighted_change) for d, g, _ in inside
    )
    own_direction = np.sign(remainder)
    if any(
        np.sign(_segment_sum(d, g, lattice, weighted_change)) != own_direction
        for d, g, _ in inside
    ):
        return None
    # The parent takes the place of its first-found descendant.
    first = chosen.index(inside[0])
    rest = [row for row in chosen if row not in inside]
    parent = next(row for row in rest if row[:2] == (dims, group))
    rest.remove(parent)
    rest.insert(min(first, len(rest)), parent)
    return rest


def _segment_sum(
    dims: tuple[int, ...], group: int, lattice: _Lattice, values: np.ndarray
) -> float:
    return float(values[lattice.cuboids[dims].group == group].sum())


def _sibling_parent(
    chosen: list[_Chosen],
    dims: tuple[int, ...],
    group: int,
    lattice: _Lattice,
    weight: np.ndarray,
    weighted_change: np.ndarray,
) -> list[_Chosen] | None:
    if len(dims) < 2:
        return None
    members = lattice.cuboids[dims].members
    for position in range(len(dims)):
        keep = [i for i in range(len(dims)) if i != position]
        siblings = [
            row
            for row in chosen
            if row[0] == dims and (members[row[1]][keep] == members[group][keep]).all()
        ]
        if len(siblings) < 2:
            continue
        parent_dims = tuple(dims[i] for i in keep)
        parent = lattice.cuboids[parent_dims]
        parent_group = int(
            np.flatnonzero((parent.members == members[group][keep]).all(axis=1))[0]
        )
        in_parent = parent.group == parent_group
        in_siblings = np.isin(lattice.cuboids[dims].group, [row[1] for row in siblings])
        others = [row for row in chosen if row not in siblings]
        if any(
            (in_parent & (lattice.cuboids[d].group == g)).any() for d, g, _ in others
        ):
            continue
        if _moved_alike(in_siblings, in_parent & ~in_siblings, weight, weighted_change):
            total_weight = float(weight[in_parent].sum())
            gain = float(weighted_change[in_parent].sum()) ** 2 / total_weight
            # The parent takes the place of its strongest child.
            merged: list[_Chosen] = []
            for row in chosen:
                if row not in siblings:
                    merged.append(row)
                elif row is siblings[0]:
                    merged.append((parent_dims, parent_group, gain))
            return merged
    return None


def _moved_alike(
    siblings: np.ndarray,
    rest: np.ndarray,
    weight: np.ndarray,
    weighted_change: np.ndarray,
) -> bool:
    rest_weight = float(weight[rest].sum())
    if rest_weight <= 0:
        return True
    sibling_move = float(weighted_change[siblings].sum()) / float(
        weight[siblings].sum()
    )
    rest_change = float(weighted_change[rest].sum())
    rest_move = rest_change / rest_weight
    clear = rest_change**2 / rest_weight >= MERGE_EVIDENCE
    return (
        clear
        and rest_move * sibling_move > 0
        and abs(rest_move) >= 0.5 * abs(sibling_move)
    )


def _drop_small(
    chosen: list[tuple[tuple[int, ...], int, float]],
    lattice: _Lattice,
    values: _LeafValues,
    min_share: float,
) -> list[tuple[tuple[int, ...], int, float]]:
    """Keep the root causes that carry at least ``min_share`` of the change."""
    if not chosen or min_share <= 0:
        return chosen
    moves = []
    for dims, group, _ in chosen:
        mask = lattice.cuboids[dims].group == group
        moves.append(abs(float(values.real[mask].sum() - values.predict[mask].sum())))
    total = abs(float(values.real.sum() - values.predict.sum()))
    # Root causes moving in opposite directions can cancel in the total, so the
    # sum of their own moves is the reference too.
    reference = max(total, sum(moves))
    return [
        row
        for row, move in zip(chosen, moves, strict=True)
        if move >= min_share * reference
    ]


def _reported(
    chosen: list[_Chosen], first_scores: list[_Scores]
) -> list[tuple[tuple[int, ...], int, float, bool]]:
    """The root causes, then the strongest other candidates of the first round."""
    rows = [(dims, group, zscore, True) for dims, group, zscore in chosen]
    picked = {(dims, group) for dims, group, _ in chosen}
    others = []
    keep = N_OTHER_CANDIDATES + len(picked)
    for score in first_scores:
        # Only each cuboid's strongest few can reach the overall top.
        top = np.argsort(-score.zscore, kind="stable")[:keep]
        for position in top:
            group = int(score.index[position])
            if (score.dims, group) not in picked:
                others.append((score.dims, group, float(score.zscore[position])))
    others.sort(key=lambda row: (-row[2], len(row[0])))
    rows.extend(
        (dims, group, z, False) for dims, group, z in others[:N_OTHER_CANDIDATES]
    )
    return rows


def _segment_rows(
    chosen: list[_Chosen],
    first_scores: list[_Scores],
    lattice: _Lattice,
    labels: list[np.ndarray],
    dimensions: list[str],
    sigma: float,
) -> SegmentRows:
    segments, keys, depths, masks, scores, roots = [], [], [], [], [], []
    for dims, group, zscore, is_root in _reported(chosen, first_scores):
        cuboid = lattice.cuboids[dims]
        codes = cuboid.members[group].tolist()
        members = [labels[d][m] for d, m in zip(dims, codes, strict=True)]
        segments.append(segment_string(dimensions, dims, members))
        keys.append(
            tuple((dimensions[d], m) for d, m in zip(dims, members, strict=True))
        )
        depths.append(len(dims))
        masks.append(cuboid.group == group)
        scores.append(zscore)
        roots.append(is_root)
    return SegmentRows(
        segments=tuple(segments),
        keys=tuple(keys),
        depths=tuple(depths),
        masks=tuple(masks),
        scores=tuple(scores),
        is_root_cause=tuple(roots),
        noise_scale=sigma,
    )


def _assemble(rows: SegmentRows, values: _LeafValues) -> Localization:
    records = []
    for index, mask in enumerate(rows.masks):
        seg_real = float(values.real[mask].sum())
        seg_predict = float(values.predict[mask].sum())
        records.append(
            {
                "segment": rows.segments[index],
                "key": rows.keys[index],
                "depth": rows.depths[index],
                "real": seg_real,
                "predict": seg_predict,
                "deviation": float(
                    _leaf_deviation(np.array([seg_real]), np.array([seg_predict]))[0]
                ),
                "score": rows.scores[index],
                "is_root_cause": rows.is_root_cause[index],
            }
        )
    candidates = pd.DataFrame.from_records(
        records,
        columns=[
            "segment",
            "key",
            "depth",
            "real",
            "predict",
            "deviation",
            "score",
            "is_root_cause",
        ],
    )
    root_causes = tuple(candidates.loc[candidates["is_root_cause"], "segment"])
    return Localization(
        root_causes=root_causes, candidates=candidates, noise_scale=rows.noise_scale
    )
