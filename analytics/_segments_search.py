"""Multidimensional root-cause localization on an aligned leaf table.

A leaf is one combination of all dimension values, with an expected value
(``predict``, the base day) and an observed one (``real``, the target day). The
search looks for the smallest set of segments (some dimensions fixed, the rest
free) whose leaves, and only whose leaves, moved, each by one common relative
amount. The design, in four steps:

1. **Leaf deviation.** ``s = 2 (real - predict) / (|real| + |predict|)``, the
   symmetric relative change, bounded in [-2, 2] so that leaves appearing from
   or falling to zero stay finite. A leaf that moves by the relative amount
   ``x`` with relative noise of standard deviation ``sigma`` has
   ``s = 2x / (2 + x)`` and noise ``sigma (1 - s**2 / 4)``. Each leaf carries a
   precision weight ``w = v / (v + v_ref)``, ``v`` its mean volume and
   ``v_ref`` the 5th percentile of the volumes: large leaves count fully, the
   tiniest ones (whose relative change is mostly chance) count less.
2. **Noise scale.** ``sigma`` is estimated robustly from neighbours: leaves
   that differ in one dimension only share their root-cause status almost
   always, so the spread of ``s`` around the mean of its neighbourhood
   (median absolute deviation, per dimension, least over dimensions) measures
   the noise even when many leaves are anomalous.
3. **Candidates.** Every segment up to ``max_depth`` is scored by the weighted
   least-squares gain of giving it its own change, ``gain = (sum w s)**2 /
   sum w``, in units of its noise variance. A segment is *significant* when its
   gain beats twice the chi-square(1) quantile at 1 % after a Bonferroni
   correction over all candidates, and *pure* when splitting it by any further
   dimension explains no more than noise would (between-child sum of squares
   below twice its chi-square quantile at 1e-4): an ancestor mixing moved and
   unmoved leaves fails, the true segment and its descendants pass, and among
   those the true segment has the largest gain.
4. **Greedy cover.** The pure, significant segment with the largest gain is
   taken (ties to the shallower), its leaves are removed, and the search
   repeats until no segment qualifies.

Everything is vectorised with integer group codes and ``numpy.bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from analytics._frames import check_columns
from analytics.errors import ColumnError, DuplicateKeyError, InputError, ParameterError

__all__ = ["Localization", "localize_root_causes", "segment_string"]

SIGNIFICANCE = 0.01
SIGNIFICANCE_SLACK = 2.0
PURITY_LEVEL = 1e-4
PURITY_SLACK = 2.0
MAX_ROOT_CAUSES = 10
NOISE_FLOOR = 1e-3
VOLUME_QUANTILE = 0.05
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
    n_leaves = codes.shape[0]
    if int(np.prod(shape, dtype=np.float64)) <= DENSE_FACTOR * n_leaves + 1024:
        cells = np.arange(int(np.prod(shape)))
        group = flat
    else:
        cells, group = np.unique(flat, return_inverse=True)
    members = np.stack(np.unravel_index(cells, shape), axis=1)
    return _Cuboid(dims=dims, group=group.astype(np.intp), members=members)


class _Lattice:
    """All cuboids up to ``max_depth + 1`` and the parent-child maps between them."""

    def __init__(self, codes: np.ndarray, sizes: np.ndarray, max_depth: int) -> None:
        n_dims = codes.shape[1]
        depth_limit = min(max_depth + 1, n_dims)
        self.cuboids: dict[tuple[int, ...], _Cuboid] = {}
        for depth in range(1, depth_limit + 1):
            for dims in combinations(range(n_dims), depth):
                self.cuboids[dims] = _build_cuboid(codes, sizes, dims)
        self.candidates = [c for c in self.cuboids if len(c) <= max_depth]
        self.children: dict[tuple[int, ...], list[tuple[tuple[int, ...], np.ndarray]]]
        self.children = {}
        for dims in self.candidates:
            parent = self.cuboids[dims]
            links = []
            for extra in range(n_dims):
                if extra in dims:
                    continue
                child = self.cuboids[tuple(sorted((*dims, extra)))]
                parent_of_child = np.zeros(child.n_groups, dtype=np.intp)
                parent_of_child[child.group] = parent.group
                links.append((child.dims, parent_of_child))
            self.children[dims] = links


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
        if not np.isfinite(values.to_numpy(dtype=np.float64)).all():
            raise ColumnError(f"measure column {column!r} holds NaN or infinite values")
    duplicated = leaves.duplicated(subset=list(dimensions))
    if duplicated.any():
        first = leaves.loc[duplicated, list(dimensions)].iloc[0].tolist()
        raise DuplicateKeyError(
            f"{int(duplicated.sum())} leaves repeat a segment (first: {first!r}); "
            "give one row per combination of the dimensions"
        )


def _leaf_deviation(real: np.ndarray, predict: np.ndarray) -> np.ndarray:
    scale = np.abs(real) + np.abs(predict)
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, 2.0 * (real - predict) / safe, 0.0)


def _leaf_weight(real: np.ndarray, predict: np.ndarray) -> np.ndarray:
    volume = 0.5 * (np.abs(real) + np.abs(predict))
    positive = volume[volume > 0]
    if positive.size == 0:
        return np.zeros_like(volume)
    reference = float(np.quantile(positive, VOLUME_QUANTILE))
    weight: np.ndarray = volume / (volume + reference)
    return weight


def _noise_scale(codes: np.ndarray, deviation: np.ndarray, weight: np.ndarray) -> float:
    """Median over dimensions of the neighbourhood MAD of the leaf deviations."""
    # Leaves at or above the reference volume carry (nearly) the full-precision
    # noise; the tiny ones would blur the estimate.
    informative = weight >= 0.5
    n_dims = codes.shape[1]
    estimates = []
    for varied in range(n_dims):
        others = [d for d in range(n_dims) if d != varied]
        if others:
            keys = pd.MultiIndex.from_arrays([codes[informative, d] for d in others])
            cell = pd.factorize(keys)[0]
        else:
            cell = np.zeros(int(informative.sum()), dtype=np.intp)
        values = pd.Series(deviation[informative])
        # The cell mean (not median) keeps the small-sample correction exact;
        # the few cells that straddle a root cause are outvoted by the MAD.
        centre = values.groupby(cell).transform("mean").to_numpy()
        sizes = np.bincount(cell)[cell]
        usable = sizes >= 2
        if not usable.any():
            continue
        residual = (values.to_numpy() - centre)[usable]
        correction = np.sqrt(np.mean(sizes[usable] / (sizes[usable] - 1.0)))
        estimates.append(1.4826 * float(np.median(np.abs(residual))) * correction)
    if not estimates:
        if not informative.any():
            return NOISE_FLOOR
        spread = 1.4826 * float(np.median(np.abs(deviation[informative])))
        return max(spread, NOISE_FLOOR)
    # The dimension least mixed up with root causes gives the cleanest estimate.
    return float(max(min(estimates), NOISE_FLOOR))


@dataclass(frozen=True)
class _Scores:
    dims: tuple[int, ...]
    index: np.ndarray
    weight: np.ndarray
    gain: np.ndarray
    zscore: np.ndarray
    pure: np.ndarray


def _group_sums(
    lattice: _Lattice, active: np.ndarray, weighted_dev: np.ndarray
) -> dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]:
    sums = {}
    for dims, cuboid in lattice.cuboids.items():
        total_weight = np.bincount(cuboid.group, active, minlength=cuboid.n_groups)
        total_dev = np.bincount(cuboid.group, weighted_dev, minlength=cuboid.n_groups)
        sums[dims] = (total_weight, total_dev)
    return sums


def _gain(total_weight: np.ndarray, total_dev: np.ndarray) -> np.ndarray:
    safe = np.where(total_weight > 0, total_weight, 1.0)
    return np.where(total_weight > 0, total_dev**2 / safe, 0.0)


def _score_cuboid(
    dims: tuple[int, ...],
    lattice: _Lattice,
    sums: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]],
    sigma: float,
    threshold: float,
) -> _Scores:
    total_weight, total_dev = sums[dims]
    gain = _gain(total_weight, total_dev)
    safe = np.where(total_weight > 0, total_weight, 1.0)
    mean_dev = np.clip(total_dev / safe, -2.0, 2.0)
    # The noise of s shrinks as the segment's change grows (see the module notes).
    variance = (sigma * np.maximum(1.0 - mean_dev**2 / 4.0, 0.05)) ** 2
    zscore = gain / variance
    pure = zscore >= threshold
    for child_dims, parent_of_child in lattice.children[dims]:
        child_weight, child_dev = sums[child_dims]
        between = np.bincount(
            parent_of_child, _gain(child_weight, child_dev), minlength=len(gain)
        )
        between = np.maximum(between - gain, 0.0)
        n_children = np.bincount(
            parent_of_child, (child_weight > 0).astype(float), minlength=len(gain)
        )
        dof = np.maximum(n_children - 1.0, 1.0)
        # Generous on purpose: a parent mixing moved and unmoved leaves exceeds
        # the noise by orders of magnitude, while a misjudged noise scale must not
        # break a true segment into its children.
        limit = PURITY_SLACK * stats.chi2.isf(PURITY_LEVEL, dof)
        pure &= between / variance <= limit
    index = np.flatnonzero(total_weight > 0)
    return _Scores(
        dims=dims,
        index=index,
        weight=total_weight[index],
        gain=gain[index],
        zscore=zscore[index],
        pure=pure[index],
    )


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


def localize_root_causes(
    leaves: pd.DataFrame,
    dimensions: Sequence[str] | None = None,
    *,
    real: str = "real",
    predict: str = "predict",
    max_depth: int = 3,
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
    if isinstance(max_depth, bool) or not isinstance(max_depth, int | np.integer):
        raise ParameterError(f"max_depth must be a whole number, got {max_depth!r}")
    if not 1 <= max_depth <= len(dimensions):
        raise ParameterError(
            f"max_depth must be in 1..{len(dimensions)} (the number of dimensions), "
            f"got {max_depth!r}"
        )

    labels = []
    codes = np.empty((len(leaves), len(dimensions)), dtype=np.intp)
    for position, name in enumerate(dimensions):
        codes[:, position], uniques = pd.factorize(leaves[name], sort=True)
        labels.append(np.asarray(uniques, dtype=object))
    sizes = np.array([len(u) for u in labels], dtype=np.intp)
    real_values = leaves[real].to_numpy(dtype=np.float64)
    predict_values = leaves[predict].to_numpy(dtype=np.float64)
    return _search(
        codes, sizes, labels, dimensions, real_values, predict_values, max_depth
    )


def _search(
    codes: np.ndarray,
    sizes: np.ndarray,
    labels: list[np.ndarray],
    dimensions: list[str],
    real: np.ndarray,
    predict: np.ndarray,
    max_depth: int,
) -> Localization:
    deviation = _leaf_deviation(real, predict)
    weight = _leaf_weight(real, predict)
    sigma = _noise_scale(codes, deviation, weight)
    lattice = _Lattice(codes, sizes, max_depth)
    n_candidates = sum(lattice.cuboids[d].n_groups for d in lattice.candidates)
    # Twice the Bonferroni quantile: the noise scale is itself an estimate and
    # real noise has heavier tails than the Gaussian the quantile assumes.
    bonferroni = stats.chi2.isf(SIGNIFICANCE / max(n_candidates, 1), 1)
    threshold = SIGNIFICANCE_SLACK * float(bonferroni)

    active = weight.copy()
    chosen: list[tuple[tuple[int, ...], int, float]] = []
    first_scores: list[_Scores] | None = None
    while len(chosen) < MAX_ROOT_CAUSES:
        sums = _group_sums(lattice, active, active * deviation)
        scores = [
            _score_cuboid(dims, lattice, sums, sigma, threshold)
            for dims in lattice.candidates
        ]
        if first_scores is None:
            first_scores = scores
        best = _best_candidate(scores)
        if best is None:
            break
        score, position = best
        group = int(score.index[position])
        chosen.append((score.dims, group, float(score.zscore[position])))
        active = np.where(lattice.cuboids[score.dims].group == group, 0.0, active)

    return _assemble(
        chosen, first_scores or [], lattice, labels, dimensions, real, predict, sigma
    )


def _assemble(
    chosen: list[tuple[tuple[int, ...], int, float]],
    first_scores: list[_Scores],
    lattice: _Lattice,
    labels: list[np.ndarray],
    dimensions: list[str],
    real: np.ndarray,
    predict: np.ndarray,
    sigma: float,
) -> Localization:
    rows = []
    picked = {(dims, group) for dims, group, _ in chosen}
    for dims, group, zscore in chosen:
        rows.append((dims, group, zscore, True))
    others = []
    for score in first_scores:
        for position, group in enumerate(score.index):
            if (score.dims, int(group)) not in picked:
                others.append((score.dims, int(group), float(score.zscore[position])))
    others.sort(key=lambda row: (-row[2], len(row[0])))
    rows.extend((dims, group, z, False) for dims, group, z in others[:20])

    records = []
    for dims, group, zscore, is_root in rows:
        cuboid = lattice.cuboids[dims]
        members = [
            labels[d][m] for d, m in zip(dims, cuboid.members[group], strict=True)
        ]
        mask = cuboid.group == group
        seg_real, seg_predict = float(real[mask].sum()), float(predict[mask].sum())
        records.append(
            {
                "segment": segment_string(dimensions, dims, members),
                "key": tuple(
                    (dimensions[d], m) for d, m in zip(dims, members, strict=True)
                ),
                "depth": len(dims),
                "real": seg_real,
                "predict": seg_predict,
                "deviation": float(
                    _leaf_deviation(np.array([seg_real]), np.array([seg_predict]))[0]
                ),
                "score": zscore,
                "is_root_cause": is_root,
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
        root_causes=root_causes, candidates=candidates, noise_scale=sigma
    )
